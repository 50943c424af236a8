// SPDX-License-Identifier: MIT
/*
 * evlog conv: evlog_finish. Releases go to their packets, packets and
 * tracker lines are grouped into flows (a TCP connection by the tracker's
 * number, any other flow by its hash), flows are ordered and named, and
 * layout.c lays each one out.
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
		for (; lo < log->n_pkts && log->pkts[by_num[lo]].pkt == rl->pkt; lo++)
			if (log->pkts[by_num[lo]].line < rl->line)
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

static int flow_key(struct evlog *log, bool tcp, uint64_t tcp_flow, const struct evlog_pkt *p,
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

/* Flow indices: TCP connections by id, then the others by first line. */
static int cmp_flow(const void *a, const void *b, void *flows)
{
	const struct evlog_flow *x = (struct evlog_flow *)flows + *(const size_t *)a;
	const struct evlog_flow *y = (struct evlog_flow *)flows + *(const size_t *)b;

	if (x->tcp != y->tcp)
		return x->tcp ? -1 : 1;
	if (x->tcp && x->id != y->id)
		return x->id < y->id ? -1 : 1;
	/* id holds the first line until non-TCP flows are numbered. */
	return x->id < y->id ? -1 : x->id > y->id;
}

/*
 * Group packets and tracker lines into flows, then order flows: TCP
 * connections by tracker id, the others by first appearance, numbered
 * after the largest TCP id so that one number names one flow.
 */
static int group_flows(struct evlog *log)
{
	size_t n = 0, cap = 0, *order = NULL, *fidx = NULL, *tidx = NULL, *remap = NULL;
	struct evlog_flow *flows = NULL, *sorted = NULL;
	struct evlog__smap map = { 0 };
	unsigned max_tcp = 0;
	int ret = -ENOMEM;

	fidx = calloc(log->n_pkts + 1, sizeof(*fidx));
	tidx = calloc(log->n_trks + 1, sizeof(*tidx));
	if (!fidx || !tidx)
		goto out;
	for (size_t k = 0; k < log->n_pkts + log->n_trks; k++) {
		bool is_pkt = k < log->n_pkts;
		const struct evlog_pkt *p = is_pkt ? &log->pkts[k] : NULL;
		const struct evlog_trk *t = is_pkt ? NULL : &log->trks[k - log->n_pkts];
		bool tcp = p ? p->tcp : true;
		const char *key;
		size_t slot, f;

		if (flow_key(log, tcp, p ? p->tcp_flow : t->flow, p, &key))
			goto out;
		if (map.n * 2 >= map.cap && evlog__smap_grow(&map))
			goto out;
		slot = evlog__smap_slot(&map, key, strlen(key));
		if (map.keys[slot]) {
			f = map.vals[slot];
		} else {
			if (evlog__grow((void **)&flows, &cap, n, sizeof(*flows)))
				goto out;
			f = n++;
			memset(&flows[f], 0, sizeof(flows[f]));
			flows[f].tcp = tcp;
			flows[f].end = -1;
			flows[f].id = UINT32_MAX;
			map.keys[slot] = key;
			map.vals[slot] = f;
			map.n++;
		}
		if (tcp) {
			uint64_t id = p ? p->tcp_flow : t->flow;

			flows[f].id = id > UINT32_MAX - 1 ? UINT32_MAX - 1 : (unsigned)id;
			if (flows[f].id > max_tcp)
				max_tcp = flows[f].id;
		} else if (p->line < flows[f].id) {
			flows[f].id = p->line;
		}
		if (p) {
			fidx[k] = f;
			flows[f].n_pkts++;
		} else {
			tidx[k - log->n_pkts] = f;
			flows[f].n_trks++;
		}
	}

	order = calloc(n + 1, sizeof(*order));
	remap = calloc(n + 1, sizeof(*remap));
	sorted = calloc(n + 1, sizeof(*sorted));
	if (!order || !remap || !sorted)
		goto out;
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	qsort_r(order, n, sizeof(*order), cmp_flow, flows);
	for (size_t i = 0; i < n; i++) {
		sorted[i] = flows[order[i]];
		remap[order[i]] = i;
		if (!sorted[i].tcp)
			sorted[i].id = ++max_tcp;
		sorted[i].pkts = calloc(sorted[i].n_pkts + 1, sizeof(size_t));
		sorted[i].trks = calloc(sorted[i].n_trks + 1, sizeof(size_t));
		sorted[i].n_pkts = sorted[i].n_trks = 0;
	}
	log->flows = sorted;
	log->n_flows = n;
	sorted = NULL; /* the log's now: evlog_free frees what follows */
	for (size_t i = 0; i < n; i++)
		if (!log->flows[i].pkts || !log->flows[i].trks)
			goto out;
	for (size_t k = 0; k < log->n_pkts; k++) {
		struct evlog_flow *f = &log->flows[remap[fidx[k]]];

		log->pkts[k].flow_idx = remap[fidx[k]];
		log->pkts[k].flow_pos = f->n_pkts;
		f->pkts[f->n_pkts++] = k;
	}
	for (size_t k = 0; k < log->n_trks; k++) {
		struct evlog_flow *f = &log->flows[remap[tidx[k]]];

		f->trks[f->n_trks++] = k;
	}
	ret = 0;
out:
	free(sorted);
	free(flows);
	free(order);
	free(remap);
	free(fidx);
	free(tidx);
	evlog__smap_free(&map);
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

static int set_names(struct evlog *log, struct evlog_flow *f)
{
	const struct evlog_pkt *p0 = f->n_pkts ? &log->pkts[f->pkts[0]] : NULL;
	const char *conn = NULL;
	char *t;
	int ret;

	for (size_t i = 0; i < f->n_trks && !conn; i++)
		if (*log->trks[f->trks[i]].conn)
			conn = log->trks[f->trks[i]].conn;
	f->proto = evlog__intern(log, p0 ? p0->proto : "tcp");
	if (!f->proto)
		return -ENOMEM;
	if (conn) {
		ret = split_ends(log, conn, false, &f->name[0], &f->name[1]);
	} else if (p0) {
		const char **n = &f->name[f->tcp && p0->endpoint ? 1 : 0];
		const char **m = &f->name[f->tcp && p0->endpoint ? 0 : 1];

		ret = split_ends(log, p0->flow, true, n, m);
	} else {
		f->name[0] = f->name[1] = evlog__intern(log, "?");
		ret = f->name[0] ? 0 : -ENOMEM;
	}
	if (ret)
		return ret;
	f->first_way = p0 ? p0->way : 0;
	t = malloc(strlen(f->name[0]) + strlen(f->name[1]) + 4);
	if (!t)
		return -ENOMEM;
	sprintf(t, "%s > %s", f->name[0], f->name[1]);
	f->title = evlog__intern(log, t);
	free(t);
	return f->title ? 0 : -ENOMEM;
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
	ret = group_flows(log);
	for (size_t i = 0; !ret && i < log->n_flows; i++) {
		ret = set_names(log, &log->flows[i]);
		if (!ret)
			ret = evlog__index_flow(log, &log->flows[i]);
	}
	if (!ret)
		log->finished = true;
	return ret;
}
