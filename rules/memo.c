// SPDX-License-Identifier: MIT
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <pcap/bpf.h>

#include "bpfwalk.h"
#include "filter.h"
#include "memo.h"
#include "rule.h"

/* ---- what a packet byte is in a class ---- */

enum byte_kind {
	B_FIXED,	/* the same in every packet of the class: known bits in mask/val */
	B_CONN,		/* the same in every packet of one connection, one way */
	B_CHANGES,	/* may differ between packets of one connection */
};

struct byte_info {
	enum byte_kind kind;
	uint8_t mask, val;	/* known bits (B_FIXED wholly; B_CHANGES partly) */
};

static struct byte_info byte_at(int cls, uint32_t off)
{
	bool v6 = cls >= RULE_MEMO_TCP6;
	int l4 = v6 ? cls - RULE_MEMO_TCP6 : cls - RULE_MEMO_TCP4;
	uint8_t proto = l4 == 0 ? IPPROTO_TCP : l4 == 1 ? IPPROTO_UDP :
			v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
	/* TCP and UDP have their ports in the first four bytes; ICMP's change. */
	uint32_t conn_end = l4 == 2 ? (v6 ? 40 : 20) : (v6 ? 44 : 24);

	if (!v6) {
		if (off == 0)	/* version 4, header length 5 words */
			return (struct byte_info){ B_FIXED, 0xff, 0x45 };
		if (off == 6)	/* flags, then the fragment offset: 0, not a later fragment */
			return (struct byte_info){ B_CHANGES, 0x1f, 0 };
		if (off == 7)
			return (struct byte_info){ B_FIXED, 0xff, 0 };
		if (off == 9)
			return (struct byte_info){ B_FIXED, 0xff, proto };
		if (off >= 12 && off < conn_end) /* addresses, then the ports */
			return (struct byte_info){ B_CONN, 0, 0 };
		return (struct byte_info){ B_CHANGES, 0, 0 };
	}
	if (off == 0)		/* version 6; the low nibble is traffic class */
		return (struct byte_info){ B_CHANGES, 0xf0, 0x60 };
	if (off == 6)		/* next header: the transport, no extension headers */
		return (struct byte_info){ B_FIXED, 0xff, proto };
	if (off >= 8 && off < conn_end) /* addresses, then the ports */
		return (struct byte_info){ B_CONN, 0, 0 };
	return (struct byte_info){ B_CHANGES, 0, 0 };
}

/* ---- abstract interpretation of a BPF program ---- */

#define TAINT_MAX 8

/*
 * A 32-bit value: the bits in mask are known to be val; the others come
 * from the connection's bytes (conn) and from the changing bytes in pos[]
 * (over: more than TAINT_MAX of them). A load only taints a value; the
 * bytes count as read when the value's unknown bits decide something: a
 * jump that known bits do not settle, or the result. So "ip[0] & 0xf0"
 * reads nothing of IPv6's traffic class.
 */
struct av {
	uint32_t mask, val;
	bool conn, over;
	uint8_t n;
	uint16_t pos[TAINT_MAX];
	/*
	 * from_size != 0: the value is the packet's from_size bytes at
	 * 'from', as loaded (no arithmetic since), so "A == K" is a fact
	 * about the packet (the rule index's witnesses).
	 */
	uint16_t from;
	uint8_t from_size;
};

static inline struct av av_const(uint32_t v)
{
	return (struct av){ .mask = 0xffffffffu, .val = v };
}

static inline bool av_known(const struct av *a)
{
	return a->mask == 0xffffffffu;
}

static void taint_add(struct av *a, uint16_t off)
{
	for (unsigned i = 0; i < a->n; i++)
		if (a->pos[i] == off)
			return;
	if (a->n == TAINT_MAX)
		a->over = true;
	else
		a->pos[a->n++] = off;
}

/* to's unknown bits also come from what from's came from. */
static void taint_merge(struct av *to, const struct av *from)
{
	to->conn |= from->conn;
	to->over |= from->over;
	for (unsigned i = 0; i < from->n; i++)
		taint_add(to, from->pos[i]);
}

/* A fully known value owes nothing to any byte. */
static void settle(struct av *a)
{
	a->val &= a->mask;
	if (av_known(a)) {
		a->conn = a->over = false;
		a->n = 0;
	}
}

