// SPDX-License-Identifier: MIT
/*
 * bpfwalk: the walk over a classic BPF program steps each instruction some
 * path reaches once, in order, after every path into it has joined;
 * follows the ways each step chooses (both of a jump, one, none); never
 * steps what no path reaches; refuses a way out of the program; stops when
 * a step says so. The domain here records, per state, the instructions its
 * paths passed.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pcap/bpf.h>
#include <stdint.h>
#include <string.h>

#include "bpfwalk.h"

#define MAX 16
#define NO_WAY (-3)

/* The state: bit pc of 'passed' is set when some path into here stepped pc. */
struct pstate {
	uint64_t passed;
	unsigned taken;		/* paths in that came along a true way */
	unsigned joins;		/* how many paths in beyond the first */
};

struct record {
	const struct bpf_insn *prog;
	int ways[MAX];		/* the step's answer at pc; 0: every way out, NO_WAY: none */
	unsigned n_steps;
	unsigned order[MAX];	/* the pcs stepped, in order */
	struct pstate at[MAX];	/* the state each was stepped in */
};

static void pjoin(void *into, const void *from)
{
	struct pstate *to = into;
	const struct pstate *s = from;

	to->passed |= s->passed;
	to->taken += s->taken;
	to->joins++;
}

static int pstep(const struct bpf_insn *in, void *state, void *taken, void *data)
{
	struct pstate *s = state, *t = taken;
	struct record *r = data;
	unsigned pc = (unsigned)(in - r->prog);
	uint16_t c = in->code;

	cr_assert_lt(pc, MAX);
	cr_assert_eq(!!t, BPF_CLASS(c) == BPF_JMP && BPF_OP(c) != BPF_JA,
		     "a copy for the true way at pc %u exactly when it is a conditional jump", pc);
	r->order[r->n_steps++] = pc;
	r->at[pc] = *s;
	/* t is the walk's copy of *s as it came in: the step only narrows it. */
	if (t) {
		cr_assert_eq(memcmp(t, s, sizeof(*s)), 0, "the true way's state at pc %u is a copy", pc);
		t->passed |= 1ull << pc;
		t->taken = 1;
		t->joins = 0;
	}
	s->passed |= 1ull << pc;
	s->taken = 0;
	s->joins = 0;
	if (!r->ways[pc])
		return (int)(BPFWALK_NEXT | BPFWALK_JT | BPFWALK_JF);
	return r->ways[pc] == NO_WAY ? 0 : r->ways[pc];
}

static const struct bpfwalk_ops pops = {
	.size = sizeof(struct pstate),
	.join = pjoin,
	.step = pstep,
};

static int walk(const struct bpf_insn *prog, unsigned n, struct record *r)
{
	struct pstate init = { 0 };

	r->prog = prog;
	return bpfwalk_run(prog, n, &pops, &init, r);
}

static void assert_order(const struct record *r, const unsigned *pcs, unsigned n)
{
	cr_assert_eq(r->n_steps, n, "%u steps, not %u", r->n_steps, n);
	for (unsigned i = 0; i < n; i++)
		cr_assert_eq(r->order[i], pcs[i], "step %u at pc %u, not %u", i, r->order[i], pcs[i]);
}

#define LD0 BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0)
#define RET(k) BPF_STMT(BPF_RET | BPF_K, k)

Test(bpfwalk, a_jump_goes_both_ways_and_the_paths_join)
{
	/* 0: ld; 1: jeq -> 2 (true) or 3 (false); 2: ja 4; 3: ld; 4: ret */
	struct bpf_insn p[] = { LD0, BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 7, 0, 1),
				BPF_JUMP(BPF_JMP | BPF_JA, 1, 0, 0), LD0, RET(1) };
	struct record r = { 0 };

	cr_assert_eq(walk(p, 5, &r), 0);
	assert_order(&r, (unsigned[]){ 0, 1, 2, 3, 4 }, 5);
	cr_assert_eq(r.at[2].taken, 1, "the true way gets the step's copy");
	cr_assert_eq(r.at[2].passed, 0x3ull, "the copy carries the path");
	cr_assert_eq(r.at[3].taken, 0, "the false way gets the state itself");
	cr_assert_eq(r.at[4].joins, 1, "two paths into the return");
	cr_assert_eq(r.at[4].passed, 0xfull, "the join holds both paths");
	cr_assert_eq(r.at[4].taken, 0, "each path's own state, not the jump's copy");
}

Test(bpfwalk, only_the_ways_the_step_chooses)
{
	struct bpf_insn p[] = { LD0, BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 7, 0, 1), RET(1), RET(0) };
	struct record t = { .ways[1] = BPFWALK_JT }, f = { .ways[1] = BPFWALK_JF }, none = { .ways[0] = NO_WAY };

	cr_assert_eq(walk(p, 4, &t), 0);
	assert_order(&t, (unsigned[]){ 0, 1, 2 }, 3);
	cr_assert_eq(walk(p, 4, &f), 0);
	assert_order(&f, (unsigned[]){ 0, 1, 3 }, 3);
	cr_assert_eq(walk(p, 4, &none), 0);
	assert_order(&none, (unsigned[]){ 0 }, 1);
}

