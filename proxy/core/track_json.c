// SPDX-License-Identifier: MIT
/*
 * track_json: names and JSON for tracker events and summaries. Kept apart
 * from track.c because nothing here is on the per-packet path.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/socket.h>

#include "strbuf.h"
#include "track.h"

static const char *const class_names[TRACK_C__COUNT] = {
	"handshake",
	"new-data",
	"first-data",
	"pure-ack",
	"window-update",
	"keepalive",
	"retransmission",
	"fast-retransmission",
	"spurious-retransmission",
	"out-of-order",
	"dup-ack",
	"zero-window-probe",
	"zero-window",
	"syn",
	"syn-ack",
	"fin",
	"rst",
	"stale",
	"pickup",
	"reuse",
	"gap",
	"keepalive-ack",
	"zero-window-probe-ack",
};

const char *track_class_name(uint32_t bit)
{
	if (!bit || (bit & (bit - 1)))
		return "?";
	for (int i = 0; i < TRACK_C__COUNT; i++)
		if (bit == 1u << i)
			return class_names[i];
	return "?";
}

static const char *const ev_names[] = {
	[TRACK_EV_TRANSITION] = "transition",
	[TRACK_EV_CLASS] = "class",
	[TRACK_EV_CONN_NEW] = "flow-new",
	[TRACK_EV_CONN_END] = "flow-end",
};

static const char *const end_names[] = {
	[TRACK_END_TIME_WAIT] = "time-wait",
	[TRACK_END_CLOSED] = "closed",
	[TRACK_END_IDLE] = "idle",
	[TRACK_END_EVICTED] = "evicted",
	[TRACK_END_REUSED] = "reused",
};


static void put_endpoint(struct strbuf_fixed *o, const struct track_addrs *a, int i)
{
	char s[INET6_ADDRSTRLEN];

	if (a->family == 4) {
		inet_ntop(AF_INET, a->addr[i], s, sizeof(s));
		strbuf_fixed_printf(o, "%s:%u", s, a->port[i]);
	} else {
		inet_ntop(AF_INET6, a->addr[i], s, sizeof(s));
		strbuf_fixed_printf(o, "[%s]:%u", s, a->port[i]);
	}
}

static void put_conn(struct strbuf_fixed *o, const struct track_addrs *a)
{
	strbuf_fixed_printf(o, "\"conn\":\"");
	put_endpoint(o, a, 0);
	strbuf_fixed_printf(o, " > ");
	put_endpoint(o, a, 1);
	strbuf_fixed_printf(o, "\"");
}

/* tcpdump-like: "S", "SA", "FA", "PA", "R", "." for a bare ACK. */
static void put_flags(struct strbuf_fixed *o, uint8_t fl)
{
	static const struct {
		uint8_t bit;
		char c;
	} letters[] = {
		{ PKT_TCP_SYN, 'S' }, { PKT_TCP_FIN, 'F' }, { PKT_TCP_RST, 'R' },
		{ PKT_TCP_PSH, 'P' }, { PKT_TCP_URG, 'U' }, { PKT_TCP_ECE, 'E' },
		{ PKT_TCP_CWR, 'W' }, { PKT_TCP_ACK, 'A' },
	};
	char s[10];
	size_t n = 0;

	for (size_t i = 0; i < sizeof(letters) / sizeof(letters[0]); i++)
		if (fl & letters[i].bit)
			s[n++] = letters[i].c;
	if (n == 1 && s[0] == 'A')
		s[0] = '.';
	s[n] = '\0';
	strbuf_fixed_printf(o, "\"flags\":\"%s\"", s);
}

static void put_classes(struct strbuf_fixed *o, uint32_t classes)
{
	bool first = true;

	strbuf_fixed_printf(o, "\"class\":[");
	for (int i = 0; i < TRACK_C__COUNT; i++) {
		if (!(classes & (1u << i)))
			continue;
		strbuf_fixed_printf(o, "%s\"%s\"", first ? "" : ",", class_names[i]);
		first = false;
	}
	strbuf_fixed_printf(o, "]");
}