static struct av av_join(const struct av *a, const struct av *b)
{
	struct av r = *a;

	r.mask = a->mask & b->mask & ~(a->val ^ b->val);
	if (a->from != b->from || a->from_size != b->from_size)
		r.from_size = 0;
	taint_merge(&r, b);
	settle(&r);
	return r;
}

/*
 * What every path reaching an instruction is known to satisfy: at least
 * one of the facts "these bytes of the packet equal val", or nothing
 * known (top). The rule index files a rule under the facts its matching
 * paths carry (rule_memo_witness).
 */
struct facts {
	bool top;
	uint8_t n;
	struct rule_memo_fact f[RULE_MEMO_FACTS_MAX];
};

/* to: paths that satisfy to or from (the facts of either). */
static void facts_join(struct facts *to, const struct facts *from)
{
	if (to->top)
		return;
	if (from->top) {
		to->top = true;
		return;
	}
	for (unsigned i = 0; i < from->n; i++) {
		const struct rule_memo_fact *f = &from->f[i];
		unsigned j = 0;

		while (j < to->n && (to->f[j].off != f->off || to->f[j].size != f->size ||
				     to->f[j].val != f->val))
			j++;
		if (j < to->n)
			continue;
		if (to->n == RULE_MEMO_FACTS_MAX) {
			to->top = true;
			return;
		}
		to->f[to->n++] = *f;
	}
}

/*
 * A path on which "a == k" held. The fact replaces what the path knew
 * when that was nothing, several alternatives, or a wider field: one
 * fact on the ports files a rule under one port ("host A and port P" is
 * filed by its port), which is what generated rule files vary.
 */
static void facts_narrow(struct facts *fs, const struct av *a, uint32_t k)
{
	struct rule_memo_fact f = { .off = a->from, .size = a->from_size, .val = k };

	if (!a->from_size)
		return;
	if (!fs->top && fs->n == 1 && fs->f[0].size <= f.size)
		return;
	fs->top = false;
	fs->n = 1;
	fs->f[0] = f;
}

/* The state before an instruction, the join of the paths into it. */
struct astate {
	struct av a, x, m[BPF_MEMWORDS];
	struct facts facts;
};

static void state_join(void *into, const void *from)
{
	struct astate *to = into;
	const struct astate *s = from;

	facts_join(&to->facts, &s->facts);
	to->a = av_join(&to->a, &s->a);
	to->x = av_join(&to->x, &s->x);
	for (int i = 0; i < BPF_MEMWORDS; i++)
		to->m[i] = av_join(&to->m[i], &s->m[i]);
}

struct reads {
	int cls;
	bool bad;		/* not rememberable */
	bool conn;		/* the connection's bytes decide something */
	uint32_t need;
	uint8_t nkey;
	uint16_t key[RULE_MEMO_KEY_BYTES];
	uint8_t results;	/* bit 0: some return says no match, bit 1: match */
	struct facts match;	/* what the paths to a match satisfy */
};

static void note_changing(struct reads *r, uint16_t off)
{
	unsigned i = 0;

	while (i < r->nkey && r->key[i] < off)
		i++;
	if (i < r->nkey && r->key[i] == off)
		return;
	if (r->nkey == RULE_MEMO_KEY_BYTES) {
		r->bad = true;
		return;
	}
	memmove(&r->key[i + 1], &r->key[i], (size_t)(r->nkey - i) * sizeof(r->key[0]));
	r->key[i] = off;
	r->nkey++;
}

/* Value a decides something: the bytes its unknown bits came from are read. */
static void use(struct reads *r, const struct av *a)
{
	if (av_known(a))
		return;
	if (a->over)
		r->bad = true;
	r->conn |= a->conn;
	for (unsigned i = 0; i < a->n; i++)
		note_changing(r, a->pos[i]);
}

/* A load of size bytes at off. */
static struct av load(struct reads *r, uint64_t off, uint32_t size)
{
	struct av v = { 0 };

