// SPDX-License-Identifier: MIT
/*
 * evlog conv: evlog_finish. Releases go to their packets; packets and
 * tracker lines are grouped into conversations, what one ladder diagram
 * draws: a TCP connection (by the tracker's number) or any other flow (by
 * its hash, both directions together). Conversations are ordered and
 * named, and layout.c lays each one out.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Packet indices by (capture number, line); pkts is the array they index. */
static int cmp_pkt_num(const void *a, const void *b, void *pkts)
{
	const struct evlog_pkt *x = (struct evlog_pkt *)pkts + *(const size_t *)a;
	const struct evlog_pkt *y = (struct evlog_pkt *)pkts + *(const size_t *)b;

	if (x->pkt != y->pkt)
		return x->pkt < y->pkt ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

/*
 * Each release goes to the latest packet line with its number before it:
 * capture numbers restart if two runs were appended into one file.
 */
static void resolve_releases(struct evlog *log, const size_t *by_num)
{
	for (size_t r = 0; r < log->n_rels; r++) {
		const struct evlog__rel *rl = &log->rels[r];
		size_t lo = 0, hi = log->n_pkts;
		struct evlog_pkt *p = NULL;

		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (log->pkts[by_num[mid]].pkt < rl->pkt)
				lo = mid + 1;
			else
				hi = mid;
		}
		/* A RST faultline made shares its cause's number, not its release. */
		for (; lo < log->n_pkts && log->pkts[by_num[lo]].pkt == rl->pkt; lo++)
			if (log->pkts[by_num[lo]].line < rl->line && !log->pkts[by_num[lo]].injected)
				p = &log->pkts[by_num[lo]];
		if (!p || p->verdict != EVLOG_HOLD || p->released)
			continue;
		p->released = true;
		p->rel_t = rl->t;
		p->rel_line = rl->line;
		p->rel = rl->rel;
		p->early = rl->early;
	}
}

static int conv_key(struct evlog *log, bool tcp, uint64_t tcp_flow, const struct evlog_pkt *p,
		    const char **key)
{
	char buf[64];

	if (tcp) {
		snprintf(buf, sizeof(buf), "tcp:%llu", (unsigned long long)tcp_flow);
		*key = evlog__intern(log, buf);
	} else {
		/* The hash joins both directions; the flow text is the fallback. */
		const char *k = *p->flow_hash ? p->flow_hash : p->flow;
		char *b = malloc(strlen(k) + 3);

		if (!b)
			return -ENOMEM;
		sprintf(b, "f:%s", k);
		*key = evlog__intern(log, b);
		free(b);
	}
	return *key ? 0 : -ENOMEM;
}

/* Conversation indices: TCP connections by id, then the others by first line. */
static int cmp_conv(const void *a, const void *b, void *convs)
{
	const struct evlog_conv *x = (struct evlog_conv *)convs + *(const size_t *)a;
	const struct evlog_conv *y = (struct evlog_conv *)convs + *(const size_t *)b;

	if (x->tcp != y->tcp)
		return x->tcp ? -1 : 1;
	if (x->tcp && x->id != y->id)
		return x->id < y->id ? -1 : 1;
	/* id holds the first line until the other conversations are numbered. */
	return x->id < y->id ? -1 : x->id > y->id;
}

/* The conversations as first met, before they are ordered. */
struct grouping {
	struct evlog__smap map;	/* conv_key -> index in convs */
	struct evlog_conv *convs;
	size_t n, cap;
	size_t *pkt_conv;	/* each packet's conversation */
	size_t *trk_conv;	/* each tracker line's conversation */
	unsigned max_tcp;	/* the largest TCP id: the others are numbered after it */
};

