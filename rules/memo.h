/* SPDX-License-Identifier: MIT */
/*
 * memo: remembering a connection's filter results instead of running the
 * BPF programs on every packet.
 *
 * Within one connection most of a packet's header is the same every time:
 * version, protocol, addresses, ports. A filter that reads those, plus at
 * most RULE_MEMO_KEY_BYTES bytes that can change (the fragment field
 * "tcp port 80" tests, TCP flags), gives the same answer on every packet of
 * the connection that carries the same values in those few bytes: the
 * program is deterministic and its path depends only on what it reads.
 *
 * Which bytes a program reads is found once per rule set by abstract
 * interpretation of its BPF code for each packet class below, where part
 * of the header is fixed (IPv4 without options has 0x45 in byte 0 and its
 * ports at 20), so branches for the other IP version or for options are
 * pruned. A program that reads the packet length or an offset taken from
 * variable data, or more changing bytes than the key holds, is not
 * remembered: it runs on every packet, as before. libpcap's interpreter
 * still computes every result; the memo only replays it.
 */
#ifndef FL_RULES_MEMO_H
#define FL_RULES_MEMO_H

#include <stdbool.h>
#include <stdint.h>

#include <netinet/in.h>

#include "packet.h"

struct rule_set;
struct rule_filter;

/*
 * Packets whose header layout is fixed enough to know what a filter reads:
 * IPv4 without options, IPv6 without extension headers, not a later
 * fragment. Even the eight bytes of an ICMP header are enough for a filter
 * on other protocols ("tcp port 80") to be decided by the class alone.
 */
enum rule_memo_class {
	RULE_MEMO_NONE = -1,
	RULE_MEMO_TCP4,
	RULE_MEMO_UDP4,
	RULE_MEMO_ICMP4,
	RULE_MEMO_TCP6,
	RULE_MEMO_UDP6,
	RULE_MEMO_ICMP6,
	RULE_MEMO_NCLASS
};

#define RULE_MEMO_KEY_BYTES 4
#define RULE_MEMO_MAX_RULES 16	/* rules past the 16th always run their filter */

/*
 * One connection's memo, for both its directions (the addresses and ports
 * are the other way round): 16 bytes that live in the caller's
 * per-connection entry (the tracker's slot, the flow table's), all zero
 * when empty. Valid only for packets of that one connection or flow: the
 * same protocol, addresses and ports.
 */
struct rule_memo {
	uint32_t tag;		/* rule_memo_plan.tag | bit w: way w is filled; 0 = empty */
	uint16_t bits[2];	/* per way, bit i: rule i's filter matched */
	uint32_t key[2];	/* per way, the changing bytes it was filled for (rule_memo_key) */
};

/* What one rule set's filters read in one class. */
struct rule_memo_plan {
	uint32_t tag;		/* set by the caller: tells rule sets apart; nonzero, low 2 bits 0 */
	/*
	 * Filters the class alone decides ("tcp port 80" for any ICMP
	 * packet, "tcp" for TCP): bit i of 'decided' says rule i's result
	 * is bit i of 'matches', for every packet of the class, no memo
	 * needed. 'rules' are those a connection's memo remembers.
	 */
	uint16_t decided, matches;
	uint16_t rules;		/* bit i: rule i's filter result is remembered */
	uint32_t need;		/* bytes of packet those filters can read */
	uint8_t nkey;
	uint16_t key[RULE_MEMO_KEY_BYTES]; /* offsets of the bytes that can change, then fixed ones */
};

/* The class of a parsed packet, or RULE_MEMO_NONE. */
static inline int rule_memo_class(const struct pkt_view *v)
{
	int l4;

	if (!v->has_l4 || v->fragment)
		return RULE_MEMO_NONE;
	if (v->l4proto == IPPROTO_TCP)
		l4 = 0;
	else if (v->l4proto == IPPROTO_UDP)
		l4 = 1;
	else if (v->l4proto == (v->family == 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6))
		l4 = 2;
	else
		return RULE_MEMO_NONE;
	if (v->family == 4 && v->l3_hdr_len == 20)
		return RULE_MEMO_TCP4 + l4;
	if (v->family == 6 && v->l3_hdr_len == 40)
		return RULE_MEMO_TCP6 + l4;
	return RULE_MEMO_NONE;
}

/*
 * Which of rs's filters class cls decides, which a connection's memo can
 * remember, and by which bytes. plan->tag is left for the caller (act
 * gives each rule set a new one, with the class in it).
 */
void rule_memo_plan(const struct rule_set *rs, int cls, struct rule_memo_plan *plan);

/* What a filter reads in one class (rule_memo_filter). */
struct rule_memo_reads {
	bool fixed;		/* it reads only bytes the class fixes: its result is 'match' */
	bool match;
	uint8_t nkey;		/* the changing bytes it reads, sorted */
	uint16_t key[RULE_MEMO_KEY_BYTES];
	uint32_t need;		/* bytes of packet it can read */
};

/*
 * One filter in class cls: true if its result is decided by the class's
 * fixed bytes, the connection's and at most RULE_MEMO_KEY_BYTES changing
 * ones (then *r says which). For the plan, and for tests.
 */
bool rule_memo_filter(const struct rule_filter *f, int cls, struct rule_memo_reads *r);

/* "The packet's size bytes at off, read big-endian, equal val." */
struct rule_memo_fact {
	uint16_t off;
	uint8_t size;		/* 1, 2 or 4 */
	uint32_t val;
};

#define RULE_MEMO_FACTS_MAX 8