	/* Past 64 KiB nothing is an IP packet's byte (libpcap's extensions live there). */
	if (off + size > 65535) {
		r->bad = true;
		return v;
	}
	/* A load past the copy ends the program: the plan needs this much. */
	if (off + size > r->need)
		r->need = (uint32_t)(off + size);
	for (uint32_t i = 0; i < size; i++) {
		struct byte_info b = byte_at(r->cls, (uint32_t)off + i);

		v.mask = v.mask << 8 | b.mask;
		v.val = v.val << 8 | b.val;
		if (b.kind == B_CONN)
			v.conn = true;
		else if (b.kind == B_CHANGES && b.mask != 0xff)
			taint_add(&v, (uint16_t)(off + i));
	}
	/* A byte or half-word load leaves the upper bits 0. */
	if (size < 4)
		v.mask |= ~((1u << (8 * size)) - 1);
	settle(&v);
	v.from = (uint16_t)off;
	v.from_size = (uint8_t)size;
	return v;
}

static struct av alu(struct reads *r, uint16_t op, const struct av *a, const struct av *s)
{
	struct av v = *a;

	v.from_size = 0;
	if (av_known(a) && av_known(s)) {
		uint32_t x = a->val, y = s->val;

		switch (op) {
		case BPF_ADD: return av_const(x + y);
		case BPF_SUB: return av_const(x - y);
		case BPF_MUL: return av_const(x * y);
		case BPF_OR: return av_const(x | y);
		case BPF_AND: return av_const(x & y);
		case BPF_XOR: return av_const(x ^ y);
		case BPF_LSH: return av_const(y < 32 ? x << y : 0);
		case BPF_RSH: return av_const(y < 32 ? x >> y : 0);
		case BPF_NEG: return av_const(-x);
		case BPF_DIV:
		case BPF_MOD:
			if (y)
				return av_const(op == BPF_DIV ? x / y : x % y);
			break;
		default:
			break;
		}
		r->bad = true;
		return v;
	}
	if (op == BPF_NEG) {
		v.mask = 0;
		settle(&v);
		return v;
	}
	taint_merge(&v, s);
	if (!av_known(s)) {
		if (op == BPF_DIV || op == BPF_MOD)
			r->bad = true;	/* a divisor of 0 ends the program */
		v.mask = 0;
		settle(&v);
		return v;
	}
	/* A partly known value against a constant: the bits that stay known. */
	switch (op) {
	case BPF_AND:
		v.mask = a->mask | ~s->val;
		v.val = a->val & s->val;
		break;
	case BPF_OR:
		v.mask = a->mask | s->val;
		v.val = a->val | s->val;
		break;
	case BPF_LSH:
		v.mask = s->val < 32 ? a->mask << s->val | ((1u << s->val) - 1) : 0xffffffffu;
		v.val = s->val < 32 ? a->val << s->val : 0;
		break;
	case BPF_RSH:
		v.mask = s->val < 32 ? a->mask >> s->val | ~(0xffffffffu >> s->val) : 0xffffffffu;
		v.val = s->val < 32 ? a->val >> s->val : 0;
		break;
	case BPF_DIV:
	case BPF_MOD:
		if (!s->val)
			r->bad = true;
		v.mask = 0;
		break;
	default:
		v.mask = 0;
		break;
	}
	settle(&v);
	return v;
}

/* Which ways a conditional jump can go: bit 0 false, bit 1 true (BPFWALK_JF, BPFWALK_JT). */
static unsigned jump_ways(uint16_t op, const struct av *a, const struct av *s)
{
	if (av_known(a) && av_known(s)) {
		switch (op) {
		case BPF_JEQ: return a->val == s->val ? 2 : 1;
		case BPF_JGT: return a->val > s->val ? 2 : 1;
		case BPF_JGE: return a->val >= s->val ? 2 : 1;
		case BPF_JSET: return a->val & s->val ? 2 : 1;
		default: return 3;
		}
	}
	if (!av_known(s))
		return 3;
	if (op == BPF_JEQ && (a->mask & (a->val ^ s->val)))
		return 1;	/* a known bit differs */
	if (op == BPF_JSET) {
		if (a->mask & a->val & s->val)
			return 2;
		if (!(s->val & ~a->mask))
			return 1;	/* every tested bit known to be 0 */
	}
	return 3;
}

/*
 * The value a BPF_LD or BPF_LDX instruction loads in state s, into *v.
 * false (and r->bad) when it depends on what changes between packets.
 */
