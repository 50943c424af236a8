// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <pcap/bpf.h>

#include "filter.h"
#include "memo.h"
#include "rule.h"

/* ---- what a packet byte is in a class ---- */

enum byte_kind {
	B_FIXED,	/* the same in every packet of the class: known bits in mask/val */
	B_CONN,		/* the same in every packet of one connection */
	B_CHANGES,	/* may differ between packets of one connection */
};

struct byte_info {
	enum byte_kind kind;
	uint8_t mask, val;	/* known bits (B_FIXED wholly; B_CHANGES partly) */
};

static struct byte_info byte_at(int cls, uint32_t off)
{
	bool v6 = cls == RULE_MEMO_TCP6 || cls == RULE_MEMO_UDP6;
	uint8_t proto = cls == RULE_MEMO_TCP4 || cls == RULE_MEMO_TCP6 ? IPPROTO_TCP : IPPROTO_UDP;

	if (!v6) {
		if (off == 0)	/* version 4, header length 5 words */
			return (struct byte_info){ B_FIXED, 0xff, 0x45 };
		if (off == 9)
			return (struct byte_info){ B_FIXED, 0xff, proto };
		if (off >= 12 && off < 24) /* addresses, then the ports at 20 */
			return (struct byte_info){ B_CONN, 0, 0 };
		return (struct byte_info){ B_CHANGES, 0, 0 };
	}
	if (off == 0)		/* version 6; the low nibble is traffic class */
		return (struct byte_info){ B_CHANGES, 0xf0, 0x60 };
	if (off == 6)		/* next header: the transport, no extension headers */
		return (struct byte_info){ B_FIXED, 0xff, proto };
	if (off >= 8 && off < 44) /* addresses, then the ports at 40 */
		return (struct byte_info){ B_CONN, 0, 0 };
	return (struct byte_info){ B_CHANGES, 0, 0 };
}

/* ---- abstract interpretation of a BPF program ---- */

/* A 32-bit value of which the bits in mask are known to be val. */
struct av {
	uint32_t mask, val;
};

#define AV_UNKNOWN ((struct av){ 0, 0 })

static inline struct av av_const(uint32_t v)
{
	return (struct av){ 0xffffffffu, v };
}

static inline bool av_known(struct av a)
{
	return a.mask == 0xffffffffu;
}

static struct av av_join(struct av a, struct av b)
{
	uint32_t m = a.mask & b.mask & ~(a.val ^ b.val);

	return (struct av){ m, a.val & m };
}

struct astate {
	bool live;
	struct av a, x, m[BPF_MEMWORDS];
};

static void state_join(struct astate *to, const struct astate *from)
{
	if (!to->live) {
		*to = *from;
		return;
	}
	to->a = av_join(to->a, from->a);
	to->x = av_join(to->x, from->x);
	for (int i = 0; i < BPF_MEMWORDS; i++)
		to->m[i] = av_join(to->m[i], from->m[i]);
}

struct reads {
	int cls;
	bool bad;		/* not rememberable */
	uint32_t need;
	uint8_t nkey;
	uint16_t key[RULE_MEMO_KEY_BYTES];
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

/* A load of size bytes at off: what it gives, and what it makes the key. */
static struct av load(struct reads *r, uint64_t off, uint32_t size)
{
	struct av v = { 0, 0 };