/* The conversation of key, made (empty) when it is the first of its kind. */
static int find_or_add(struct grouping *g, const char *key, bool tcp, size_t *idx)
{
	size_t slot;

	if (g->map.n * 2 >= g->map.cap && evlog__smap_grow(&g->map))
		return -ENOMEM;
	slot = evlog__smap_slot(&g->map, key, strlen(key));
	if (g->map.keys[slot]) {
		*idx = g->map.vals[slot];
		return 0;
	}
	if (evlog__grow((void **)&g->convs, &g->cap, g->n, sizeof(*g->convs)))
		return -ENOMEM;
	*idx = g->n++;
	memset(&g->convs[*idx], 0, sizeof(g->convs[*idx]));
	g->convs[*idx].tcp = tcp;
	g->convs[*idx].end = -1;
	g->convs[*idx].id = UINT32_MAX;
	g->map.keys[slot] = key;
	g->map.vals[slot] = *idx;
	g->map.n++;
	return 0;
}

/* Record k (a packet below n_pkts, else a tracker line) into its conversation. */
static int assign(struct evlog *log, struct grouping *g, size_t k)
{
	bool is_pkt = k < log->n_pkts;
	const struct evlog_pkt *p = is_pkt ? &log->pkts[k] : NULL;
	const struct evlog_trk *t = is_pkt ? NULL : &log->trks[k - log->n_pkts];
	bool tcp = p ? p->tcp : true;
	struct evlog_conv *conv;
	const char *key;
	size_t idx;

	if (conv_key(log, tcp, p ? p->tcp_flow : t->flow, p, &key) ||
	    find_or_add(g, key, tcp, &idx))
		return -ENOMEM;
	conv = &g->convs[idx];
	if (tcp) {
		uint64_t id = p ? p->tcp_flow : t->flow;

		conv->id = id > UINT32_MAX - 1 ? UINT32_MAX - 1 : (unsigned)id;
		if (conv->id > g->max_tcp)
			g->max_tcp = conv->id;
	} else if (p->line < conv->id) {
		conv->id = p->line;
	}
	if (p) {
		g->pkt_conv[k] = idx;
		conv->n_pkts++;
	} else {
		g->trk_conv[k - log->n_pkts] = idx;
		conv->n_trks++;
	}
	return 0;
}

/*
 * Order g's conversations into log->convs, number the non-TCP ones, and
 * list each one's packets and tracker lines.
 */
static int order_convs(struct evlog *log, struct grouping *g)
{
	size_t n = g->n, *order = calloc(n + 1, sizeof(*order)), *remap = calloc(n + 1, sizeof(*remap));
	struct evlog_conv *sorted = calloc(n + 1, sizeof(*sorted));
	int ret = -ENOMEM;

	if (!order || !remap || !sorted)
		goto out;
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	qsort_r(order, n, sizeof(*order), cmp_conv, g->convs);
	for (size_t i = 0; i < n; i++) {
		sorted[i] = g->convs[order[i]];
		remap[order[i]] = i;
		if (!sorted[i].tcp)
			sorted[i].id = ++g->max_tcp;
		sorted[i].pkts = calloc(sorted[i].n_pkts + 1, sizeof(size_t));
		sorted[i].trks = calloc(sorted[i].n_trks + 1, sizeof(size_t));
		sorted[i].n_pkts = sorted[i].n_trks = 0;
	}
	log->convs = sorted;
	log->n_convs = n;
	sorted = NULL; /* the log's now: evlog_free frees what follows */
	for (size_t i = 0; i < n; i++)
		if (!log->convs[i].pkts || !log->convs[i].trks)
			goto out;
	for (size_t k = 0; k < log->n_pkts; k++) {
		struct evlog_conv *conv = &log->convs[remap[g->pkt_conv[k]]];

		log->pkts[k].conv_idx = remap[g->pkt_conv[k]];
		log->pkts[k].conv_pos = conv->n_pkts;
		conv->pkts[conv->n_pkts++] = k;
	}
	for (size_t k = 0; k < log->n_trks; k++) {
		struct evlog_conv *conv = &log->convs[remap[g->trk_conv[k]]];

		conv->trks[conv->n_trks++] = k;
	}
	ret = 0;
out:
	free(sorted);
	free(order);
	free(remap);
	return ret;
}

