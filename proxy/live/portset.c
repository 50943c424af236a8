// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "portset.h"

static const char set_type[] = "bitmap:port range 0-65535";

bool portset_needed(const struct kfilter *k)
{
	for (unsigned h = 0; k && h < KFILTER_NHOOKS; h++)
		for (unsigned i = 0; i < kfilter_nsets(k, h); i++)
			if (!kfilter_set(k, h, i)->whole)
				return true;
	return false;
}

void portset_name(uint16_t queue, uint32_t gen, enum pkt_dir h, const struct kfilter_portset *s,
		  char name[static PORTSET_NAME_LEN])
{
	/* At most 10 + 5 + 1 + 9 + 1 + 3 + 2 = 31 characters. */
	snprintf(name, PORTSET_NAME_LEN, IPT_CHAIN_PREFIX "%u-%u-%s%c%c", queue, gen % PORTSET_MAX_GEN,
		 kfilter_hook_name(h), s->proto == 6 ? 't' : 'u', s->side == KFILTER_SRC ? 's' : 'd');
}

int portset_create_script(const struct kfilter *k, uint16_t queue, uint32_t gen, struct strbuf *script)
{
	char name[PORTSET_NAME_LEN];
	int n = 0;

	for (unsigned h = 0; h < KFILTER_NHOOKS; h++)
		for (unsigned i = 0; i < kfilter_nsets(k, h); i++) {
			const struct kfilter_portset *s = kfilter_set(k, h, i);

			if (s->whole)
				continue;
			portset_name(queue, gen, h, s, name);
			strbuf_printf(script, "create %s %s\n", name, set_type);
			for (unsigned r = 0; r < s->n; r++) {
				if (s->r[r].lo == s->r[r].hi)
					strbuf_printf(script, "add %s %u\n", name, s->r[r].lo);
				else
					strbuf_printf(script, "add %s %u-%u\n", name, s->r[r].lo, s->r[r].hi);
			}
			n++;
		}
	return script->oom ? -ENOMEM : n;
}

/* A decimal number of at most 'max' digits at *p, up to the next '-'. */
static bool number(const char **p, const char *end, unsigned max, unsigned long *v)
{
	const char *s = *p;

	*v = 0;
	while (s < end && *s >= '0' && *s <= '9' && (unsigned)(s - *p) < max)
		*v = *v * 10 + (unsigned long)(*s++ - '0');
	if (s == *p || s == end || *s != '-')
		return false;
	*p = s + 1;
	return true;
}

bool portset_parse_name(const char *name, size_t len, uint16_t *queue, uint32_t *gen)
{
	size_t pl = strlen(IPT_CHAIN_PREFIX);
	const char *p = name + pl, *end = name + len;
	unsigned long q, g;

	if (len <= pl || memcmp(name, IPT_CHAIN_PREFIX, pl))
		return false;
	if (!number(&p, end, 5, &q) || q > UINT16_MAX || !number(&p, end, 9, &g) || p == end)
		return false;
	*queue = (uint16_t)q;
	*gen = (uint32_t)g;
	return true;
}

/* Run 'ipset [-exist] restore' over script. */
static int ipset_restore(const char *script, bool exist, struct ipt_error *e)
{
	const char *plain[] = { "ipset", "restore", NULL }, *lenient[] = { "ipset", "-exist", "restore", NULL };

	return ipt_tool(exist ? lenient : plain, script, NULL, e);
}

/*
 * Which sets to destroy: with 'mine', queue's (of generation gen only, or
 * all but gen); with 'stale', those of every other queue nobody holds.
 */
struct pick {
	bool mine, only, stale;
	uint16_t queue;
	uint32_t gen;
};

static bool picked(const struct pick *w, uint16_t q, uint32_t g)
{
	if (w->mine && q == w->queue)
		return w->only ? g == w->gen : g != w->gen;
	return w->stale && ipt_queue_owner(q, NULL) != 1;
}

static int destroy(const struct pick *w, struct ipt_error *e)
{
	const char *argv[] = { "ipset", "list", "-n", NULL };
	struct strbuf out = { 0 }, script = { 0 };
	const char *p, *nl;
	int ret, n = 0;

	ret = ipt_tool(argv, NULL, &out, e);
	/* No ipset: no set was ever made. */
	if (ret == -ENOENT) {
		ret = 0;
		goto out;
	}
	strbuf_add(&out, "", 0);
	if (!ret && out.oom)
		ret = -ENOMEM;
	if (ret)
		goto out;
	for (p = out.p; *p; p = nl + (*nl == '\n')) {
		uint16_t q;
		uint32_t g;

		nl = p + strcspn(p, "\n");
		if (portset_parse_name(p, (size_t)(nl - p), &q, &g) && picked(w, q, g)) {
			strbuf_printf(&script, "destroy %.*s\n", (int)(nl - p), p);
			n++;
		}
	}
	if (script.oom)
		ret = -ENOMEM;
	/* -exist: one that went meanwhile is not an error. */
	else if (n)
		ret = ipset_restore(script.p, true, e);
out:
	strbuf_free(&out);
	strbuf_free(&script);
	return ret ? ret : n;
}

int portset_destroy(uint16_t queue, uint32_t keep, struct ipt_error *e)
{
	struct pick w = { .mine = true, .queue = queue,
			  .gen = keep == PORTSET_NONE_KEPT ? keep : keep % PORTSET_MAX_GEN };

	return destroy(&w, e);
}

int portset_sweep(uint16_t queue, struct ipt_error *e)
{
	struct pick w = { .mine = true, .stale = true, .queue = queue, .gen = PORTSET_NONE_KEPT };

	return destroy(&w, e);
}

int portset_cleanup(struct ipt_error *e)
{
	struct pick w = { .stale = true };

	return destroy(&w, e);
}

int portset_create(const struct kfilter *k, uint16_t queue, uint32_t gen, struct ipt_error *e)
{
	struct strbuf s = { 0 };
	int ret = portset_create_script(k, queue, gen, &s);

	if (ret > 0) {
		ret = ipset_restore(s.p, false, e);
		/* restore stops at its first error: what it made before goes. */
		if (ret) {
			struct ipt_error ignore;
			struct pick w = { .mine = true, .only = true, .queue = queue, .gen = gen % PORTSET_MAX_GEN };

			destroy(&w, &ignore);
		}
	}
	strbuf_free(&s);
	return ret < 0 ? ret : 0;
}
