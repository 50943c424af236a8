// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <pcap/bpf.h>

#include "bpfwalk.h"

struct walk {
	const struct bpfwalk_ops *ops;
	unsigned n;
	unsigned char *st;	/* n + 1 states: the last is the true way's copy */
	bool *live;		/* live[pc]: some path reaches pc, st's slot pc holds its state */
};

static void *slot(const struct walk *w, unsigned pc)
{
	return w->st + (size_t)pc * w->ops->size;
}

/*
 * The state s also reaches pc + 1 + off. 64-bit: a 'ja''s offset is 32
 * bits, and wrapping around would lead backwards.
 */
static int flow(struct walk *w, unsigned pc, uint32_t off, const void *s)
{
	uint64_t to = (uint64_t)pc + 1 + off;

	if (to >= w->n)
		return -EINVAL;
	if (w->live[to]) {
		w->ops->join(slot(w, (unsigned)to), s);
	} else {
		memcpy(slot(w, (unsigned)to), s, w->ops->size);
		w->live[to] = true;
	}
	return 0;
}

/* Steps the instruction at pc and passes its state on along the ways the step chose. */
static int visit(struct walk *w, const struct bpf_insn *in, unsigned pc, void *data)
{
	uint16_t c = in->code;
	void *s = slot(w, pc), *t = NULL;
	int ways, ret = 0;

	if (BPF_CLASS(c) == BPF_JMP && BPF_OP(c) != BPF_JA) {
		t = slot(w, w->n);
		memcpy(t, s, w->ops->size);
	}
	/*
	 * The step works on the slot in place: the walk only goes forward,
	 * so no path joins pc once it is stepped.
	 */
	ways = w->ops->step(in, s, t, data);
	if (ways < 0)
		return ways;
	if (BPF_CLASS(c) == BPF_RET)
		return 0;
	if (t) {
		/* The true way first: a domain's join may keep the order paths came in. */
		if (ways & BPFWALK_JT)
			ret = flow(w, pc, in->jt, t);
		if (!ret && ways & BPFWALK_JF)
			ret = flow(w, pc, in->jf, s);
		return ret;
	}
	if (!(ways & BPFWALK_NEXT))
		return 0;
	return flow(w, pc, BPF_CLASS(c) == BPF_JMP ? in->k : 0, s);
}

int bpfwalk_run(const struct bpf_insn *prog, unsigned n, const struct bpfwalk_ops *ops,
		const void *init, void *data)
{
	/*
	 * Most programs' states fit on the stack: kfilter walks each program
	 * once per protocol, 256 times, and a malloc per walk cost it more
	 * than the walk itself.
	 */
	_Alignas(max_align_t) unsigned char stack[16384];
	struct walk w = { .ops = ops, .n = n };
	unsigned char *mem = stack;
	size_t states, bytes;
	int ret = 0;

	if (!n)
		return -EINVAL;
	if (__builtin_mul_overflow((size_t)n + 1, ops->size, &states) ||
	    __builtin_add_overflow(states, (size_t)n, &bytes))
		return -ENOMEM;
	if (bytes > sizeof(stack)) {
		mem = malloc(bytes);
		if (!mem)
			return -ENOMEM;
	}
	w.st = mem;
	w.live = (bool *)(mem + states);
	/* Slots are written before they are read (flow): only liveness starts zeroed. */
	memset(w.live, 0, n * sizeof(*w.live));
	memcpy(slot(&w, 0), init, ops->size);
	w.live[0] = true;
	for (unsigned pc = 0; pc < n && !ret; pc++)
		if (w.live[pc])
			ret = visit(&w, &prog[pc], pc, data);
	if (mem != stack)
		free(mem);
	return ret;
}