	/* Past 64 KiB nothing is an IP packet's byte (libpcap's extensions live there). */
	if (off + size > 65535) {
		r->bad = true;
		return AV_UNKNOWN;
	}
	if (off + size > r->need)
		r->need = (uint32_t)(off + size);
	for (uint32_t i = 0; i < size; i++) {
		struct byte_info b = byte_at(r->cls, (uint32_t)off + i);

		if (b.kind == B_CHANGES)
			note_changing(r, (uint16_t)(off + i));
		v.mask = v.mask << 8 | b.mask;
		v.val = v.val << 8 | b.val;
	}
	return v;
}

static uint32_t load_size(uint16_t code)
{
	switch (BPF_SIZE(code)) {
	case BPF_W:
		return 4;
	case BPF_H:
		return 2;
	default:
		return 1;
	}
}

static struct av alu(struct reads *r, uint16_t op, struct av a, struct av s)
{
	if (av_known(a) && av_known(s)) {
		uint32_t x = a.val, y = s.val;

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
			if (!y)
				break;
			return av_const(op == BPF_DIV ? x / y : x % y);
		default:
			break;
		}
		r->bad = true;
		return AV_UNKNOWN;
	}
	if (!av_known(s))
		return op == BPF_DIV || op == BPF_MOD ? (r->bad = true, AV_UNKNOWN) : AV_UNKNOWN;
	/* A partly known value against a constant: the bits that stay known. */
	switch (op) {
	case BPF_AND:
		return (struct av){ a.mask | ~s.val, a.val & s.val };
	case BPF_OR:
		return (struct av){ a.mask | s.val, a.val | s.val };
	case BPF_LSH:
		if (s.val >= 32)
			return AV_UNKNOWN;
		return (struct av){ a.mask << s.val | ((1u << s.val) - 1), a.val << s.val };
	case BPF_RSH:
		if (s.val >= 32)
			return AV_UNKNOWN;
		return (struct av){ a.mask >> s.val | ~(0xffffffffu >> s.val), a.val >> s.val };
	case BPF_DIV:
	case BPF_MOD:
		if (!s.val)
			r->bad = true;
		return AV_UNKNOWN;
	default:
		return AV_UNKNOWN;
	}
}

/* Which ways a conditional jump can go: bit 0 false, bit 1 true. */
static unsigned jump_ways(uint16_t op, struct av a, struct av s)
{
	if (av_known(a) && av_known(s)) {
		switch (op) {
		case BPF_JEQ: return a.val == s.val ? 2 : 1;
		case BPF_JGT: return a.val > s.val ? 2 : 1;
		case BPF_JGE: return a.val >= s.val ? 2 : 1;
		case BPF_JSET: return a.val & s.val ? 2 : 1;
		default: return 3;
		}
	}
	if (!av_known(s))
		return 3;
	if (op == BPF_JEQ && (a.mask & (a.val ^ s.val)))
		return 1;	/* a known bit differs */
	if (op == BPF_JSET) {
		if (a.mask & a.val & s.val)
			return 2;
		if (!(s.val & ~a.mask))
			return 1;	/* every tested bit known to be 0 */
	}
	return 3;
}

static void flow_to(struct astate *st, unsigned len, unsigned to, const struct astate *s,
		    struct reads *r)
{
	if (to >= len) {
		r->bad = true;
		return;
	}
	state_join(&st[to], s);
}