static void put_summary(struct strbuf_fixed *o, const struct track_summary *s)
{
	strbuf_fixed_printf(o, "{\"flow\":%llu,", (unsigned long long)s->conn);
	put_conn(o, &s->addrs);
	strbuf_fixed_printf(o, ",\"pickup\":%s,\"reuse\":%s", s->pickup ? "true" : "false",
	    s->reuse ? "true" : "false");
	strbuf_fixed_printf(o, ",\"state\":[\"%s\",\"%s\"]", tcpstate_name(s->state[0]),
	    tcpstate_name(s->state[1]));
	strbuf_fixed_printf(o, ",\"reached\":[");
	for (int e = 0; e < 2; e++) {
		bool first = true;

		strbuf_fixed_printf(o, "%s[", e ? "," : "");
		for (int st = 0; st < TCPSTATE__COUNT; st++) {
			if (!(s->reached[e] & TRACK_STATE_BIT(st)))
				continue;
			strbuf_fixed_printf(o, "%s\"%s\"", first ? "" : ",", tcpstate_name(st));
			first = false;
		}
		strbuf_fixed_printf(o, "]");
	}
	strbuf_fixed_printf(o, "],\"opts\":[");
	for (int e = 0; e < 2; e++)
		strbuf_fixed_printf(o, "%s{\"mss\":%u,\"wscale\":%d,\"sack\":%s,\"ts\":%s}", e ? "," : "",
		    s->opt[e].mss, s->opt[e].wscale, s->opt[e].sack_ok ? "true" : "false",
		    s->opt[e].ts ? "true" : "false");
	strbuf_fixed_printf(o, "]");
	strbuf_fixed_printf(o, ",\"segments\":%u,\"retransmissions\":%u,"
	       "\"retransmissions_faultline\":%u,\"out_of_order\":%u,"
	       "\"out_of_order_faultline\":%u,\"dup_acks\":%u,"
	       "\"dup_acks_faultline\":%u,\"records_lost\":%u}",
	    s->segments, s->retransmissions, s->retransmissions_faultline,
	    s->out_of_order, s->out_of_order_faultline, s->dup_acks,
	    s->dup_acks_faultline, s->records_lost);
}

int track_summary_json(const struct track_summary *s, char *buf, size_t size)
{
	struct strbuf_fixed o = { .buf = buf, .size = size };

	if (size)
		buf[0] = '\0';
	put_summary(&o, s);
	return (int)o.len;
}

int track_stats_json(const struct track_stats *st, char *buf, size_t size)
{
	struct strbuf_fixed o = { .buf = buf, .size = size };

	if (size)
		buf[0] = '\0';
	strbuf_fixed_printf(&o, "{\"connections\":%llu,\"active\":%llu,\"evicted\":%llu,"
	    "\"expired_time_wait\":%llu,\"expired_idle\":%llu,\"segments\":%llu,"
	    "\"records_in_use\":%llu,\"records_lost_pool\":%llu,\"records_lost_cap\":%llu}",
	    (unsigned long long)st->conns_created, (unsigned long long)st->conns_active,
	    (unsigned long long)st->evicted, (unsigned long long)st->expired_time_wait,
	    (unsigned long long)st->expired_idle, (unsigned long long)st->segments,
	    (unsigned long long)st->records_in_use, (unsigned long long)st->records_lost_pool,
	    (unsigned long long)st->records_lost_cap);
	return (int)o.len;
}

int track_event_json(const struct track_event *ev, char *buf, size_t size)
{
	struct strbuf_fixed o = { .buf = buf, .size = size };

	if (size)
		buf[0] = '\0';
	strbuf_fixed_printf(&o, "{\"t\":%.6f,\"ev\":\"%s\",\"flow\":%llu,", (double)ev->t_ns / 1e9,
	    (unsigned)ev->type < sizeof(ev_names) / sizeof(ev_names[0]) ?
		    ev_names[ev->type] : "?",
	    (unsigned long long)ev->conn);
	put_conn(&o, &ev->addrs);
	switch (ev->type) {
	case TRACK_EV_TRANSITION:
		strbuf_fixed_printf(&o, ",\"endpoint\":%u,\"old\":\"%s\",\"new\":\"%s\"", ev->endpoint,
		    tcpstate_name(ev->old_state), tcpstate_name(ev->new_state));
		if (ev->retracted)
			strbuf_fixed_printf(&o, ",\"retracted\":true");
		break;
	case TRACK_EV_CLASS:
		strbuf_fixed_printf(&o, ",\"endpoint\":%u,\"view\":\"%s\",", ev->endpoint,
		    ev->egress ? "egress" : "ingress");
		put_classes(&o, ev->classes);
		strbuf_fixed_printf(&o, ",\"caused_by\":%u", ev->caused_by);
		break;
	case TRACK_EV_CONN_NEW:
		strbuf_fixed_printf(&o, ",\"endpoint\":%u", ev->endpoint);
		break;
	case TRACK_EV_CONN_END:
		strbuf_fixed_printf(&o, ",\"reason\":\"%s\"",
		    (unsigned)ev->reason < sizeof(end_names) / sizeof(end_names[0]) ?
			    end_names[ev->reason] : "?");
		if (ev->summary) {
			strbuf_fixed_printf(&o, ",\"summary\":");
			put_summary(&o, ev->summary);
		}
		break;
	}
	if (ev->has_seg) {
		strbuf_fixed_printf(&o, ",\"seg\":%u,\"seq\":%u,\"ack\":%u,\"len\":%u,", ev->seg,
		    ev->seq, ev->ack, ev->len);
		put_flags(&o, ev->tcp_flags);
	}
	strbuf_fixed_printf(&o, "}");
	return (int)o.len;
}