static bool ld_value(const struct astate *s, uint16_t c, uint32_t k, struct reads *r, struct av *v)
{
	switch (BPF_MODE(c)) {
	case BPF_IMM:
		*v = av_const(k);
		return true;
	case BPF_MEM:
		if (k >= BPF_MEMWORDS)
			break;
		*v = s->m[k];
		return true;
	case BPF_ABS:
		*v = load(r, k, rule__filter_load_size(c));
		return true;
	case BPF_IND:
		/* An offset from changing data: any byte may be read. */
		if (!av_known(&s->x))
			break;
		*v = load(r, (uint64_t)s->x.val + k, rule__filter_load_size(c));
		return true;
	case BPF_MSH: {
		struct av b = load(r, k, 1);

		/* An offset from the connection's or changing bytes. */
		if ((b.mask & 0xf) != 0xf)
			break;
		*v = av_const((b.val & 0xf) << 2);
		return true;
	}
	}
	/* And BPF_LEN: the length changes from packet to packet. */
	r->bad = true;
	return false;
}

/*
 * What a BPF_RET may answer in state s, added to r->results (1: no match,
 * 2: a match); a match adds what its paths satisfy to r->match.
 */
static void ret_results(const struct astate *s, uint16_t c, uint32_t k, struct reads *r)
{
	unsigned res;

	if (BPF_RVAL(c) == BPF_K) {
		res = k ? 2 : 1;
	} else if (BPF_RVAL(c) == BPF_A && av_known(&s->a)) {
		res = s->a.val ? 2 : 1;
	} else {
		use(r, &s->a);
		res = 3;
	}
	r->results |= (uint8_t)res;
	if (res & 2)
		facts_join(&r->match, &s->facts);
}

/* One instruction (bpfwalk_step_cb): r->bad stops the walk. */
static int step(const struct bpf_insn *in, void *state, void *taken, void *data)
{
	struct astate *s = state, *t = taken;
	struct reads *r = data;
	uint16_t c = in->code;
	uint32_t k = in->k;
	unsigned ways = BPFWALK_NEXT;

	switch (BPF_CLASS(c)) {
	case BPF_LD:
	case BPF_LDX: {
		struct av v;

		if (!ld_value(s, c, k, r, &v))
			break;
		if (BPF_CLASS(c) == BPF_LDX)
			s->x = v;
		else
			s->a = v;
		break;
	}
	case BPF_ST:
	case BPF_STX:
		if (k >= BPF_MEMWORDS) {
			r->bad = true;
			break;
		}
		s->m[k] = BPF_CLASS(c) == BPF_ST ? s->a : s->x;
		break;
	case BPF_ALU: {
		struct av src = BPF_SRC(c) == BPF_X ? s->x : av_const(k);

		s->a = alu(r, BPF_OP(c), &s->a, &src);
		break;
	}
	case BPF_JMP: {
		struct av src = BPF_SRC(c) == BPF_X ? s->x : av_const(k);

		if (BPF_OP(c) == BPF_JA)
			break;
		ways = jump_ways(BPF_OP(c), &s->a, &src);
		if (ways == (BPFWALK_JT | BPFWALK_JF)) {
			use(r, &s->a);
			use(r, &src);
			/* Taken: the loaded bytes equal the constant. */
			if (BPF_OP(c) == BPF_JEQ && av_known(&src))
				facts_narrow(&t->facts, &s->a, src.val);
		}
		break;
	}
	case BPF_RET:
		ret_results(s, c, k, r);
		ways = 0;
		break;
	case BPF_MISC:
		if (BPF_MISCOP(c) == BPF_TAX)
			s->x = s->a;
		else
			s->a = s->x;
		break;
	}
	return r->bad ? BPFWALK_STOP : (int)ways;
}

static const struct bpfwalk_ops walk_ops = {
	.size = sizeof(struct astate),
	.join = state_join,
	.step = step,
};

/* Runs the abstract interpreter over f's program for class cls into r. */
static bool analyse(const struct rule_filter *f, int cls, struct reads *r)
{
	unsigned len;
	const struct bpf_insn *in = rule__filter_insns(f, &len);
	struct astate init = { .facts.top = true };

	if (cls < 0 || cls >= RULE_MEMO_NCLASS || !len)
		return false;
	init.a = init.x = av_const(0);
	for (int i = 0; i < BPF_MEMWORDS; i++)
		init.m[i] = av_const(0);	/* libpcap zeroes scratch memory */
	return bpfwalk_run(in, len, &walk_ops, &init, r) == 0 && !r->bad;
}

