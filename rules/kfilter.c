// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcap/bpf.h>

#include "bpfwalk.h"
#include "filter.h"
#include "kfilter.h"
#include "memo.h"
#include "rule.h"
#include "strbuf.h"

struct hook {
	enum kfilter_scope scope;
	unsigned n;
	char *bytecode[KFILTER_MAX_PROGS];
	int proto4[KFILTER_MAX_PROGS];	/* kfilter_proto4() of each */
	unsigned nsets;
	struct kfilter_portset set[KFILTER_MAX_SETS];	/* each set's ranges are owned */
};

/* Reasons, the first KFILTER_MAX_REASONS kept, all counted. */
struct reasons {
	char *r[KFILTER_MAX_REASONS];
	size_t n;
	bool oom;
};

struct kfilter {
	struct hook hook[KFILTER_NHOOKS];
	struct reasons why;
	unsigned avail;		/* the hooks jumped from: bit (1 << enum pkt_dir) */
};

/* Protocols and sides of a port test, as bits. */
#define P_TCP 1u
#define P_UDP 2u
#define P_SCTP 4u
#define P_ALL (P_TCP | P_UDP | P_SCTP)
#define S_SRC 1u
#define S_DST 2u
#define S_ALL (S_SRC | S_DST)

/* One port test of a filter: "[proto] [side] port lo" or "... portrange lo-hi". */
struct pterm {
	uint8_t protos, sides;
	bool range;
	uint16_t lo, hi;
};

/* A filter that is nothing but port tests, or'ed. */
struct pterms {
	struct pterm *t;
	size_t n;
};

/* A hook's filters before they are compiled together: the texts and whose they are. */
struct pending {
	char **text;
	const char **rule;	/* the name of the rule each text comes from (borrowed) */
	const struct pterms **ports;	/* its port tests, if it is one (borrowed), else NULL */
	size_t n, cap;
};

static const char *const hook_names[KFILTER_NHOOKS] = { "in", "out", "fwd" };

const char *kfilter_hook_name(enum pkt_dir hook)
{
	return (unsigned)hook < KFILTER_NHOOKS ? hook_names[hook] : "?";
}

const char *kfilter_scope_name(enum kfilter_scope s)
{
	return s == KFILTER_ALL ? "all" : s == KFILTER_SOME ? "filtered" : "none";
}

static void reason(struct reasons *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void reason(struct reasons *w, const char *fmt, ...)
{
	va_list ap;
	char *s;

	if (w->n++ >= KFILTER_MAX_REASONS)
		return;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0) {
		s = NULL;
		w->oom = true;
	}
	va_end(ap);
	w->r[w->n - 1] = s;
	if (!s)
		w->n--;
}

static void reasons_free(struct reasons *w)
{
	for (size_t i = 0; i < w->n && i < KFILTER_MAX_REASONS; i++)
		free(w->r[i]);
	w->n = 0;
}

/* Append from's reasons to to's (as many as it keeps); from is emptied. */
static void reasons_move(struct reasons *to, struct reasons *from)
{
	for (size_t i = 0; i < from->n; i++) {
		char *s = i < KFILTER_MAX_REASONS ? from->r[i] : NULL;

		/* One that from only counted can only be counted (a kept one is never NULL). */
		if (!s && to->n < KFILTER_MAX_REASONS)
			continue;
		if (to->n < KFILTER_MAX_REASONS)
			to->r[to->n] = s;
		else
			free(s);
		to->n++;
	}
	to->oom |= from->oom;
	from->n = 0;
}

/* "in, out" for a mask of hooks, into buf. */
static const char *hooks_text(unsigned mask, char *buf, size_t size)
{
	size_t off = 0;

	buf[0] = 0;
	for (unsigned h = 0; h < KFILTER_NHOOKS; h++)
		if (mask & 1u << h)
			off += (size_t)snprintf(buf + off, size - off, "%s%s", off ? ", " : "", hook_names[h]);
	return buf;
}

/* ---- what the kernel runs ---- */

static bool cond_jump(uint16_t code)
{
	switch (BPF_OP(code)) {
	case BPF_JEQ:
	case BPF_JGT:
	case BPF_JGE:
	case BPF_JSET:
		return true;
	default:
		return false;
	}
}

/* Is the opcode one the kernel's classic BPF knows (net/core/filter.c, codes[])? */
static bool known_code(uint16_t c)
{
	switch (BPF_CLASS(c)) {
	case BPF_ALU:
		if (c == (BPF_ALU | BPF_NEG))
			return true;
		switch (BPF_OP(c)) {
		case BPF_ADD: case BPF_SUB: case BPF_MUL: case BPF_DIV: case BPF_MOD:
		case BPF_AND: case BPF_OR: case BPF_XOR: case BPF_LSH: case BPF_RSH:
			return c == (BPF_ALU | BPF_OP(c) | BPF_K) || c == (BPF_ALU | BPF_OP(c) | BPF_X);
		default:
			return false;
		}
	case BPF_LD:
		if (BPF_MODE(c) == BPF_ABS || BPF_MODE(c) == BPF_IND)
			return BPF_SIZE(c) == BPF_W || BPF_SIZE(c) == BPF_H || BPF_SIZE(c) == BPF_B;
		return c == (BPF_LD | BPF_W | BPF_LEN) || c == (BPF_LD | BPF_IMM) ||
		       c == (BPF_LD | BPF_MEM);
	case BPF_LDX:
		return c == (BPF_LDX | BPF_W | BPF_IMM) || c == (BPF_LDX | BPF_W | BPF_MEM) ||
		       c == (BPF_LDX | BPF_W | BPF_LEN) || c == (BPF_LDX | BPF_B | BPF_MSH);
	case BPF_ST:
		return c == BPF_ST;
	case BPF_STX:
		return c == BPF_STX;
	case BPF_MISC:
		return c == (BPF_MISC | BPF_TAX) || c == (BPF_MISC | BPF_TXA);
	case BPF_RET:
		return c == (BPF_RET | BPF_K) || c == (BPF_RET | BPF_A);
	case BPF_JMP:
		if (c == (BPF_JMP | BPF_JA))
			return true;
		return cond_jump(c) && (BPF_SRC(c) == BPF_K || BPF_SRC(c) == BPF_X) &&
		       c == (BPF_JMP | BPF_OP(c) | BPF_SRC(c));
	default:
		return false;
	}
}