bool rule_memo_filter(const struct rule_filter *f, int cls, uint16_t *key, uint8_t *nkey,
		      uint32_t *need)
{
	unsigned len;
	const struct bpf_insn *in = rule__filter_insns(f, &len);
	struct reads r = { .cls = cls };
	struct astate *st;

	*nkey = 0;
	*need = 0;
	if (cls < 0 || cls >= RULE_MEMO_NCLASS || !len)
		return false;
	st = calloc(len, sizeof(*st));
	if (!st)
		return false;
	st[0].live = true;
	for (int i = 0; i < BPF_MEMWORDS; i++)
		st[0].m[i] = av_const(0);	/* libpcap zeroes scratch memory */
	st[0].a = st[0].x = av_const(0);

	/* Jumps only go forward: one pass in order sees every way into an instruction. */
	for (unsigned pc = 0; pc < len && !r.bad; pc++) {
		struct astate s = st[pc];
		uint16_t c = in[pc].code;
		uint32_t k = in[pc].k;

		if (!s.live)
			continue;
		switch (BPF_CLASS(c)) {
		case BPF_LD:
		case BPF_LDX: {
			bool ldx = BPF_CLASS(c) == BPF_LDX;
			struct av v;

			switch (BPF_MODE(c)) {
			case BPF_IMM:
				v = av_const(k);
				break;
			case BPF_MEM:
				if (k >= BPF_MEMWORDS) {
					r.bad = true;
					continue;
				}
				v = s.m[k];
				break;
			case BPF_ABS:
				v = load(&r, k, load_size(c));
				break;
			case BPF_IND:
				/* An offset from data that changes: any byte may be read. */
				if (!av_known(s.x)) {
					r.bad = true;
					continue;
				}
				v = load(&r, (uint64_t)s.x.val + k, load_size(c));
				break;
			case BPF_MSH: {
				struct av b = load(&r, k, 1);

				v = (b.mask & 0xf) == 0xf ? av_const((b.val & 0xf) << 2) : AV_UNKNOWN;
				break;
			}
			default:	/* BPF_LEN: the length changes from packet to packet */
				r.bad = true;
				continue;
			}
			if (ldx)
				s.x = v;
			else
				s.a = v;
			flow_to(st, len, pc + 1, &s, &r);
			break;
		}
		case BPF_ST:
		case BPF_STX:
			if (k >= BPF_MEMWORDS) {
				r.bad = true;
				continue;
			}
			s.m[k] = BPF_CLASS(c) == BPF_ST ? s.a : s.x;
			flow_to(st, len, pc + 1, &s, &r);
			break;
		case BPF_ALU:
			s.a = alu(&r, BPF_OP(c), s.a, BPF_SRC(c) == BPF_X ? s.x : av_const(k));
			flow_to(st, len, pc + 1, &s, &r);
			break;
		case BPF_JMP: {
			unsigned ways;

			if (BPF_OP(c) == BPF_JA) {
				flow_to(st, len, pc + 1 + k, &s, &r);
				break;
			}
			ways = jump_ways(BPF_OP(c), s.a, BPF_SRC(c) == BPF_X ? s.x : av_const(k));
			if (ways & 2)
				flow_to(st, len, pc + 1 + in[pc].jt, &s, &r);
			if (ways & 1)
				flow_to(st, len, pc + 1 + in[pc].jf, &s, &r);
			break;
		}
		case BPF_RET:
			break;
		case BPF_MISC:
			if (BPF_MISCOP(c) == BPF_TAX)
				s.x = s.a;
			else
				s.a = s.x;
			flow_to(st, len, pc + 1, &s, &r);
			break;
		default:
			r.bad = true;
			break;
		}
	}
	free(st);
	if (r.bad)
		return false;
	memcpy(key, r.key, r.nkey * sizeof(key[0]));
	*nkey = r.nkey;
	*need = r.need;
	return true;
}

void rule_memo_plan(const struct rule_set *rs, int cls, struct rule_memo_plan *plan)
{
	size_t n = rule_set_count(rs);

	memset(plan, 0, sizeof(*plan));
	for (size_t i = 0; i < n && i < RULE_MEMO_MAX_RULES; i++) {
		const struct rule *r = rule_set_get(rs, i);
		uint16_t key[RULE_MEMO_KEY_BYTES];
		struct rule_memo_plan p = *plan;
		uint32_t need;
		uint8_t nkey;

		if (!r->filter || !rule_memo_filter(r->filter, cls, key, &nkey, &need))
			continue;
		/* Merge its changing bytes into the plan's key, if they fit. */
		for (unsigned j = 0; j < nkey; j++) {
			unsigned q = 0;

			while (q < p.nkey && p.key[q] != key[j])
				q++;
			if (q < p.nkey)
				continue;
			if (p.nkey == RULE_MEMO_KEY_BYTES)
				goto next;
			p.key[p.nkey++] = key[j];
		}
		p.rules = (uint16_t)(p.rules | 1u << i);
		if (need > p.need)
			p.need = need;
		*plan = p;
next:;
	}
	/* The unused key bytes read the protocol byte, the same in every packet of the class. */
	for (unsigned q = plan->nkey; q < RULE_MEMO_KEY_BYTES; q++)
		plan->key[q] = cls == RULE_MEMO_TCP6 || cls == RULE_MEMO_UDP6 ? 6 : 9;
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