/*
 * What every packet of a class that filter f matches satisfies (for the
 * rule index): at least one of the n facts; any: nothing known (a
 * matching path that compared no field with a constant, or more than
 * RULE_MEMO_FACTS_MAX facts); n == 0 and !any: no packet of the class
 * matches. Facts come from the program's own "load, jump if equal"
 * steps on the paths that return a match, so libpcap stays the judge:
 * they only say which packets cannot match.
 */
struct rule_memo_witness {
	bool any;
	uint8_t n;
	struct rule_memo_fact f[RULE_MEMO_FACTS_MAX];
};

/* f's witness in class cls; false when the program cannot be analysed (then: any). */
bool rule_memo_witness(const struct rule_filter *f, int cls, struct rule_memo_witness *w);

/*
 * The memo for packet v (parsed, of the plan's class, going way 0 or 1 of
 * the connection m belongs to: flow_id.way): returns 1 and sets *bits to
 * the remembered results of plan->rules; 0 when m holds nothing for these
 * key bytes, this way and this plan (the caller runs the filters and calls
 * rule_memo_fill()); -1 when v is too short a copy for the plan's filters
 * (run them, remember nothing).
 */
void rule_memo_fill(struct rule_memo *m, const struct rule_memo_plan *plan,
		    const struct pkt_view *v, unsigned way, uint32_t bits);

/* The bytes of v at key[0..3], in one word. */
static inline uint32_t rule_memo_key_of(const uint16_t *key, const struct pkt_view *v)
{
	_Static_assert(RULE_MEMO_KEY_BYTES == 4, "the key is one 32-bit word");
	const uint8_t *d = v->data;

	return (uint32_t)d[key[0]] | (uint32_t)d[key[1]] << 8 | (uint32_t)d[key[2]] << 16 |
	       (uint32_t)d[key[3]] << 24;
}

/* The plan's changing bytes of v, in one word. */
static inline uint32_t rule_memo_key(const struct rule_memo_plan *plan, const struct pkt_view *v)
{
	return rule_memo_key_of(plan->key, v);
}

/* Inline: it runs for every TCP segment, and is a few compares. */
static inline int rule_memo_get(const struct rule_memo *m, const struct rule_memo_plan *plan,
				const struct pkt_view *v, unsigned way, uint32_t *bits)
{
	/* Short of the bytes a filter reads, it answers "no match" (a cut copy). */
	if (v->len < plan->need)
		return -1;
	way &= 1;
	if ((m->tag & ~3u) != plan->tag || !(m->tag >> way & 1) ||
	    m->key[way] != rule_memo_key(plan, v))
		return 0;
	*bits = m->bits[way];
	return 1;
}

/*
 * ---- the wide memo: rules 16 to 255 ----
 *
 * A connection's slot has room for 16 rules' results. Rule files that
 * give one host or service dozens of rules (one per condition, per port
 * it leaves alone) have more filters that match the same packets, and
 * the index cannot rule those out. Their results are remembered per
 * flow direction in a table the decision keeps itself: the same analysis
 * says which rules are remembered and by which changing bytes, and an
 * entry holds the bytes of the connection it was filled for, so it is
 * never taken for another flow's; a flow whose entry another took fills
 * it again. Like the slot's memo it only replays libpcap's results.
 */
#define RULE_MEMO_WIDE_RULES 256
#define RULE_MEMO_WIDE_WORDS (RULE_MEMO_WIDE_RULES / 64)

/* What the filters of rules 16 to 255 read in one class; bit i of a mask: rule i. */
struct rule_memo_wide {
	uint32_t tag;		/* set by the caller, as rule_memo_plan's; nonzero */
	bool any;		/* some rule is remembered: the table is worth asking */
	uint32_t need;
	uint8_t nkey;
	uint16_t key[RULE_MEMO_KEY_BYTES];
	/* decided/matches: as rule_memo_plan's; rules: results the table remembers */
	uint64_t decided[RULE_MEMO_WIDE_WORDS], matches[RULE_MEMO_WIDE_WORDS];
	uint64_t rules[RULE_MEMO_WIDE_WORDS];
};

/* rule_memo_plan() for rules 16 to 255 (those past 255 always run). */
void rule_memo_wide_plan(const struct rule_set *rs, int cls, struct rule_memo_wide *plan);

struct rule_memo_table;

/* An empty table (2,048 flow directions, direct-mapped; 160 KiB), or NULL (ENOMEM). */
struct rule_memo_table *rule_memo_table_new(void);
/* NULL-safe. */
void rule_memo_table_free(struct rule_memo_table *t);

/*
 * The remembered results of plan->rules for v (parsed, of the plan's
 * class; hash and way: its flow_id's, to place it), RULE_MEMO_WIDE_WORDS
 * words valid until the next rule_memo_table_put(); NULL when the table
 * holds none for v's connection bytes, changing bytes and plan, or v is
 * too short a copy for the plan's filters (then remember nothing).
 */
const uint64_t *rule_memo_table_get(const struct rule_memo_table *t,
				    const struct rule_memo_wide *plan, const struct pkt_view *v,
				    uint64_t hash, unsigned way);
/*
 * The entry for v, taken for it (from the flow that had it) with its
 * words zeroed: the caller sets bit i for each remembered rule i whose
 * filter matches v, among those a packet like v can match. NULL when v
 * is too short a copy to be remembered.
 */
uint64_t *rule_memo_table_put(struct rule_memo_table *t, const struct rule_memo_wide *plan,
			      const struct pkt_view *v, uint64_t hash, unsigned way);

#endif
