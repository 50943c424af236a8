/* SPDX-License-Identifier: MIT */
/*
 * evlog's private header: the layout of struct evlog and the helpers its
 * files share. Not for show.c or report.c, which go through evlog.h.
 *
 * The files, in the order a line travels through them:
 *   json.c    one line of text to a tree of JSON values (struct evlog_json)
 *   decode.c  a tree to a packet, release or tracker record (evlog_add_line)
 *   conv.c    evlog_finish: releases to their packets, records to conversations
 *   layout.c  one conversation's numbers, causes, arrival order and rows
 *   notes.c   the text beside an arrow (labels and notes)
 *   log.c     the log itself: its memory, its strings and its accessors
 */
#ifndef FL_EVLOG_INTERNAL_H
#define FL_EVLOG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evlog.h"

/* A block of the log's string and action arena; freed with the log. */
struct evlog__chunk {
	struct evlog__chunk *next;
	size_t used, cap;
	_Alignas(max_align_t) char data[];
};

/* Open addressing over string keys; vals index whatever the owner keeps. */
struct evlog__smap {
	const char **keys;
	size_t *vals;
	size_t cap, n;
};

/* A "release" line, kept until evlog_finish hands it to its packet. */
struct evlog__rel {
	uint64_t pkt, rel;
	double t;
	unsigned line;
	bool early;
};

struct evlog {
	struct evlog_json j;	/* the current line's tree, reused */
	unsigned lines;
	bool finished;
	struct evlog_pkt *pkts;
	size_t n_pkts, cap_pkts;
	struct evlog_trk *trks;
	size_t n_trks, cap_trks;
	struct evlog__rel *rels;
	size_t n_rels, cap_rels;
	struct evlog_conv *convs;
	size_t n_convs;
	struct evlog__smap strs;	/* the intern table */
	struct evlog__chunk *arena;
};

/* n bytes (max_align_t aligned) that live as long as the log, or NULL. */
void *evlog__arena_alloc(struct evlog *log, size_t n);
/*
 * s[0..n) (up to its first NUL) as a string that lives as long as the
 * log; equal strings share one copy. NULL when out of memory.
 */
const char *evlog__intern_n(struct evlog *log, const char *s, size_t n);
const char *evlog__intern(struct evlog *log, const char *s);

/* The slot of m holding s[0..n), or the empty slot where it would go. */
size_t evlog__smap_slot(const struct evlog__smap *m, const char *s, size_t n);
/* Double m's slots (256 when empty). Returns 0 or -ENOMEM; m is unchanged on failure. */
int evlog__smap_grow(struct evlog__smap *m);
/* Frees the slots, not the keys (those are borrowed). */
void evlog__smap_free(struct evlog__smap *m);

/* Make room for element n of *arr (doubling *cap, 256 at first). Returns 0 or -ENOMEM. */
int evlog__grow(void **arr, size_t *cap, size_t n, size_t size);

/*
 * Index conversation conv once its packets and tracker lines are listed and it is
 * named: sides, ISNs, causes, arrival order, counts and rows (layout.c).
 * Returns 0 or -ENOMEM.
 */
int evlog__index_conv(struct evlog *log, struct evlog_conv *conv);

#endif
