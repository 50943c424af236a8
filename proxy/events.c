// SPDX-License-Identifier: MIT
#include <string.h>

#include "events.h"

const char *events_dir_name(enum pkt_dir d)
{
	switch (d) {
	case PKT_DIR_IN:
		return "in";
	case PKT_DIR_OUT:
		return "out";
	default:
		return "fwd";
	}
}

size_t events_json_escape(char *buf, size_t size, const char *s)
{
	size_t n = 0;

	for (; *s; s++) {
		char tmp[8];
		unsigned char c = (unsigned char)*s;
		size_t k;

		if (c == '"' || c == '\\') {
			tmp[0] = '\\';
			tmp[1] = (char)c;
			k = 2;
		} else if (c < 0x20) {
			k = (size_t)snprintf(tmp, sizeof(tmp), "\\u%04x", c);
		} else {
			tmp[0] = (char)c;
			k = 1;
		}
		for (size_t i = 0; i < k; i++, n++)
			if (n + 1 < size)
				buf[n] = tmp[i];
	}
	if (size)
		buf[n < size ? n : size - 1] = 0;
	return n;
}

static double rel(const struct events *e, uint64_t now_ns)
{
	return now_ns > e->start_ns ? (double)(now_ns - e->start_ns) / 1e9 : 0.0;
}

void events_verdict(struct events *e, uint64_t now_ns, const struct pkt_view *v, enum pkt_dir dir,
		    const struct flow_id *id, const struct act_decision *d)
{
	char flow[160];

	if (!e->out)
		return;
	pkt_format_flow(v, flow, sizeof(flow));
	fprintf(e->out, "{\"t\":%.6f,\"ev\":\"verdict\",\"flow\":\"%s\",\"flow_hash\":\"%016llx\","
			"\"way\":%u,\"dir\":\"%s\",\"ord\":%llu,\"len\":%u,\"verdict\":\"%s\"",
		rel(e, now_ns), flow, (unsigned long long)id->hash, id->way, events_dir_name(dir),
		(unsigned long long)id->ordinal, pkt_wire_len(v),
		d->drop ? "drop" : d->reorder || d->delay_ns ? "hold" : "accept");
	if (d->delay_ns)
		fprintf(e->out, ",\"delay_us\":%.1f", (double)d->delay_ns / 1e3);
	if (d->copies)
		fprintf(e->out, ",\"copies\":%u", d->copies);
	if (d->corrupt)
		fprintf(e->out, ",\"corrupt\":true");
	if (d->reorder)
		fprintf(e->out, ",\"reorder_rule\":%u", d->reorder_rule);
	fprintf(e->out, ",\"actions\":[");
	for (unsigned i = 0; i < d->n_fired; i++)
		fprintf(e->out, "%s{\"rule\":%u,\"action\":\"%s\"}", i ? "," : "", d->fired[i].rule,
			rule_action_name((enum rule_action_type)d->fired[i].action));
	fprintf(e->out, "]}\n");
}

void events_malformed(struct events *e, uint64_t now_ns, uint32_t len)
{
	if (e->out)
		fprintf(e->out, "{\"t\":%.6f,\"ev\":\"malformed\",\"len\":%u,\"verdict\":\"accept\"}\n",
			rel(e, now_ns), len);
}

void events_write_raw(struct events *e, const char *json)
{
	if (e->out) {
		fputs(json, e->out);
		fputc('\n', e->out);
	}
}
