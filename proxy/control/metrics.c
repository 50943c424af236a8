// SPDX-License-Identifier: MIT
/*
 * metrics: the statistics JSON as Prometheus text. Every family is written
 * whole (# HELP, # TYPE, then all its samples) because the format forbids
 * a family's samples to be interleaved with another's.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "metrics.h"
#include "strbuf.h"

struct family {
	const char *key;	/* in the stats object */
	const char *name;	/* without the faultline_ prefix */
	const char *type;	/* "counter" or "gauge" */
	const char *help;
};

/* The run's totals, at the stats' top level. */
static const struct family totals[] = {
	{ "packets", "packets_total", "counter", "Packets faultline decided on." },
	{ "accepted", "accepted_total", "counter", "Packets let through unchanged at once." },
	{ "dropped", "dropped_total", "counter", "Packets dropped by a rule." },
	{ "held", "held_total", "counter", "Packets held for a delay, a reorder group or a rate queue." },
	{ "released", "released_total", "counter", "Held packets released." },
	{ "released_early", "released_early_total", "counter",
	  "Held packets let go before their time (a bound on held packets, or the run's end)." },
	{ "corrupted", "corrupted_total", "counter", "Packets sent on with one payload bit flipped." },
	{ "duplicates_sent", "duplicates_sent_total", "counter", "Extra copies sent." },
	{ "malformed", "malformed_total", "counter", "Packets that did not parse (let through unchanged)." },
	{ "gso", "gso_total", "counter", "GSO super-packets seen." },
	{ "flow_evictions", "flow_evictions_total", "counter", "Flows forgotten to make room in the flow table." },
	{ "verdict_errors", "verdict_errors_total", "counter", "Verdicts that did not take effect." },
	{ "events_written", "events_written_total", "counter", "Event log lines written." },
	{ "events_dropped", "events_dropped_total", "counter", "Event log lines lost." },
	{ "write_errors", "write_errors_total", "counter", "Outputs (event log, capture file) whose writes failed." },
	{ "netns_follows", "netns_follows_total", "counter",
	  "Restarts of the container (--container) followed into its new network namespace." },
	{ "held_now", "held_packets", "gauge", "Packets held now." },
	{ "held_bytes_now", "held_bytes", "gauge", "Bytes on the wire of the packets held now." },
	{ "flows", "flows", "gauge", "Non-TCP flows remembered now." },
};

/* The TCP tracker's, in the stats' "tcp" object. */
static const struct family tracker[] = {
	{ "connections", "tcp_connections_total", "counter", "TCP connections the tracker followed." },
	{ "active", "tcp_connections_active", "gauge", "TCP connections the tracker follows now." },
	{ "segments", "tcp_segments_total", "counter", "TCP segments the tracker saw." },
	{ "evicted", "tcp_evicted_total", "counter", "Connections forgotten to make room in the tracker's table." },
	{ "expired_time_wait", "tcp_expired_time_wait_total", "counter", "Connections that left TIME_WAIT." },
	{ "expired_idle", "tcp_expired_idle_total", "counter", "Connections forgotten after an idle spell." },
	{ "records_in_use", "tcp_records_in_use", "gauge", "Drop and hold records kept now." },
	{ "records_lost_pool", "tcp_records_lost_pool_total", "counter", "Records not kept: the pool was full." },
	{ "records_lost_cap", "tcp_records_lost_cap_total", "counter",
	  "Records not kept: the connection's cap was reached." },
};

/* Help texts of the per-rule counters; any other counter a rule object carries gets a generic one. */
static const struct family rule_counters[] = {
	{ "matched", NULL, NULL, "Packets for which the rule fired (filter and qualifiers held)." },
	{ "dropped", NULL, NULL, "Packets the rule dropped." },
	{ "delayed", NULL, NULL, "Packets the rule delayed." },
	{ "reordered", NULL, NULL, "Packets the rule put in a reorder group." },
	{ "duplicated", NULL, NULL, "Packets the rule duplicated." },
	{ "corrupted", NULL, NULL, "Packets the rule corrupted." },
	{ "rate_queued", NULL, NULL, "Packets the rule's rate queue took." },
	{ "rate_dropped", NULL, NULL, "Packets the rule's full rate queue dropped." },
	{ "released_early", NULL, NULL, "Packets the rule held that were let go before their time." },
};

/* Keys of a rule object that are not counters. */
static bool rule_key_is_counter(const char *key, const json_t *v)
{
	return json_is_integer(v) && strcmp(key, "index") && strcmp(key, "line");
}