static bool mem_access(uint16_t c)
{
	return c == BPF_ST || c == BPF_STX || c == (BPF_LD | BPF_MEM) || c == (BPF_LDX | BPF_MEM);
}

/* One instruction, on its own. NULL if the kernel takes it. */
static const char *check_one(const struct bpf_insn *in, unsigned pc, unsigned n)
{
	uint16_t c = in->code;

	if (!known_code(c))
		return "an opcode the kernel does not know";
	if (BPF_CLASS(c) == BPF_ALU && BPF_SRC(c) == BPF_K && in->k == 0 &&
	    (BPF_OP(c) == BPF_DIV || BPF_OP(c) == BPF_MOD))
		return "a division by zero";
	if (BPF_CLASS(c) == BPF_ALU && BPF_SRC(c) == BPF_K && in->k >= 32 &&
	    (BPF_OP(c) == BPF_LSH || BPF_OP(c) == BPF_RSH))
		return "a shift by 32 or more";
	if (mem_access(c) && in->k >= BPF_MEMWORDS)
		return "a scratch memory cell out of range";
	/*
	 * The kernel reads a negative offset as one of its ancillary fields
	 * (SKF_AD_OFF, SKF_NET_OFF): not the out-of-range load libpcap's
	 * interpreter answers "no match".
	 */
	if (BPF_CLASS(c) == BPF_LD && (BPF_MODE(c) == BPF_ABS || BPF_MODE(c) == BPF_IND) &&
	    in->k >= 0x80000000u)
		return "a load at a negative offset (the kernel's ancillary data)";
	if (c == (BPF_JMP | BPF_JA) && (uint64_t)in->k >= (uint64_t)n - pc - 1)
		return "a jump past the end";
	if (BPF_CLASS(c) == BPF_JMP && c != (BPF_JMP | BPF_JA) &&
	    (pc + 1u + in->jt >= n || pc + 1u + in->jf >= n))
		return "a jump past the end";
	return NULL;
}

int kfilter_check(const struct bpf_insn *in, unsigned n, const char **why)
{
	uint16_t masks[KFILTER_MAX_INSNS], valid = 0;

	*why = NULL;
	if (!n || n > KFILTER_MAX_INSNS) {
		*why = n ? "longer than the bpf match takes" : "an empty program";
		return -EINVAL;
	}
	for (unsigned pc = 0; pc < n; pc++) {
		*why = check_one(&in[pc], pc, n);
		if (*why)
			return -EINVAL;
	}
	if (BPF_CLASS(in[n - 1].code) != BPF_RET) {
		*why = "no return at the end";
		return -EINVAL;
	}
	/*
	 * Scratch memory read before every path wrote it is refused: the
	 * kernel's check_load_and_stores, the same walk (jumps only go
	 * forward, so one pass in order sees every way into an instruction).
	 */
	memset(masks, 0xff, sizeof(masks));
	for (unsigned pc = 0; pc < n; pc++) {
		uint16_t c = in[pc].code;

		valid &= masks[pc];
		if (c == BPF_ST || c == BPF_STX) {
			valid |= (uint16_t)(1u << in[pc].k);
		} else if (c == (BPF_LD | BPF_MEM) || c == (BPF_LDX | BPF_MEM)) {
			if (!(valid & 1u << in[pc].k)) {
				*why = "scratch memory read before it is written";
				return -EINVAL;
			}
		} else if (c == (BPF_JMP | BPF_JA)) {
			masks[pc + 1 + in[pc].k] &= valid;
			valid = 0xffff;
		} else if (BPF_CLASS(c) == BPF_JMP) {
			masks[pc + 1 + in[pc].jt] &= valid;
			masks[pc + 1 + in[pc].jf] &= valid;
			valid = 0xffff;
		}
	}
	return 0;
}

/* ---- the IPv4 protocols a program can accept ---- */

/*
 * A 32-bit value of which some bits are known: 'm' has the unknown bits,
 * 'v' the known ones (0 where unknown). Enough to follow libpcap's
 * programs through the version test ("ldb [0]; and #0xf0; jeq #0x40")
 * and the protocol test ("ldb [9]; jeq #P") with the rest unknown.
 */
struct kval {
	uint32_t v, m;
};

static const struct kval unknown = { 0, 0xffffffffu };

static struct kval known(uint32_t v)
{
	return (struct kval){ v, 0 };
}

static struct kval kval_join(struct kval a, struct kval b)
{
	uint32_t m = a.m | b.m | (a.v ^ b.v);

	return (struct kval){ a.v & ~m, m };
}

/* The state before an instruction, the join of the paths into it. */
struct kstate {
	struct kval a, x, mem[BPF_MEMWORDS];
};

static void state_join(void *into, const void *from)
{
	struct kstate *to = into;
	const struct kstate *s = from;

	to->a = kval_join(to->a, s->a);
	to->x = kval_join(to->x, s->x);
	for (unsigned i = 0; i < BPF_MEMWORDS; i++)
		to->mem[i] = kval_join(to->mem[i], s->mem[i]);
}

/* An IPv4 packet of protocol 'proto': byte 0 is 0x4?, byte 9 the protocol, the rest unknown. */
static struct kval ip4_load(uint32_t off, unsigned size, uint8_t proto)
{
	struct kval r = known(0);

	for (unsigned i = 0; i < size; i++) {
		struct kval b = { 0, 0xff };

		if (off + i == 0)
			b = (struct kval){ 0x40, 0x0f };
		else if (off + i == 9)
			b = known(proto);
		r = (struct kval){ r.v << 8 | b.v, r.m << 8 | b.m };
	}
	return r;
}

