// SPDX-License-Identifier: MIT
#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "progress.h"
#include "strbuf.h"

/* Lines at most this often: a terminal redrawn faster only flickers. */
#define METER_PERIOD_NS 250000000ll

static int64_t since_ns(const struct timespec *a, const struct timespec *b)
{
	return (int64_t)(b->tv_sec - a->tv_sec) * 1000000000ll + (b->tv_nsec - a->tv_nsec);
}

void progress_meter_init(struct progress_meter *m, FILE *f, const char *name)
{
	memset(m, 0, sizeof(*m));
	m->f = f;
	m->name = name;
	clock_gettime(CLOCK_MONOTONIC, &m->start);
	m->last = m->start;
}

void progress_replay(const struct replay_progress *p, void *data)
{
	struct progress_meter *m = data;
	struct timespec now;
	int64_t run;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!p->done && since_ns(&m->last, &now) < METER_PERIOD_NS)
		return;
	m->last = now;
	run = since_ns(&m->start, &now);
	/* Back to the start of the line, then the line, then erase what an older, longer one left. */
	fprintf(m->f, "\rfaultline: replay: %llu packets", (unsigned long long)p->read);
	if (p->size > 0 && p->offset >= 0)
		fprintf(m->f, ", %d%% of %s", (int)(p->offset * 100 / p->size), m->name);
	if (run > 0)
		fprintf(m->f, ", %.0f packets/s", (double)p->read * 1e9 / (double)run);
	fprintf(m->f, "\033[K%s", p->done ? "\n" : "");
	fflush(m->f);
	m->shown = !p->done;
}

/* "NAME N" or, for a rule without a name, "rule INDEX N". */
static void rule_drops(struct strbuf_fixed *o, json_t *r, size_t i)
{
	const char *name = json_string_value(json_object_get(r, "name"));
	json_int_t dropped = json_integer_value(json_object_get(r, "dropped"));

	strbuf_fixed_printf(o, "%s", i ? ", " : ", dropped: ");
	if (name && *name)
		strbuf_fixed_printf(o, "%s %lld", name, (long long)dropped);
	else
		strbuf_fixed_printf(o, "rule %zu %lld", i + 1, (long long)dropped);
}

int progress_run_line(const char *stats_json, char *buf, size_t len)
{
	struct strbuf_fixed o = { .buf = buf, .size = len };
	json_t *j = json_loads(stats_json, 0, NULL);
	json_t *packets = json_object_get(j, "packets");
	json_t *held = json_object_get(j, "held_now");
	json_t *rules = json_object_get(j, "rules");
	json_t *r;
	size_t i;
	int ret = -1;

	if (len)
		buf[0] = '\0';
	if (!json_is_integer(packets) || !json_is_integer(held) || !json_is_array(rules))
		goto out;
	strbuf_fixed_printf(&o, "%lld packets, %lld held now", (long long)json_integer_value(packets),
			    (long long)json_integer_value(held));
	json_array_foreach(rules, i, r)
		rule_drops(&o, r, i);
	ret = 0;
out:
	json_decref(j);
	return ret;
}