/*
 * Group packets and tracker lines into conversations, then order them: TCP
 * connections by tracker id, the others by first appearance, numbered
 * after the largest TCP id so that one number names one conversation.
 */
static int group_convs(struct evlog *log)
{
	struct grouping g = { 0 };
	int ret = -ENOMEM;

	g.pkt_conv = calloc(log->n_pkts + 1, sizeof(*g.pkt_conv));
	g.trk_conv = calloc(log->n_trks + 1, sizeof(*g.trk_conv));
	if (!g.pkt_conv || !g.trk_conv)
		goto out;
	for (size_t k = 0; k < log->n_pkts + log->n_trks; k++)
		if (assign(log, &g, k))
			goto out;
	ret = order_convs(log, &g);
out:
	free(g.convs);
	free(g.pkt_conv);
	free(g.trk_conv);
	evlog__smap_free(&g.map);
	return ret;
}

/* "udp 10.0.0.1:40000 > 10.0.0.2:5000" or "A > B": the two ends, interned. */
static int split_ends(struct evlog *log, const char *s, bool has_proto, const char **a,
		      const char **b)
{
	const char *gt;

	if (has_proto && strchr(s, ' '))
		s = strchr(s, ' ') + 1;
	gt = strstr(s, " > ");
	if (!gt) {
		*a = evlog__intern(log, s);
		*b = evlog__intern(log, "?");
	} else {
		*a = evlog__intern_n(log, s, (size_t)(gt - s));
		*b = evlog__intern(log, gt + 3);
	}
	return *a && *b ? 0 : -ENOMEM;
}

static int set_names(struct evlog *log, struct evlog_conv *conv)
{
	const struct evlog_pkt *p0 = conv->n_pkts ? &log->pkts[conv->pkts[0]] : NULL;
	const char *conn = NULL;
	char *t;
	int ret;

	for (size_t i = 0; i < conv->n_trks && !conn; i++)
		if (*log->trks[conv->trks[i]].conn)
			conn = log->trks[conv->trks[i]].conn;
	conv->proto = evlog__intern(log, p0 ? p0->proto : "tcp");
	if (!conv->proto)
		return -ENOMEM;
	if (conn) {
		ret = split_ends(log, conn, false, &conv->name[0], &conv->name[1]);
	} else if (p0) {
		const char **n = &conv->name[conv->tcp && p0->endpoint ? 1 : 0];
		const char **m = &conv->name[conv->tcp && p0->endpoint ? 0 : 1];

		ret = split_ends(log, p0->flow, true, n, m);
	} else {
		conv->name[0] = conv->name[1] = evlog__intern(log, "?");
		ret = conv->name[0] ? 0 : -ENOMEM;
	}
	if (ret)
		return ret;
	conv->first_way = p0 ? p0->way : 0;
	t = malloc(strlen(conv->name[0]) + strlen(conv->name[1]) + 4);
	if (!t)
		return -ENOMEM;
	sprintf(t, "%s > %s", conv->name[0], conv->name[1]);
	conv->title = evlog__intern(log, t);
	free(t);
	return conv->title ? 0 : -ENOMEM;
}

int evlog_finish(struct evlog *log)
{
	size_t *by_num;
	int ret;

	if (log->finished)
		return 0;
	by_num = calloc(log->n_pkts + 1, sizeof(*by_num));
	if (!by_num)
		return -ENOMEM;
	for (size_t i = 0; i < log->n_pkts; i++)
		by_num[i] = i;
	qsort_r(by_num, log->n_pkts, sizeof(*by_num), cmp_pkt_num, log->pkts);
	resolve_releases(log, by_num);
	free(by_num);
	ret = group_convs(log);
	for (size_t i = 0; !ret && i < log->n_convs; i++) {
		ret = set_names(log, &log->convs[i]);
		if (!ret)
			ret = evlog__index_conv(log, &log->convs[i]);
	}
	if (!ret)
		log->finished = true;
	return ret;
}