static struct kval alu(uint16_t op, struct kval a, struct kval b)
{
	if (op == BPF_AND)
		return (struct kval){ a.v & b.v, (a.m | b.m) & (a.v | a.m) & (b.v | b.m) };
	if (op == BPF_OR)
		return (struct kval){ a.v | b.v, (a.m | b.m) & ~(a.v | b.v) };
	if (a.m || b.m)
		return unknown;
	switch (op) {
	case BPF_ADD: return known(a.v + b.v);
	case BPF_SUB: return known(a.v - b.v);
	case BPF_MUL: return known(a.v * b.v);
	case BPF_DIV: return b.v ? known(a.v / b.v) : unknown;
	case BPF_MOD: return b.v ? known(a.v % b.v) : unknown;
	case BPF_XOR: return known(a.v ^ b.v);
	case BPF_LSH: return b.v < 32 ? known(a.v << b.v) : unknown;
	case BPF_RSH: return b.v < 32 ? known(a.v >> b.v) : unknown;
	case BPF_NEG: return known(-a.v);
	default: return unknown;
	}
}

/* Can the jump go its true way (*t), its false way (*f)? */
static void branch(uint16_t op, struct kval a, struct kval k, bool *t, bool *f)
{
	uint32_t lo = a.v, hi = a.v | a.m;

	*t = *f = true;
	if (k.m)
		return;
	switch (op) {
	case BPF_JEQ:
		if ((a.v ^ k.v) & ~a.m)
			*t = false;
		else if (!a.m)
			*f = false;
		break;
	case BPF_JGT:
		*t = hi > k.v;
		*f = lo <= k.v;
		break;
	case BPF_JGE:
		*t = hi >= k.v;
		*f = lo < k.v;
		break;
	case BPF_JSET:
		*t = (hi & k.v) != 0;
		*f = !(lo & k.v);
		break;
	}
}

/* One instruction over an IPv4 packet of protocol *data (bpfwalk_step_cb). */
static int step(const struct bpf_insn *in, void *state, void *taken, void *data)
{
	struct kstate *s = state;
	uint8_t proto = *(const uint8_t *)data;
	uint16_t c = in->code;
	struct kval k = known(in->k);
	bool t, f;

	(void)taken;	/* a jump taken tells this domain nothing more */
	switch (BPF_CLASS(c)) {
	case BPF_RET:
		/* A path that may accept answers the question. */
		if (BPF_RVAL(c) == BPF_A ? (s->a.v | s->a.m) != 0 : in->k != 0)
			return BPFWALK_STOP;
		return 0;
	case BPF_JMP:
		if (c == (BPF_JMP | BPF_JA))
			return BPFWALK_NEXT;
		branch(BPF_OP(c), s->a, BPF_SRC(c) == BPF_X ? s->x : k, &t, &f);
		return (t ? BPFWALK_JT : 0) | (f ? BPFWALK_JF : 0);
	case BPF_LD:
		if (BPF_MODE(c) == BPF_ABS)
			s->a = ip4_load(in->k, BPF_SIZE(c) == BPF_W ? 4 : BPF_SIZE(c) == BPF_H ? 2 : 1, proto);
		else if (BPF_MODE(c) == BPF_IMM)
			s->a = k;
		else if (BPF_MODE(c) == BPF_MEM)
			s->a = s->mem[in->k % BPF_MEMWORDS];
		else
			s->a = unknown;	/* indirect, length */
		break;
	case BPF_LDX:
		s->x = BPF_MODE(c) == BPF_IMM ? k : BPF_MODE(c) == BPF_MEM ?
		       s->mem[in->k % BPF_MEMWORDS] : unknown;
		break;
	case BPF_ST:
		s->mem[in->k % BPF_MEMWORDS] = s->a;
		break;
	case BPF_STX:
		s->mem[in->k % BPF_MEMWORDS] = s->x;
		break;
	case BPF_ALU:
		s->a = alu(BPF_OP(c), s->a, BPF_SRC(c) == BPF_X ? s->x : k);
		break;
	case BPF_MISC:
		if (BPF_MISCOP(c) == BPF_TAX)
			s->x = s->a;
		else
			s->a = s->x;
		break;
	}
	return BPFWALK_NEXT;
}

static const struct bpfwalk_ops walk_ops = {
	.size = sizeof(struct kstate),
	.join = state_join,
	.step = step,
};

/*
 * Could the program accept an IPv4 packet of this protocol? Joins and
 * unknown bytes only add paths, so "no" is exact and "yes" may be too
 * wide; a program the walk refuses (a jump past the end: kfilter_check
 * refuses it first) may accept anything.
 */
static bool may_accept(const struct bpf_insn *in, unsigned n, uint8_t proto)
{
	struct kstate init = { .a = known(0), .x = known(0) };

	for (unsigned i = 0; i < BPF_MEMWORDS; i++)
		init.mem[i] = unknown;
	return bpfwalk_run(in, n, &walk_ops, &init, &proto) != 0;
}

int kfilter_proto4(const struct bpf_insn *in, unsigned n)
{
	int found = KFILTER_PROTO_NONE;

	if (!n || n > KFILTER_MAX_INSNS)
		return KFILTER_PROTO_ANY;
	for (unsigned p = 0; p < 256; p++) {
		if (!may_accept(in, n, (uint8_t)p))
			continue;
		/* iptables reads protocol 0 as "any". */
		if (found != KFILTER_PROTO_NONE || p == 0)
			return KFILTER_PROTO_ANY;
		found = (int)p;
	}
	return found;
}

/* ---- rules to texts ---- */

/* Does the rule need the tracker's view of both directions of its connections? */
static bool serves_tracker(const struct rule *r)
{
	if (r->from_byte || rule_has_tracker_cond(r))
		return true;
	/* reset's sequence numbers are each endpoint's RCV.NXT, as the tracker saw the other side. */
	for (unsigned i = 0; i < r->n_actions; i++)
		if (r->actions[i].type == RULE_ACT_RESET)
			return true;
	return false;
}

