/* SPDX-License-Identifier: MIT */
/*
 * bpfwalk: the walk an abstract interpreter makes over a classic BPF
 * program (libpcap's struct bpf_insn). The caller brings the abstract
 * domain: what a state is, how two paths' states join, and what one
 * instruction does to a state and which of its ways out it can take. The
 * walk brings the rest: where each way leads, which instructions some
 * path reaches, and that every path into an instruction has joined
 * before it is stepped.
 *
 * Classic BPF jumps only forward, so one pass in program order does it:
 * each instruction is stepped at most once, the walk ends after at most n
 * steps, and an instruction no path reaches is never stepped. A way that
 * leads past the last instruction (a jump out of range, an instruction
 * other than a return falling off the end) refuses the program, but only
 * when a path takes it: unreachable code is not looked at.
 *
 * Pure: the states live on the walk's stack (16 KiB), or for a long
 * program in memory it allocates and frees; the program, the initial
 * state and the caller's data are borrowed.
 */
#ifndef FL_RULES_BPFWALK_H
#define FL_RULES_BPFWALK_H

#include <stddef.h>

struct bpf_insn;

/*
 * The ways out of an instruction, as a step answers them (bits). NEXT and
 * JF are one bit: the way on when no condition holds.
 */
#define BPFWALK_NEXT	1u	/* the one way on: pc + 1, or a 'ja''s target */
#define BPFWALK_JF	1u	/* a conditional jump's false way */
#define BPFWALK_JT	2u	/* a conditional jump's true way */

/* A step's answer that ends the walk early: the answer is known, or not knowable. */
#define BPFWALK_STOP	(-1)

/*
 * The paths in 'from' (borrowed) also reach the instruction whose state is
 * into: into becomes the join of the two. Only called once into holds a
 * state; the first path in is copied.
 */
typedef void (*bpfwalk_join_cb)(void *into, const void *from);

/*
 * The instruction in (borrowed: &prog[pc]), which some path reaches, in the
 * join s of the states of every path into it. The step turns *s into the
 * state after the instruction; for a conditional jump (a BPF_JMP other than
 * BPF_JA), t is a copy of *s that becomes the state on its true way (a
 * domain that learns something from the jump being taken narrows it), and
 * NULL for anything else. Returns the ways out the walk follows (a return
 * has none; bits that do not apply to the instruction are ignored), or
 * BPFWALK_STOP.
 */
typedef int (*bpfwalk_step_cb)(const struct bpf_insn *in, void *s, void *t, void *data);

struct bpfwalk_ops {
	size_t size;		/* bytes of one state */
	bpfwalk_join_cb join;
	bpfwalk_step_cb step;
};

/*
 * Walks the n instructions of prog from pc 0 in state *init, with data
 * passed to each step. Returns 0 when every instruction some path reaches
 * was stepped, BPFWALK_STOP when a step stopped the walk, -EINVAL when a
 * way followed leads past the end (or n is 0), -ENOMEM.
 */
int bpfwalk_run(const struct bpf_insn *prog, unsigned n, const struct bpfwalk_ops *ops,
		const void *init, void *data);

#endif
