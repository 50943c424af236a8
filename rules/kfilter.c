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
};

struct kfilter {
	struct hook hook[KFILTER_NHOOKS];
	char *reasons[KFILTER_MAX_REASONS];
	size_t n_reasons;
	unsigned avail;		/* the hooks jumped from: bit (1 << enum pkt_dir) */
	bool oom;
};

/* A hook's filters before they are compiled together: the texts and whose they are. */
struct pending {
	char **text;
	const char **rule;	/* the name of the rule each text comes from (borrowed) */
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

static void reason(struct kfilter *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void reason(struct kfilter *k, const char *fmt, ...)
{
	va_list ap;
	char *s;

	if (k->n_reasons++ >= KFILTER_MAX_REASONS)
		return;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0) {
		s = NULL;
		k->oom = true;
	}
	va_end(ap);
	k->reasons[k->n_reasons - 1] = s;
	if (!s)
		k->n_reasons--;
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
	if (r->from_byte)
		return true;
	for (unsigned i = 0; i < r->n_conds; i++)
		if (r->conds[i].type >= RULE_COND__PACKET_ONLY)
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

static int pending_add(struct pending *p, const char *text, const char *rule)
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
		p->cap = cap;
	}
	p->text[p->n] = strdup(text);
	if (!p->text[p->n])
		return -ENOMEM;
	p->rule[p->n++] = rule;
	return 0;
}

static void pending_free(struct pending *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->text[i]);
	free(p->text);
	free(p->rule);
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

static void hook_all(struct kfilter *k, unsigned h)
{
	struct hook *hk = &k->hook[h];

	for (unsigned i = 0; i < hk->n; i++)
		free(hk->bytecode[i]);
	hk->n = 0;
	hk->scope = KFILTER_ALL;
}

/*
 * Pack the hook's texts into as few programs as the match takes: each
 * text joins the program being built while "(built) or (text)" still
 * fits, else starts the next one. libpcap's optimiser shares the tests
 * of the version and the protocol, so several port filters fit in one.
 */
static int pack(struct kfilter *k, unsigned h, const struct pending *p)
{
	struct hook *hk = &k->hook[h];
	char *cur = NULL, *cur_code = NULL, *code;
	const char *why;
	unsigned len;
	int ret = 0;

	for (size_t i = 0; i < p->n && hk->scope != KFILTER_ALL; i++) {
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
			if (hk->n == KFILTER_MAX_PROGS) {
				reason(k, "the rules' filters need more than %d bpf programs at %s: "
					  "every packet there is queued", KFILTER_MAX_PROGS, hook_names[h]);
				hook_all(k, h);
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
			reason(k, "%s: its filter compiles to %u bpf instructions, over the bpf match's %d: "
				  "every packet at %s is queued", p->rule[i], len, KFILTER_MAX_INSNS, hook_names[h]);
		else if (ret)
			reason(k, "%s: the kernel cannot run its filter as compiled (%s): every packet at "
				  "%s is queued", p->rule[i], why, hook_names[h]);
		if (ret) {
			ret = 0;
			hook_all(k, h);
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
		if (hk->n == KFILTER_MAX_PROGS) {
			reason(k, "the rules' filters need more than %d bpf programs at %s: every "
				  "packet there is queued", KFILTER_MAX_PROGS, hook_names[h]);
			hook_all(k, h);
		} else {
			push(hk, cur_code);
			cur_code = NULL;
		}
	}
	free(cur);
	free(cur_code);
	if (!ret && hk->scope != KFILTER_ALL)
		hk->scope = hk->n ? KFILTER_SOME : KFILTER_NONE;
	return ret;
}

/* What one rule asks of the hooks; texts go to pend[h]. */
static int plan_rule(struct kfilter *k, const struct rule *r, unsigned avail, bool track,
		     struct pending pend[KFILTER_NHOOKS])
{
	unsigned hooks = r->dir_mask ? r->dir_mask & avail : avail, all = 0;
	bool conn = track && serves_tracker(r), whole = false;
	char *text = NULL, hbuf[32];
	int ret = 0;

	if (conn)
		hooks = avail;	/* the replies pass the other hooks */
	if (!hooks)
		return 0;
	if (!r->filter) {
		all = hooks;
		reason(k, "%s: it has no filter, so it matches every packet (%s)", r->name,
		       hooks_text(hooks, hbuf, sizeof(hbuf)));
	} else if (!flow_decided(r->filter)) {
		all = hooks;
		reason(k, "%s: its filter reads more than the protocol, addresses and ports, and seeded "
			  "decisions count every packet of a flow: every packet at %s is queued",
		       r->name, hooks_text(hooks, hbuf, sizeof(hbuf)));
	} else {
		const char *expr = r->filter_expr ? r->filter_expr : r->filter_text;

		text = conn ? both_ways(expr, &whole) : strdup(expr);
		if (!text)
			return -ENOMEM;
		if (conn)
			reason(k, "%s: the tracker serves it: %s queued at %s", r->name,
			       whole ? "every TCP packet is" : "both directions of its connections are",
			       hooks_text(hooks, hbuf, sizeof(hbuf)));
	}
	for (unsigned h = 0; h < KFILTER_NHOOKS; h++) {
		if (all & 1u << h)
			k->hook[h].scope = KFILTER_ALL;
		else if (text && hooks & 1u << h && k->hook[h].scope != KFILTER_ALL)
			ret = ret ? ret : pending_add(&pend[h], text, r->name);
	}
	free(text);
	return ret;
}

struct kfilter *kfilter_new(const struct rule_set *rs, const struct kfilter_opts *o)
{
	struct pending pend[KFILTER_NHOOKS] = { 0 };
	unsigned avail = 1u << PKT_DIR_IN | 1u << PKT_DIR_OUT | (o->forward ? 1u << PKT_DIR_FWD : 0);
	struct kfilter *k = calloc(1, sizeof(*k));
	size_t n = rs ? rule_set_count(rs) : 0;
	int ret = 0;

	if (!k)
		return NULL;
	k->avail = avail;
	if (o->all) {
		reason(k, "%s: every packet is queued", o->all);
		for (unsigned h = 0; h < KFILTER_NHOOKS; h++)
			if (avail & 1u << h)
				k->hook[h].scope = KFILTER_ALL;
		goto out;
	}
	for (size_t i = 0; i < n && !ret; i++) {
		const struct rule *r = rule_set_get(rs, i);

		if (!r->disabled)
			ret = plan_rule(k, r, avail, o->track, pend);
	}
	for (unsigned h = 0; h < KFILTER_NHOOKS && !ret; h++)
		if (k->hook[h].scope != KFILTER_ALL)
			ret = pack(k, h, &pend[h]);
out:
	for (unsigned h = 0; h < KFILTER_NHOOKS; h++)
		pending_free(&pend[h]);
	if (ret || k->oom) {
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
		for (unsigned i = 0; i < k->hook[h].n; i++)
			free(k->hook[h].bytecode[i]);
	for (size_t i = 0; i < k->n_reasons && i < KFILTER_MAX_REASONS; i++)
		free(k->reasons[i]);
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
	*n = k->n_reasons;
	return (const char *const *)k->reasons;
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
	}
	return true;
}