/*
 * Is the filter's result the same for every packet of a flow direction:
 * does it read, in each packet class, nothing but the protocol,
 * addresses and ports? Then queuing what it matches queues each flow
 * direction whole or not at all, and the ordinals seeded decisions use
 * are today's.
 */
static bool flow_decided(const struct rule_filter *f)
{
	for (int cls = 0; cls < RULE_MEMO_NCLASS; cls++) {
		struct rule_memo_reads rd;

		if (!rule_memo_filter(f, cls, &rd) || rd.nkey)
			return false;
	}
	return true;
}

/* The end of a pcap-filter word: blanks, parentheses and the operators' characters. */
static size_t word_len(const char *s)
{
	return strcspn(s, " \t\r\n()!&|");
}

char *kfilter_mirror(const char *filter)
{
	struct strbuf b = { 0 };
	const char *s = filter;

	/* Byte offsets name a side without saying so; these two test the destination only. */
	if (strchr(filter, '['))
		return NULL;
	while (*s) {
		size_t n = word_len(s);

		if (!n) {
			strbuf_add(&b, s, 1);
			s++;
			continue;
		}
		if ((n == 9 && !memcmp(s, "multicast", 9)) || (n == 9 && !memcmp(s, "broadcast", 9))) {
			strbuf_free(&b);
			return NULL;
		}
		if (n == 3 && !memcmp(s, "src", 3))
			strbuf_add(&b, "dst", 3);
		else if (n == 3 && !memcmp(s, "dst", 3))
			strbuf_add(&b, "src", 3);
		else
			strbuf_add(&b, s, n);
		s += n;
	}
	strbuf_add(&b, "", 0);
	if (b.oom) {
		strbuf_free(&b);
		errno = ENOMEM;
		return NULL;
	}
	return strbuf_take(&b);
}

/*
 * The text whose matches the kernel queues for a rule the tracker serves:
 * its filter, and the other direction of every TCP flow it matches.
 * *whole: no mirror could be written, every TCP packet is queued.
 */
static char *both_ways(const char *filter, bool *whole)
{
	char *m = kfilter_mirror(filter), *out;
	int ret;

	*whole = !m;
	if (m)
		ret = asprintf(&out, "(%s) or (tcp and (%s))", filter, m);
	else
		ret = asprintf(&out, "(%s) or tcp", filter);
	free(m);
	return ret < 0 ? NULL : out;
}

static int pending_add(struct pending *p, const char *text, const char *rule, const struct pterms *ports)
{
	for (size_t i = 0; i < p->n; i++)
		if (!strcmp(p->text[i], text))
			return 0;
	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 8;
		char **t = realloc(p->text, cap * sizeof(*t));

		if (!t)
			return -ENOMEM;
		p->text = t;
		const char **r = realloc(p->rule, cap * sizeof(*r));

		if (!r)
			return -ENOMEM;
		p->rule = r;
		const struct pterms **pt = realloc(p->ports, cap * sizeof(*pt));

		if (!pt)
			return -ENOMEM;
		p->ports = pt;
		p->cap = cap;
	}
	p->text[p->n] = strdup(text);
	if (!p->text[p->n])
		return -ENOMEM;
	p->ports[p->n] = ports;
	p->rule[p->n++] = rule;
	return 0;
}

static void pending_free(struct pending *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->text[i]);
	free(p->text);
	free(p->rule);
	free(p->ports);
}

/* ---- filters that are port tests only ---- */

/*
 * The next word of a filter into w (at most size - 1 bytes): parentheses
 * are skipped (with nothing but "or" between tests they group nothing),
 * "||" is "or". Returns its length, 0 at the end, -1 at anything else
 * ("!", "&&", a word too long).
 */
static int next_word(const char **s, char *w, size_t size)
{
	const char *p = *s;
	size_t n;

	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' || *p == '(' || *p == ')')
		p++;
	if (!*p)
		return 0;
	if (p[0] == '|' && p[1] == '|') {
		*s = p + 2;
		snprintf(w, size, "or");
		return 2;
	}
	n = word_len(p);
	if (!n || n >= size)
		return -1;
	memcpy(w, p, n);
	w[n] = 0;
	*s = p + n;
	return (int)n;
}

/* A port number as written in decimal, 0-65535. libpcap may read it otherwise: it judges. */
static bool port_number(const char *w, uint16_t *port)
{
	unsigned long v = 0;

	if (!*w)
		return false;
	for (; *w; w++) {
		if (*w < '0' || *w > '9' || v > 65535)
			return false;
		v = v * 10 + (unsigned long)(*w - '0');
	}
	if (v > 65535)
		return false;
	*port = (uint16_t)v;
	return true;
}

/* "A-B" into the term; the text's order is kept (libpcap judges what it makes of B < A). */
static bool port_range(const char *w, struct pterm *t)
{
	char a[8];
	const char *dash = strchr(w, '-');

	if (!dash || (size_t)(dash - w) >= sizeof(a))
		return false;
	memcpy(a, w, (size_t)(dash - w));
	a[dash - w] = 0;
	return port_number(a, &t->lo) && port_number(dash + 1, &t->hi);
}

/*
 * Read filter as "[tcp|udp|sctp] [src|dst] (port N | portrange A-B)"
 * terms joined by "or"; a bare number (or range) after "or" takes the
 * qualifiers of the term before it, as libpcap's grammar does. Anything
 * else: false. The reading is a guess until libpcap confirms it
 * (ports_confirmed).
 */
