/* SPDX-License-Identifier: MIT */
/*
 * index: which rules of a set a packet can match, private to rules/ (the
 * set owns one; act asks through rule_set_cands()). Pure: memory only.
 *
 * For each packet class of the memo (TCP/UDP/ICMP over IPv4/IPv6 with a
 * plain header), a rule's filter is analysed once, when the rule joins
 * the set: either no packet of the class can match it, or every packet it
 * matches carries one of a few "field == constant" facts the program
 * itself tests (a port, an address: rule_memo_witness), or nothing is
 * known. The index files the rule under those facts, or in the class's
 * "always" list. A packet's candidates are the rules filed under its own
 * field values plus that list: a superset of the rules whose filter
 * matches, in rule order, and libpcap still decides each of them.
 * Packets of no class (fragments, IP options, other protocols) have every
 * rule as a candidate, and so has every packet once memory ran out while
 * building the index: it never fails, it only stops narrowing.
 */
#ifndef FL_RULES_INDEX_H
#define FL_RULES_INDEX_H

#include <stddef.h>

#include "packet.h"

struct rule;
struct rule_index;
struct rule_cands;

/* A new, empty index, or NULL (ENOMEM: the set then scans every rule). */
struct rule_index *rule__index_new(void);
/* Frees the index. NULL-safe. */
void rule__index_free(struct rule_index *ix);

/* Rule r (borrowed) joins the end of the set: r->index is the count so far. */
void rule__index_append(struct rule_index *ix, const struct rule *r);
/* Only the first n rules stay (a load taken back). */
void rule__index_truncate(struct rule_index *ix, size_t n);
/* Rule i left the set; the later rules moved up one place. */
void rule__index_remove(struct rule_index *ix, size_t i);

/* The candidates for v among the set's n rules into *c (see rule_set_cands()). */
void rule__index_cands(const struct rule_index *ix, size_t n, const struct pkt_view *v,
		       struct rule_cands *c);

#endif