bool rule_memo_filter(const struct rule_filter *f, int cls, struct rule_memo_reads *out)
{
	struct reads r = { .cls = cls };

	memset(out, 0, sizeof(*out));
	if (!analyse(f, cls, &r))
		return false;
	out->fixed = !r.conn && !r.nkey && (r.results == 1 || r.results == 2);
	out->match = r.results == 2;
	out->nkey = r.nkey;
	memcpy(out->key, r.key, r.nkey * sizeof(r.key[0]));
	out->need = r.need;
	return true;
}

bool rule_memo_witness(const struct rule_filter *f, int cls, struct rule_memo_witness *w)
{
	struct reads r = { .cls = cls };

	memset(w, 0, sizeof(*w));
	if (!analyse(f, cls, &r))
		return false;
	w->any = r.match.top;
	w->n = r.match.top ? 0 : r.match.n;
	memcpy(w->f, r.match.f, w->n * sizeof(w->f[0]));
	return true;
}

/* What one plan knows of its remembered filters: the bytes they read. */
struct keyset {
	uint32_t need;
	uint8_t nkey;
	uint16_t key[RULE_MEMO_KEY_BYTES];
};

enum plan_kind { P_NONE, P_DECIDED, P_REMEMBERED };

/*
 * Rule r in class cls for a plan whose filters read ks so far: decided by
 * the class (*match says how), remembered (its changing bytes merged into
 * ks), or neither (run on every packet: no filter to analyse, or too many
 * changing bytes together).
 */
static enum plan_kind plan_rule(const struct rule *r, int cls, struct keyset *ks, bool *match)
{
	struct keyset p = *ks;
	struct rule_memo_reads rd;

	if (!r->filter || !rule_memo_filter(r->filter, cls, &rd))
		return P_NONE;
	/* No memo: but a copy too short for its loads still says no. */
	if (rd.fixed && rd.need <= (cls >= RULE_MEMO_TCP6 ? 40u : 20u)) {
		*match = rd.match;
		return P_DECIDED;
	}
	for (unsigned j = 0; j < rd.nkey; j++) {
		unsigned q = 0;

		while (q < p.nkey && p.key[q] != rd.key[j])
			q++;
		if (q < p.nkey)
			continue;
		if (p.nkey == RULE_MEMO_KEY_BYTES)
			return P_NONE;
		p.key[p.nkey++] = rd.key[j];
	}
	if (rd.need > p.need)
		p.need = rd.need;
	*ks = p;
	return P_REMEMBERED;
}

/*
 * Rules [first, end) of rs in class cls: bit i of the word masks (i from
 * 0, the set's rule i) for those the class decides, how, and those
 * remembered, by the bytes ks gathers.
 */
static void plan_span(const struct rule_set *rs, int cls, size_t first, size_t end,
		      uint64_t *decided, uint64_t *matches, uint64_t *rules, struct keyset *ks)
{
	for (size_t i = first; i < end && i < rule_set_count(rs); i++) {
		uint64_t bit = 1ull << (i % 64);
		bool match = false;

		switch (plan_rule(rule_set_get(rs, i), cls, ks, &match)) {
		case P_DECIDED:
			decided[i / 64] |= bit;
			if (match)
				matches[i / 64] |= bit;
			break;
		case P_REMEMBERED:
			rules[i / 64] |= bit;
			break;
		case P_NONE:
			break;
		}
	}
	/* The unused key bytes read the protocol byte, the same in every packet of the class. */
	for (unsigned q = ks->nkey; q < RULE_MEMO_KEY_BYTES; q++)
		ks->key[q] = cls >= RULE_MEMO_TCP6 ? 6 : 9;
}

void rule_memo_plan(const struct rule_set *rs, int cls, struct rule_memo_plan *plan)
{
	uint64_t decided = 0, matches = 0, rules = 0;
	struct keyset ks = { 0 };

	_Static_assert(RULE_MEMO_MAX_RULES <= 16, "the plan's masks are 16 bits");
	memset(plan, 0, sizeof(*plan));
	plan_span(rs, cls, 0, RULE_MEMO_MAX_RULES, &decided, &matches, &rules, &ks);
	plan->decided = (uint16_t)decided;
	plan->matches = (uint16_t)matches;
	plan->rules = (uint16_t)rules;
	plan->need = ks.need;
	plan->nkey = ks.nkey;
	memcpy(plan->key, ks.key, sizeof(plan->key));
}