static bool ports_parse(const char *filter, struct pterms *out)
{
	const char *s = filter;
	struct pterm t = { 0 };
	char w[32];
	int n;

	out->t = NULL;
	out->n = 0;
	for (;;) {
		n = next_word(&s, w, sizeof(w));
		if (n <= 0)
			goto refuse;
		if (out->n && (w[0] >= '0' && w[0] <= '9')) {
			/* t still holds the term before: its qualifiers carry over. */
			if (t.range ? !port_range(w, &t) : !port_number(w, &t.lo))
				goto refuse;
			if (!t.range)
				t.hi = t.lo;
		} else {
			t = (struct pterm){ .protos = P_ALL, .sides = S_ALL };
			if (!strcmp(w, "tcp") || !strcmp(w, "udp") || !strcmp(w, "sctp")) {
				t.protos = w[0] == 't' ? P_TCP : w[0] == 'u' ? P_UDP : P_SCTP;
				if (next_word(&s, w, sizeof(w)) <= 0)
					goto refuse;
			}
			if (!strcmp(w, "src") || !strcmp(w, "dst")) {
				t.sides = w[0] == 's' ? S_SRC : S_DST;
				if (next_word(&s, w, sizeof(w)) <= 0)
					goto refuse;
			}
			t.range = !strcmp(w, "portrange");
			if (!t.range && strcmp(w, "port"))
				goto refuse;
			if (next_word(&s, w, sizeof(w)) <= 0)
				goto refuse;
			if (t.range ? !port_range(w, &t) : !port_number(w, &t.lo))
				goto refuse;
			if (!t.range)
				t.hi = t.lo;
		}
		struct pterm *grown = realloc(out->t, (out->n + 1) * sizeof(*grown));

		if (!grown)
			goto refuse;
		out->t = grown;
		out->t[out->n++] = t;
		n = next_word(&s, w, sizeof(w));
		if (!n)
			return true;
		if (n < 0 || strcmp(w, "or"))
			goto refuse;
	}
refuse:
	free(out->t);
	out->t = NULL;
	out->n = 0;
	return false;
}

/* The terms written back in full, each with its own qualifiers: the reading, as text. */
static char *ports_text(const struct pterms *pt)
{
	struct strbuf b = { 0 };

	for (size_t i = 0; i < pt->n; i++) {
		const struct pterm *t = &pt->t[i];

		strbuf_printf(&b, "%s%s%s", i ? " or " : "",
			      t->protos == P_TCP ? "tcp " : t->protos == P_UDP ? "udp " : t->protos == P_SCTP ? "sctp " : "",
			      t->sides == S_SRC ? "src " : t->sides == S_DST ? "dst " : "");
		if (t->range)
			strbuf_printf(&b, "portrange %u-%u", t->lo, t->hi);
		else
			strbuf_printf(&b, "port %u", t->lo);
	}
	strbuf_add(&b, "", 0);
	if (b.oom) {
		strbuf_free(&b);
		return NULL;
	}
	return strbuf_take(&b);
}

/*
 * Does text b compile (as the rules' filters do) to a's program (the
 * rule's filter, compiled from its text), instruction for instruction?
 */
static bool same_program(const struct rule_filter *a, const char *b)
{
	struct rule_filter *fb = NULL;
	const struct bpf_insn *ia, *ib;
	unsigned na, nb;
	char msg[256];
	bool same = false;

	if (rule__filter_compile(b, &fb, msg, sizeof(msg)))
		return false;
	ia = rule__filter_insns(a, &na);
	ib = rule__filter_insns(fb, &nb);
	same = na == nb && !memcmp(ia, ib, na * sizeof(*ia));
	rule__filter_free(fb);
	return same;
}

/*
 * Is filter a port test that sets can hold? The hand reading must be
 * libpcap's: written back as text, it must compile to the very program
 * the filter compiles to, else the filter stays a program. The ranges
 * are then what libpcap tests, low to high (its portrange takes B-A as
 * A-B): sorted here.
 */
static bool ports_confirmed(const char *filter, const struct rule_filter *compiled, struct pterms *out)
{
	char *canon;
	bool ok;

	if (!ports_parse(filter, out))
		return false;
	canon = ports_text(out);
	ok = canon && same_program(compiled, canon);
	free(canon);
	if (!ok) {
		free(out->t);
		out->t = NULL;
		out->n = 0;
		return false;
	}
	for (size_t i = 0; i < out->n; i++)
		if (out->t[i].lo > out->t[i].hi) {
			uint16_t lo = out->t[i].hi;

			out->t[i].hi = out->t[i].lo;
			out->t[i].lo = lo;
		}
	return true;
}

/*
 * A hook's port tests while they are gathered: a bitmap of 65536 ports
 * per protocol (TCP, UDP) and side (src, dst), and whether SCTP is named.
 */
struct portmap {
	uint8_t *bits[4];	/* [proto * 2 + side], proto 0 TCP, 1 UDP; NULL: empty */
	bool sctp;
};

static int portmap_add(struct portmap *m, const struct pterms *pt)
{
	for (size_t i = 0; i < pt->n; i++) {
		const struct pterm *t = &pt->t[i];

		if (t->protos & P_SCTP)
			m->sctp = true;
		for (unsigned b = 0; b < 4; b++) {
			if (!(t->protos & (b / 2 ? P_UDP : P_TCP)) || !(t->sides & (b % 2 ? S_DST : S_SRC)))
				continue;
			if (!m->bits[b] && !(m->bits[b] = calloc(1, 65536 / 8)))
				return -ENOMEM;
			for (uint32_t port = t->lo; port <= t->hi; port++)
				m->bits[b][port / 8] |= (uint8_t)(1u << port % 8);
		}
	}
	return 0;
}

static void portmap_free(struct portmap *m)
{
	for (unsigned b = 0; b < 4; b++)
		free(m->bits[b]);
}

static bool bit(const uint8_t *bits, uint32_t port)
{
	return bits[port / 8] & 1u << port % 8;
}

/* The map as the hook's sets, its ranges merged. Returns 0 or -ENOMEM. */
static int portmap_sets(const struct portmap *m, struct hook *hk)
{
	for (unsigned b = 0; b < 4; b++) {
		struct kfilter_portset *set = &hk->set[hk->nsets];
		struct kfilter_range *r = NULL;
		unsigned n = 0, cap = 0;

		if (!m->bits[b])
			continue;
		for (uint32_t port = 0; port < 65536; port++) {
			uint32_t lo = port;

			if (!bit(m->bits[b], port))
				continue;
			while (port + 1 < 65536 && bit(m->bits[b], port + 1))
				port++;
			if (n == cap) {
				struct kfilter_range *g = realloc(r, (cap = cap ? 2 * cap : 16) * sizeof(*g));

				if (!g) {
					free(r);
					return -ENOMEM;
				}
				r = g;
			}
			r[n++] = (struct kfilter_range){ (uint16_t)lo, (uint16_t)port };
		}
		*set = (struct kfilter_portset){ .proto = b / 2 ? 17 : 6, .side = b % 2 ? KFILTER_DST : KFILTER_SRC,
						 .n = n, .r = r };
		hk->nsets++;
	}
	if (m->sctp)
		hk->set[hk->nsets++] = (struct kfilter_portset){ .proto = 132, .side = KFILTER_DST, .whole = true };
	return 0;
}