Test(bpfwalk, unreachable_code_is_not_stepped)
{
	/* 1 and 2 lie behind a 'ja': 2's jump out of range is never followed. */
	struct bpf_insn p[] = { BPF_JUMP(BPF_JMP | BPF_JA, 2, 0, 0), LD0,
				BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 7, 200, 200), RET(1) };
	struct record r = { 0 };

	cr_assert_eq(walk(p, 4, &r), 0);
	assert_order(&r, (unsigned[]){ 0, 3 }, 2);
	cr_assert_eq(r.at[3].passed, 1, "only the 'ja' on the path");
}

Test(bpfwalk, a_way_out_of_the_program_is_refused)
{
	struct bpf_insn jt[] = { BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 7, 2, 0), RET(1), RET(0) };
	struct bpf_insn jf[] = { BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, 7, 0, 2), RET(1), RET(0) };
	/* 1 + 1 + 0xfffffffe is pc 0 again in 32 bits. */
	struct bpf_insn ja[] = { LD0, BPF_JUMP(BPF_JMP | BPF_JA, 0xfffffffeu, 0, 0), RET(1) };
	struct bpf_insn ja_end[] = { BPF_JUMP(BPF_JMP | BPF_JA, 1, 0, 0), RET(1) };
	struct record r1 = { 0 }, r2 = { 0 }, r3 = { 0 }, r4 = { 0 }, ok = { .ways[0] = BPFWALK_JF };

	cr_assert_eq(walk(jt, 3, &r1), -EINVAL);
	cr_assert_eq(walk(jf, 3, &r2), -EINVAL);
	cr_assert_eq(walk(ja, 3, &r3), -EINVAL);
	cr_assert_eq(r3.n_steps, 2, "nothing stepped again");
	cr_assert_eq(walk(ja_end, 2, &r4), -EINVAL);
	/* The bad way not taken: the program is fine. */
	cr_assert_eq(walk(jt, 3, &ok), 0);
}

Test(bpfwalk, no_return_at_the_end_is_refused)
{
	struct bpf_insn p[] = { LD0, LD0 };
	struct bpf_insn ret_last[] = { LD0, RET(0) };
	struct record r = { 0 }, r0 = { 0 }, ret = { 0 };

	cr_assert_eq(walk(p, 2, &r), -EINVAL);
	assert_order(&r, (unsigned[]){ 0, 1 }, 2);
	cr_assert_eq(walk(p, 0, &r0), -EINVAL, "an empty program");
	cr_assert_eq(r0.n_steps, 0);
	/* A return has no way out, whatever its step answers. */
	cr_assert_eq(walk(ret_last, 2, &ret), 0);
}

Test(bpfwalk, a_step_stops_the_walk)
{
	struct bpf_insn p[] = { LD0, LD0, LD0, RET(1) };
	struct record r = { .ways[1] = BPFWALK_STOP };

	cr_assert_eq(walk(p, 4, &r), BPFWALK_STOP);
	assert_order(&r, (unsigned[]){ 0, 1 }, 2);
}

Test(bpfwalk, every_path_joins_before_the_step)
{
	/* Three paths into 6: the false ways of 1 and 3 and the fall from 5. */
	struct bpf_insn p[] = { LD0,
				BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 1, 0, 4),
				LD0,
				BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 2, 0, 2),
				LD0,
				LD0,
				RET(0) };
	struct record r = { 0 };

	cr_assert_eq(walk(p, 7, &r), 0);
	assert_order(&r, (unsigned[]){ 0, 1, 2, 3, 4, 5, 6 }, 7);
	cr_assert_eq(r.at[6].joins, 2);
	cr_assert_eq(r.at[6].passed, 0x3full);
}

/* A path's length, for a program longer than the walk keeps on its stack. */
static void len_join(void *into, const void *from)
{
	unsigned *to = into;

	if (*(const unsigned *)from > *to)
		*to = *(const unsigned *)from;
}

static int len_step(const struct bpf_insn *in, void *state, void *taken, void *data)
{
	unsigned *len = state, *last = data;

	(void)taken;
	if (BPF_CLASS(in->code) == BPF_RET)
		*last = *len;
	++*len;
	return BPFWALK_NEXT;
}

Test(bpfwalk, a_long_program_is_walked_whole)
{
	enum { N = 20000 };
	static struct bpf_insn p[N];
	const struct bpfwalk_ops ops = { .size = sizeof(unsigned), .join = len_join, .step = len_step };
	unsigned init = 0, last = 0;

	for (unsigned i = 0; i < N - 1; i++)
		p[i] = (struct bpf_insn)LD0;
	p[N - 1] = (struct bpf_insn)RET(1);
	cr_assert_eq(bpfwalk_run(p, N, &ops, &init, &last), 0);
	cr_assert_eq(last, N - 1, "the return after %u instructions", last);
	/* The same program, cut short of its return. */
	cr_assert_eq(bpfwalk_run(p, N - 1, &ops, &init, &last), -EINVAL);
}