void rule_memo_wide_plan(const struct rule_set *rs, int cls, struct rule_memo_wide *plan)
{
	struct keyset ks = { 0 };

	memset(plan, 0, sizeof(*plan));
	plan_span(rs, cls, RULE_MEMO_MAX_RULES, RULE_MEMO_WIDE_RULES, plan->decided, plan->matches,
		  plan->rules, &ks);
	for (unsigned k = 0; k < RULE_MEMO_WIDE_WORDS; k++)
		plan->any |= plan->rules[k] != 0;
	plan->need = ks.need;
	plan->nkey = ks.nkey;
	memcpy(plan->key, ks.key, sizeof(plan->key));
}

void rule_memo_fill(struct rule_memo *m, const struct rule_memo_plan *plan,
		    const struct pkt_view *v, unsigned way, uint32_t bits)
{
	way &= 1;
	/* Another rule set's results, either way, are void. */
	if ((m->tag & ~3u) != plan->tag)
		m->tag = plan->tag;
	m->key[way] = rule_memo_key(plan, v);
	m->bits[way] = (uint16_t)bits;
	m->tag |= 1u << way;
}

/* ---- the wide memo's table ---- */

#define TABLE_BITS 11

/* The bytes a class holds for the connection (byte_at's B_CONN): v4 from 12, v6 from 8. */
#define CONN_MAX 36

struct entry {
	uint32_t tag;		/* the plan's; 0: empty */
	uint32_t key;		/* the changing bytes it was filled for */
	uint8_t conn[CONN_MAX];	/* the connection bytes it was filled for, zero past the class's */
	uint64_t bits[RULE_MEMO_WIDE_WORDS];
};

struct rule_memo_table {
	struct entry e[1u << TABLE_BITS];
};

struct rule_memo_table *rule_memo_table_new(void)
{
	return calloc(1, sizeof(struct rule_memo_table));
}

void rule_memo_table_free(struct rule_memo_table *t)
{
	free(t);
}

/* Where byte_at's connection bytes of v's class lie, as [*from, end). */
static uint32_t conn_span(const struct pkt_view *v, uint32_t *from)
{
	bool icmp = v->l4proto != IPPROTO_TCP && v->l4proto != IPPROTO_UDP;

	*from = v->family == 6 ? 8 : 12;
	return v->family == 6 ? (icmp ? 40 : 44) : (icmp ? 20 : 24);
}

static struct entry *slot_of(const struct rule_memo_table *t, uint64_t hash, unsigned way)
{
	/* Both ways of a flow share its hash: the way moves one to another slot. */
	uint64_t h = (hash + (way & 1) * 0x9e3779b97f4a7c15ull) * 0xff51afd7ed558ccdull;

	return (struct entry *)&t->e[h >> (64 - TABLE_BITS)];
}

const uint64_t *rule_memo_table_get(const struct rule_memo_table *t,
				    const struct rule_memo_wide *plan, const struct pkt_view *v,
				    uint64_t hash, unsigned way)
{
	const struct entry *e = slot_of(t, hash, way);
	uint32_t from, end = conn_span(v, &from);

	if (v->len < plan->need || v->len < end)
		return NULL;
	if (e->tag != plan->tag || e->key != rule_memo_key_of(plan->key, v) ||
	    memcmp(e->conn, v->data + from, end - from))
		return NULL;
	return e->bits;
}

uint64_t *rule_memo_table_put(struct rule_memo_table *t, const struct rule_memo_wide *plan,
			      const struct pkt_view *v, uint64_t hash, unsigned way)
{
	struct entry *e = slot_of(t, hash, way);
	uint32_t from, end = conn_span(v, &from);

	if (v->len < plan->need || v->len < end)
		return NULL;
	memset(e, 0, sizeof(*e));
	e->tag = plan->tag;
	e->key = rule_memo_key_of(plan->key, v);
	memcpy(e->conn, v->data + from, end - from);
	return e->bits;
}