/* ---- texts to programs ---- */

/*
 * Compile text as the rules' filters are compiled (DLT_RAW) and, if the
 * bpf match can run it as it is, write its --bytecode form into *out.
 * Returns 0, -E2BIG (too long: *len says how long), -EINVAL (*why) or -ENOMEM.
 */
static int compile(const char *text, char **out, unsigned *len, const char **why)
{
	struct rule_filter *f;
	const struct bpf_insn *in;
	struct strbuf b = { 0 };
	char msg[256];
	int ret;

	*out = NULL;
	*why = NULL;
	ret = rule__filter_compile(text, &f, msg, sizeof(msg));
	if (ret) {
		*why = "libpcap cannot compile it";
		return ret;
	}
	in = rule__filter_insns(f, len);
	if (*len > KFILTER_MAX_INSNS) {
		ret = -E2BIG;
		goto out;
	}
	ret = kfilter_check(in, *len, why);
	if (ret)
		goto out;
	strbuf_printf(&b, "%u", *len);
	for (unsigned i = 0; i < *len; i++)
		strbuf_printf(&b, ",%u %u %u %u", in[i].code, in[i].jt, in[i].jf, in[i].k);
	strbuf_add(&b, "", 0);
	if (b.oom) {
		strbuf_free(&b);
		ret = -ENOMEM;
		goto out;
	}
	*out = strbuf_take(&b);
out:
	rule__filter_free(f);
	return ret;
}

/*
 * A program of the hook, its --bytecode text taken over, and its protocol
 * (kfilter_proto4), read back from the text: only the programs kept pay
 * for the analysis, not every trial of pack()'s.
 */
static void push(struct hook *hk, char *code)
{
	struct bpf_insn in[KFILTER_MAX_INSNS];
	const char *p = code;
	char *end;
	unsigned long n = strtoul(p, &end, 10), i;

	/* compile() wrote it: "N,code jt jf k,..." with N <= KFILTER_MAX_INSNS. */
	for (i = 0, p = end; i < n && i < KFILTER_MAX_INSNS && *p == ','; i++) {
		unsigned long f[4];

		p++;
		for (int j = 0; j < 4; j++) {
			f[j] = strtoul(p, &end, 10);
			p = end;
		}
		in[i] = (struct bpf_insn){ .code = (uint16_t)f[0], .jt = (uint8_t)f[1], .jf = (uint8_t)f[2],
					   .k = (uint32_t)f[3] };
	}
	hk->proto4[hk->n] = i == n && !*p ? kfilter_proto4(in, (unsigned)n) : KFILTER_PROTO_ANY;
	hk->bytecode[hk->n++] = code;
}

/* Free the hook's programs and sets: it holds none after. */
static void hook_clear(struct hook *hk)
{
	for (unsigned i = 0; i < hk->n; i++)
		free(hk->bytecode[i]);
	for (unsigned i = 0; i < hk->nsets; i++)
		free((void *)hk->set[i].r);
	hk->n = 0;
	hk->nsets = 0;
}

static void hook_all(struct hook *hk)
{
	hook_clear(hk);
	hk->scope = KFILTER_ALL;
}

/*
 * Pack the hook's texts into as few programs as the match takes: each
 * text joins the program being built while "(built) or (text)" still
 * fits, else starts the next one. libpcap's optimiser shares the tests
 * of the version and the protocol, so several port filters fit in one.
 */
static int pack(struct hook *hk, unsigned h, const struct pending *p, bool ports, unsigned limit,
		struct reasons *w)
{
	char *cur = NULL, *cur_code = NULL, *code;
	const char *why;
	unsigned len;
	int ret = 0;

	for (size_t i = 0; i < p->n && hk->scope != KFILTER_ALL; i++) {
		/* Without 'ports', the port tests are left to sets. */
		if (!ports && p->ports[i])
			continue;
		if (cur) {
			char *both;

			if (asprintf(&both, "(%s) or (%s)", cur, p->text[i]) < 0) {
				ret = -ENOMEM;
				break;
			}
			ret = compile(both, &code, &len, &why);
			if (!ret) {
				free(cur);
				free(cur_code);
				cur = both;
				cur_code = code;
				continue;
			}
			free(both);
			if (ret == -ENOMEM)
				break;
			/* It does not fit: the program built so far is done. */
			ret = 0;
			if (hk->n == limit) {
				reason(w, "the rules' filters need more than %u bpf programs at %s: "
					  "every packet there is queued", limit, hook_names[h]);
				hook_all(hk);
				break;
			}
			push(hk, cur_code);
			free(cur);
			cur = NULL;
			cur_code = NULL;
		}
		ret = compile(p->text[i], &code, &len, &why);
		if (ret == -ENOMEM)
			break;
		if (ret == -E2BIG)
			reason(w, "%s: its filter compiles to %u bpf instructions, over the bpf match's %d: "
				  "every packet at %s is queued", p->rule[i], len, KFILTER_MAX_INSNS, hook_names[h]);
		else if (ret)
			reason(w, "%s: the kernel cannot run its filter as compiled (%s): every packet at "
				  "%s is queued", p->rule[i], why, hook_names[h]);
		if (ret) {
			ret = 0;
			hook_all(hk);
			break;
		}
		cur = strdup(p->text[i]);
		cur_code = code;
		if (!cur) {
			ret = -ENOMEM;
			break;
		}
	}
	if (!ret && cur && hk->scope != KFILTER_ALL) {
		if (hk->n == limit) {
			reason(w, "the rules' filters need more than %u bpf programs at %s: every "
				  "packet there is queued", limit, hook_names[h]);
			hook_all(hk);
		} else {
			push(hk, cur_code);
			cur_code = NULL;
		}
	}
	free(cur);
	free(cur_code);
	if (!ret && hk->scope != KFILTER_ALL)
		hk->scope = hk->n || hk->nsets ? KFILTER_SOME : KFILTER_NONE;
	return ret;
}