static void family_head(struct strbuf *b, const char *name, const char *type, const char *help)
{
	strbuf_printf(b, "# HELP faultline_%s %s\n# TYPE faultline_%s %s\n", name, help, name, type);
}

static void write_families(struct strbuf *b, const json_t *obj, const struct family *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const json_t *v = json_object_get(obj, f[i].key);

		if (!json_is_integer(v))
			continue;
		family_head(b, f[i].name, f[i].type, f[i].help);
		strbuf_printf(b, "faultline_%s %lld\n", f[i].name, (long long)json_integer_value(v));
	}
}

/* A label value: backslash, double quote and line feed escaped, as the format requires. */
static void add_label_value(struct strbuf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			strbuf_add(b, "\\\\", 2);
		else if (*s == '"')
			strbuf_add(b, "\\\"", 2);
		else if (*s == '\n')
			strbuf_add(b, "\\n", 2);
		else
			strbuf_add(b, s, 1);
	}
}

static void rule_label(struct strbuf *b, const json_t *rule)
{
	const char *name = json_string_value(json_object_get(rule, "name"));

	strbuf_printf(b, "{rule=\"");
	if (name)
		add_label_value(b, name);
	else
		strbuf_printf(b, "rule-%lld", (long long)json_integer_value(json_object_get(rule, "index")));
	strbuf_printf(b, "\"}");
}

static const char *rule_help(const char *key)
{
	for (size_t i = 0; i < sizeof(rule_counters) / sizeof(rule_counters[0]); i++)
		if (!strcmp(rule_counters[i].key, key))
			return rule_counters[i].help;
	return NULL;
}

/* Whether an earlier rule object already had this counter (then its family is written). */
static bool seen_before(const json_t *rules, size_t upto, const char *key)
{
	for (size_t i = 0; i < upto; i++)
		if (rule_key_is_counter(key, json_object_get(json_array_get(rules, i), key)))
			return true;
	return false;
}

/* One family per counter key, in the order the rule objects first show them; a sample per rule. */
static void write_rules(struct strbuf *b, const json_t *rules)
{
	size_t n = json_array_size(rules);

	for (size_t i = 0; i < n; i++) {
		const json_t *rule = json_array_get(rules, i);
		const char *key;
		json_t *v;

		json_object_foreach((json_t *)rule, key, v) {
			const char *help = rule_help(key);
			char name[128];

			if (!rule_key_is_counter(key, v) || seen_before(rules, i, key))
				continue;
			/* A counter key is a word of the stats JSON: [a-z_]. Anything else is not a metric name. */
			if (strspn(key, "abcdefghijklmnopqrstuvwxyz_") != strlen(key) ||
			    snprintf(name, sizeof(name), "rule_%s_total", key) >= (int)sizeof(name))
				continue;
			strbuf_printf(b, "# HELP faultline_%s ", name);
			if (help)
				strbuf_printf(b, "%s\n", help);
			else
				strbuf_printf(b, "The rule's %s counter.\n", key);
			strbuf_printf(b, "# TYPE faultline_%s counter\n", name);
			for (size_t j = i; j < n; j++) {
				const json_t *r = json_array_get(rules, j);
				const json_t *c = json_object_get(r, key);

				if (!rule_key_is_counter(key, c))
					continue;
				strbuf_printf(b, "faultline_%s", name);
				rule_label(b, r);
				strbuf_printf(b, " %lld\n", (long long)json_integer_value(c));
			}
		}
	}
}

char *metrics_format(const json_t *stats)
{
	struct strbuf b = { 0 };
	const json_t *rules, *tcp;
	char *text;

	if (!json_is_object(stats)) {
		errno = EINVAL;
		return NULL;
	}
	write_families(&b, stats, totals, sizeof(totals) / sizeof(totals[0]));
	rules = json_object_get(stats, "rules");
	if (json_is_array(rules)) {
		family_head(&b, "rules", "gauge", "Rules in the set now.");
		strbuf_printf(&b, "faultline_rules %zu\n", json_array_size(rules));
		write_rules(&b, rules);
	}
	tcp = json_object_get(stats, "tcp");
	if (json_is_object(tcp))
		write_families(&b, tcp, tracker, sizeof(tracker) / sizeof(tracker[0]));
	text = strbuf_take(&b);
	if (!text)
		errno = ENOMEM;
	return text;
}