/*
 * What one rule asks of the hooks; texts go to pend[h]. With 'ports', a
 * filter of port tests only is read into *pt, which its texts point to.
 */
static int plan_rule(struct kfilter *k, const struct rule *r, unsigned avail, bool track, bool ports,
		     struct pterms *pt, struct pending pend[KFILTER_NHOOKS])
{
	unsigned hooks = r->dir_mask ? r->dir_mask & avail : avail, all = 0;
	bool conn = track && serves_tracker(r), whole = false, is_ports = false;
	char *text = NULL, hbuf[32];
	int ret = 0;

	if (conn)
		hooks = avail;	/* the replies pass the other hooks */
	if (!hooks)
		return 0;
	if (!r->filter) {
		all = hooks;
		reason(&k->why, "%s: it has no filter, so it matches every packet (%s)", r->name,
		       hooks_text(hooks, hbuf, sizeof(hbuf)));
	} else if (!flow_decided(r->filter)) {
		all = hooks;
		reason(&k->why, "%s: its filter reads more than the protocol, addresses and ports, and seeded "
			  "decisions count every packet of a flow: every packet at %s is queued",
		       r->name, hooks_text(hooks, hbuf, sizeof(hbuf)));
	} else {
		const char *expr = rule_filter_source(r);

		text = conn ? both_ways(expr, &whole) : strdup(expr);
		if (!text)
			return -ENOMEM;
		if (conn)
			reason(&k->why, "%s: the tracker serves it: %s queued at %s", r->name,
			       whole ? "every TCP packet is" : "both directions of its connections are",
			       hooks_text(hooks, hbuf, sizeof(hbuf)));
		/* A rule the tracker serves queues more than its filter says: not a port test. */
		else if (ports)
			is_ports = ports_confirmed(expr, r->filter, pt);
	}
	for (unsigned h = 0; h < KFILTER_NHOOKS; h++) {
		if (all & 1u << h)
			k->hook[h].scope = KFILTER_ALL;
		else if (text && hooks & 1u << h && k->hook[h].scope != KFILTER_ALL)
			ret = ret ? ret : pending_add(&pend[h], text, r->name, is_ports ? pt : NULL);
	}
	free(text);
	return ret;
}

/* Jumps a hook makes: a program or a set each. */
static unsigned hook_jumps(const struct hook *hk)
{
	return hk->n + hk->nsets;
}

/*
 * Plan hook h: its texts as programs (today's plan), and, when the
 * caller may use sets or wants to know why not, the same with its port
 * tests as sets. The sets win when the programs would not fit, or when
 * they cost fewer jumps; a tie stays programs.
 *
 * Why the sets queue a superset of what the port tests match: libpcap's
 * "udp port N" reads the port of an IPv4 packet whose fragment offset is
 * 0, and of an IPv6 packet whose next header is UDP itself. The set
 * match (ip_set_get_ip4_port, ip_set_get_ip6_port) reads the same IPv4
 * port and refuses the same non-first fragments, and for IPv6 skips
 * extension headers first (a fragment header among them, refusing
 * non-first fragments): it takes every packet libpcap's test does, and
 * some with extension headers that libpcap's does not. The jump's '-p udp' is
 * the IPv4 protocol, or IPv6's after extension headers: again a
 * superset. SCTP, whose ports bitmap:port does not read, is queued whole.
 */
static int plan_hook(struct kfilter *k, unsigned h, const struct pending *p, const struct kfilter_opts *o)
{
	struct hook *hk = &k->hook[h], alt = { 0 };
	struct reasons why = { 0 }, alt_why = { 0 };
	struct portmap m = { 0 };
	unsigned limit = KFILTER_MAX_PROGS;
	bool any = false, use;
	char hbuf[32];
	int ret = 0;

	for (size_t i = 0; i < p->n && !any; i++)
		any = p->ports[i] != NULL;
	if (!any || !(o->sets || o->no_sets)) {
		ret = pack(hk, h, p, true, KFILTER_MAX_PROGS, &why);
		goto out;
	}
	for (size_t i = 0; i < p->n && !ret; i++)
		if (p->ports[i])
			ret = portmap_add(&m, p->ports[i]);
	if (!ret)
		ret = portmap_sets(&m, &alt);
	if (!ret)
		ret = pack(&alt, h, p, false, KFILTER_MAX_PROGS, &alt_why);
	if (ret)
		goto out;
	/*
	 * All texts as programs only win with fewer jumps than the sets make:
	 * packing stops past that many (1,000 port rules: after two programs,
	 * not sixteen). Without sets the plan must be whole.
	 */
	if (o->sets && alt.scope != KFILTER_ALL && hook_jumps(&alt) < limit)
		limit = hook_jumps(&alt);
	ret = pack(hk, h, p, true, limit, &why);
	if (ret)
		goto out;
	use = alt.scope != KFILTER_ALL &&
	      (hk->scope == KFILTER_ALL || hook_jumps(&alt) < hook_jumps(hk));
	if (use && !o->sets) {
		reason(&why, "port sets cannot be used (%s): the port rules at %s stay bpf programs", o->no_sets,
		       hook_names[h]);
	} else if (use) {
		struct hook lost = *hk;

		*hk = alt;
		alt = lost;
		reasons_free(&why);
		why = alt_why;
		alt_why = (struct reasons){ 0 };
		if (m.sctp)
			reason(&why, "port rules at %s name SCTP, whose ports ipset's bitmap:port cannot read: "
				  "every SCTP packet there is queued", hooks_text(1u << h, hbuf, sizeof(hbuf)));
	}
out:
	hook_clear(&alt);
	reasons_free(&alt_why);
	reasons_move(&k->why, &why);
	portmap_free(&m);
	return ret;
}

struct kfilter *kfilter_new(const struct rule_set *rs, const struct kfilter_opts *o)
{
	struct pending pend[KFILTER_NHOOKS] = { 0 };
	unsigned avail = 1u << PKT_DIR_IN | 1u << PKT_DIR_OUT | (o->forward ? 1u << PKT_DIR_FWD : 0);
	struct kfilter *k = calloc(1, sizeof(*k));
	size_t n = rs ? rule_set_count(rs) : 0;
	bool ports = o->sets || o->no_sets;
	struct pterms *pts = NULL;
	int ret = 0;

	if (!k)
		return NULL;
	k->avail = avail;
	if (o->all) {
		reason(&k->why, "%s: every packet is queued", o->all);
		for (unsigned h = 0; h < KFILTER_NHOOKS; h++)
			if (avail & 1u << h)
				k->hook[h].scope = KFILTER_ALL;
		goto out;
	}
	if (ports && n && !(pts = calloc(n, sizeof(*pts)))) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n && !ret; i++) {
		const struct rule *r = rule_set_get(rs, i);

		if (!r->disabled)
			ret = plan_rule(k, r, avail, o->track, ports, pts ? &pts[i] : NULL, pend);
	}
	for (unsigned h = 0; h < KFILTER_NHOOKS && !ret; h++)
		if (k->hook[h].scope != KFILTER_ALL)
			ret = plan_hook(k, h, &pend[h], o);
out:
	for (unsigned h = 0; h < KFILTER_NHOOKS; h++)
		pending_free(&pend[h]);
	for (size_t i = 0; pts && i < n; i++)
		free(pts[i].t);
	free(pts);
	if (ret || k->why.oom) {
		kfilter_free(k);
		errno = ENOMEM;
		return NULL;
	}
	return k;
}

void kfilter_free(struct kfilter *k)
{
	if (!k)
		return;
	for (unsigned h = 0; h < KFILTER_NHOOKS; h++)
		hook_clear(&k->hook[h]);
	reasons_free(&k->why);
	free(k);
}

enum kfilter_scope kfilter_scope(const struct kfilter *k, enum pkt_dir hook)
{
	return (unsigned)hook < KFILTER_NHOOKS ? k->hook[hook].scope : KFILTER_NONE;
}

unsigned kfilter_count(const struct kfilter *k, enum pkt_dir hook)
{
	return (unsigned)hook < KFILTER_NHOOKS ? k->hook[hook].n : 0;
}

const char *kfilter_bytecode(const struct kfilter *k, enum pkt_dir hook, unsigned i)
{
	return i < kfilter_count(k, hook) ? k->hook[hook].bytecode[i] : NULL;
}

int kfilter_ip4_proto(const struct kfilter *k, enum pkt_dir hook, unsigned i)
{
	return i < kfilter_count(k, hook) ? k->hook[hook].proto4[i] : KFILTER_PROTO_ANY;
}

bool kfilter_filtered(const struct kfilter *k)
{
	for (unsigned h = 0; h < KFILTER_NHOOKS; h++)
		if (k->avail & 1u << h && k->hook[h].scope != KFILTER_ALL)
			return true;
	return false;
}

const char *const *kfilter_reasons(const struct kfilter *k, size_t *n)
{
	*n = k->why.n;
	return (const char *const *)k->why.r;
}

bool kfilter_equal(const struct kfilter *a, const struct kfilter *b)
{
	if (!a || !b)
		return a == b;
	if (a->avail != b->avail)
		return false;
	for (unsigned h = 0; h < KFILTER_NHOOKS; h++) {
		if (a->hook[h].scope != b->hook[h].scope || a->hook[h].n != b->hook[h].n)
			return false;
		for (unsigned i = 0; i < a->hook[h].n; i++)
			if (strcmp(a->hook[h].bytecode[i], b->hook[h].bytecode[i]))
				return false;
		if (a->hook[h].nsets != b->hook[h].nsets)
			return false;
		for (unsigned i = 0; i < a->hook[h].nsets; i++) {
			const struct kfilter_portset *x = &a->hook[h].set[i], *y = &b->hook[h].set[i];

			if (x->proto != y->proto || x->side != y->side || x->whole != y->whole || x->n != y->n ||
			    (x->n && memcmp(x->r, y->r, x->n * sizeof(*x->r))))
				return false;
		}
	}
	return true;
}

unsigned kfilter_nsets(const struct kfilter *k, enum pkt_dir hook)
{
	return (unsigned)hook < KFILTER_NHOOKS ? k->hook[hook].nsets : 0;
}

const struct kfilter_portset *kfilter_set(const struct kfilter *k, enum pkt_dir hook, unsigned i)
{
	return i < kfilter_nsets(k, hook) ? &k->hook[hook].set[i] : NULL;
}

bool kfilter_sets_take(const struct kfilter *k, enum pkt_dir hook, const uint8_t *b, size_t len)
{
	bool v4 = len >= 20 && b[0] >> 4 == 4;
	size_t l4 = v4 ? (size_t)(b[0] & 0xf) * 4 : 40;
	bool later_frag = v4 && ((b[6] & 0x1f) << 8 | b[7]) != 0;

	if (!v4 && (len < 40 || b[0] >> 4 != 6))
		return false;
	for (unsigned i = 0; i < kfilter_nsets(k, hook); i++) {
		const struct kfilter_portset *s = kfilter_set(k, hook, i);
		size_t at = l4 + (s->side == KFILTER_SRC ? 0 : 2);
		uint16_t port;

		if (s->proto != (v4 ? b[9] : b[6]))
			continue;
		if (s->whole)
			return true;
		if (later_frag || at + 2 > len)
			continue;
		port = (uint16_t)(b[at] << 8 | b[at + 1]);
		for (unsigned r = 0; r < s->n; r++)
			if (port >= s->r[r].lo && port <= s->r[r].hi)
				return true;
	}
	return false;
}
