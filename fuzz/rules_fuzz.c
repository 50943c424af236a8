// SPDX-License-Identifier: MIT
/*
 * rules_fuzz: any bytes given to the rule parser must either be rejected
 * with an error or parse to a rule whose canonical print parses back to an
 * equal rule and prints identically. And whatever the filter, what the
 * memo's analysis, the rule index and the kernel-side prefilter say of it
 * must hold (check_memo(), check_index(), check_kfilter()).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcap/bpf.h>

#include "kfilter.h"
#include "memo.h"
#include "packet.h"
#include "rule.h"

/*
 * libpcap's filter compiler is slow on long expressions and resolves host
 * names; the grammar under test fits in a short line anyway.
 */
#define MAX_INPUT 1024

static char *print_rule(const struct rule *r)
{
	int n = rule_print(r, NULL, 0);
	char *buf;

	if (n < 0)
		abort();
	buf = malloc((size_t)n + 1);
	if (!buf)
		abort();
	if (rule_print(r, buf, (size_t)n + 1) != n || strlen(buf) != (size_t)n)
		abort();
	return buf;
}

/* One 72-byte packet of class cls: 10.0.0.1:1000 -> 10.0.0.2:80, or fd00::1 -> fd00::2. */
static size_t sample(int cls, uint8_t *b)
{
	bool v6 = cls >= RULE_MEMO_TCP6;
	int l4 = cls - (v6 ? RULE_MEMO_TCP6 : RULE_MEMO_TCP4);
	size_t l3 = v6 ? 40 : 20, len = 72;
	uint8_t *p = b + l3;

	memset(b, 0, len);
	if (v6) {
		b[0] = 0x60;
		b[5] = (uint8_t)(len - 40);
		b[6] = l4 == 0 ? 6 : l4 == 1 ? 17 : 58;
		b[7] = 64;
		b[8] = b[24] = 0xfd;
		b[23] = 1;
		b[39] = 2;
	} else {
		b[0] = 0x45;
		b[3] = (uint8_t)len;
		b[6] = 0x40;
		b[8] = 64;
		b[9] = l4 == 0 ? 6 : l4 == 1 ? 17 : 1;
		b[12] = b[16] = 10;
		b[15] = 1;
		b[19] = 2;
	}
	if (l4 == 2) {
		p[0] = v6 ? 128 : 8;
	} else {
		p[0] = 0x03, p[1] = 0xe8, p[3] = 80;
		if (l4 == 0)
			p[12] = 0x50, p[13] = 0x18;
		else
			p[5] = (uint8_t)(len - l3);
	}
	return len;
}

/*
 * The bits of byte off that stay the same in every packet of one
 * connection going one way, in class cls, written down here apart from
 * memo.c so that a mistake there shows: the version and header length,
 * a zero fragment offset, the protocol, the addresses, and the ports of
 * TCP and UDP.
 */
static uint8_t kept_bits(int cls, size_t off)
{
	bool v6 = cls >= RULE_MEMO_TCP6;
	bool ports = cls != RULE_MEMO_ICMP4 && cls != RULE_MEMO_ICMP6;

	if (!v6) {
		if (off == 0 || off == 7 || off == 9 || (off >= 12 && off < 20) ||
		    (ports && off >= 20 && off < 24))
			return 0xff;
		return off == 6 ? 0x1f : 0;
	}
	if (off == 6 || (off >= 8 && off < 40) || (ports && off >= 40 && off < 44))
		return 0xff;
	return off == 0 ? 0xf0 : 0;
}

/*
 * The memo's promise, on a sample packet P of each class: a filter the
 * class decides gives that answer; a remembered filter gives the same
 * answer on any packet Q that keeps what one connection keeps and the key
 * bytes, whatever the other bytes are (drawn from seed).
 */
static void check_memo(const struct rule_set *rs, uint64_t seed)
{
	const struct rule *r = rule_set_get(rs, 0);

	for (int cls = 0; cls < RULE_MEMO_NCLASS; cls++) {
		struct rule_memo_plan plan;
		uint8_t p[72], q[72];
		size_t len = sample(cls, p);
		struct pkt_view vp, vq;
		bool mp, mq;

		rule_memo_plan(rs, cls, &plan);
		if ((plan.decided & plan.rules) || plan.nkey > RULE_MEMO_KEY_BYTES)
			abort();
		if (!((plan.decided | plan.rules) & 1))
			continue;
		if (pkt_parse(&vp, p, len) || rule_memo_class(&vp) != cls)
			abort();
		mp = rule_filter_match(r, &vp);
		memcpy(q, p, len);
		for (size_t i = 0; i < len; i++) {
			uint8_t keep = kept_bits(cls, i), x;

			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			x = (uint8_t)(seed >> 56);
			for (unsigned k = 0; k < plan.nkey; k++)
				if (plan.key[k] == i)
					keep = 0xff;
			q[i] = (uint8_t)((p[i] & keep) | (x & ~keep));
		}
		/* Q is not parsed (its lengths are noise): the filter reads its bytes as they are. */
		vq = vp;
		vq.data = q;
		mq = rule_filter_match(r, &vq);
		if (plan.decided & 1 && (mp != !!(plan.matches & 1) || mq != mp)) {
			fprintf(stderr, "class %d decides '%s' as %d; libpcap says %d, %d\n", cls,
				r->filter_text, !!(plan.matches & 1), mp, mq);
			abort();
		}
		if (plan.rules & 1 && len >= plan.need && mq != mp) {
			fprintf(stderr, "class %d remembers '%s', but libpcap says %d, then %d\n", cls,
				r->filter_text, mp, mq);
			abort();
		}
	}
}

/* The fixed bits of byte off in class cls: what makes a packet one of the class. */
static uint8_t class_bits(int cls, size_t off)
{
	if (cls >= RULE_MEMO_TCP6)
		return off == 6 ? 0xff : off == 0 ? 0xf0 : 0;
	return off == 0 || off == 7 || off == 9 ? 0xff : off == 6 ? 0x1f : 0;
}

/*
 * q: a packet of class cls like p (len bytes), each byte but the class's
 * own drawn from seed half the time. Returns the seed drawn on.
 */
static uint64_t draw(int cls, const uint8_t *p, uint8_t *q, size_t len, uint64_t seed)
{
	for (size_t k = 0; k < len; k++) {
		uint8_t keep = class_bits(cls, k), x;

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		x = (uint8_t)(seed >> 56);
		/* The sample's bytes often: its header stays plausible. */
		if (x & 1)
			keep = 0xff;
		q[k] = (uint8_t)((p[k] & keep) | (x & ~keep));
	}
	return seed;
}

/*
 * The rule index's promise: a packet the filter matches has the rule
 * among its candidates. Packets of each class with every byte but the
 * class's own drawn from seed, and half the time one of the facts the
 * index filed the rule under written in, so that matches happen.
 */
static void check_index(const struct rule_set *rs, uint64_t seed)
{
	const struct rule *r = rule_set_get(rs, 0);

	for (int cls = 0; cls < RULE_MEMO_NCLASS; cls++) {
		struct rule_memo_witness w;
		uint8_t p[72], q[72];
		size_t len = sample(cls, p);
		struct pkt_view vp, vq;

		if (pkt_parse(&vp, p, len) || rule_memo_class(&vp) != cls)
			abort();
		if (!rule_memo_witness(r->filter, cls, &w))
			w.any = true;
		for (int round = 0; round < 8; round++) {
			struct rule_cands c;
			int i;
			bool cand = false;

			seed = draw(cls, p, q, len, seed);
			if (w.n && seed >> 63) {
				const struct rule_memo_fact *f = &w.f[(seed >> 40) % w.n];

				for (unsigned b = 0; b < f->size && f->off + b < len; b++)
					q[f->off + b] = (uint8_t)(f->val >> (8 * (f->size - 1 - b)));
			}
			vq = vp;
			vq.data = q;
			rule_set_cands(rs, &vq, &c);
			while ((i = rule_cands_next(&c)) >= 0)
				cand |= i == 0;
			if (rule_filter_match(r, &vq) && !cand) {
				fprintf(stderr, "class %d: '%s' matches a packet it is no candidate for\n",
					cls, r->filter_text);
				abort();
			}
		}
	}
}

/* A --bytecode text, "N,code jt jf k,...", back into instructions. */
static void parse_bytecode(const char *s, struct bpf_insn *in)
{
	unsigned n, c, t, f, k;
	int used;

	if (sscanf(s, "%u%n", &n, &used) != 1 || !n || n > KFILTER_MAX_INSNS)
		abort();
	s += used;
	for (unsigned i = 0; i < n; i++) {
		if (sscanf(s, ",%u %u %u %u%n", &c, &t, &f, &k, &used) != 4)
			abort();
		in[i] = (struct bpf_insn){ .code = (uint16_t)c, .jt = (uint8_t)t, .jf = (uint8_t)f, .k = k };
		s += used;
	}
	if (*s)
		abort();
}

/*
 * Does hook h of the plan queue packet q (len bytes)? One of its port
 * sets or programs takes it; and a program that accepts an IPv4 packet
 * must have its protocol as kfilter_ip4_proto(), tested by the jump
 * before the program runs.
 */
static bool queued(const struct kfilter *k, enum pkt_dir h, const uint8_t *q, size_t len)
{
	if (kfilter_scope(k, h) != KFILTER_SOME)
		return kfilter_scope(k, h) == KFILTER_ALL;
	if (kfilter_sets_take(k, h, q, len))
		return true;
	for (unsigned i = 0; i < kfilter_count(k, h); i++) {
		struct bpf_insn in[KFILTER_MAX_INSNS];
		int proto = kfilter_ip4_proto(k, h, i);

		parse_bytecode(kfilter_bytecode(k, h, i), in);

		if (!bpf_filter(in, q, (unsigned)len, (unsigned)len))
			continue;
		/* ip6tables' jumps test no protocol: only IPv4 meets '-p'. */
		if (q[0] >> 4 == 4 && proto != KFILTER_PROTO_ANY && proto != q[9]) {
			fprintf(stderr, "program %u accepts IPv4 protocol %u, kfilter_proto4 says %d\n", i,
				q[9], proto);
			abort();
		}
		return true;
	}
	return false;
}

/*
 * The prefilter's promise: a packet the rule's filter matches is queued
 * at each hook the rule acts at, with packets of each class drawn as for
 * the rule index. The walk under kfilter_proto4 decides the '-p' test.
 */
static void check_kfilter(const struct rule_set *rs, uint64_t seed)
{
	const struct rule *r = rule_set_get(rs, 0);
	/* With sets: a rule of many ports ("udp port 1 or 2 or ...") makes a hook choose them. */
	const struct kfilter_opts o = { .forward = false, .track = false, .sets = true };
	struct kfilter *k = kfilter_new(rs, &o);

	if (!k)
		abort();
	for (int cls = 0; cls < RULE_MEMO_NCLASS && !r->disabled; cls++) {
		uint8_t p[72], q[72];
		size_t len = sample(cls, p);
		struct pkt_view vp, vq;

		if (pkt_parse(&vp, p, len))
			abort();
		for (int round = 0; round < 8; round++) {
			seed = draw(cls, p, q, len, seed);
			vq = vp;
			vq.data = q;
			if (!rule_filter_match(r, &vq))
				continue;
			for (enum pkt_dir h = PKT_DIR_IN; h <= PKT_DIR_OUT; h++) {
				if (r->dir_mask && !(r->dir_mask & 1u << h))
					continue;
				if (!queued(k, h, q, len)) {
					fprintf(stderr, "class %d: '%s' matches a packet hook %s does not queue\n",
						cls, r->filter_text, kfilter_hook_name(h));
					abort();
				}
			}
		}
	}
	kfilter_free(k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rule_set *a = NULL, *b = NULL;
	char *line, *p1 = NULL, *p2 = NULL;
	struct rule_error err;
	const struct rule *ra, *rb;

	if (size > MAX_INPUT)
		return -1;
	line = malloc(size + 1);
	if (!line)
		abort();
	memcpy(line, data, size);
	line[size] = '\0';

	a = rule_set_new();
	b = rule_set_new();
	if (!a || !b)
		abort();
	if (rule_set_add_line(a, line, "fuzz", 1, &err) < 0) {
		/* An error must point inside the line or just past it. */
		if (err.col < 0 || (size_t)err.col > strlen(line) + 1 || !err.msg[0])
			abort();
		goto out;
	}
	if (rule_set_count(a) == 0)
		goto out;

	ra = rule_set_get(a, 0);
	if (ra->filter) {
		uint64_t seed = 1469598103934665603ull;

		for (size_t i = 0; i < size; i++)
			seed = (seed ^ data[i]) * 1099511628211ull;
		check_memo(a, seed);
		check_index(a, seed);
		check_kfilter(a, seed);
	}
	p1 = print_rule(ra);
	if (rule_set_add_line(b, p1, "fuzz-print", 1, &err) < 0) {
		fprintf(stderr, "input '%s'\nprinted '%s'\nfails: %d: %s\n", line, p1, err.col,
			err.msg);
		abort();
	}
	if (rule_set_count(b) != 1)
		abort();
	rb = rule_set_get(b, 0);
	if (!rule_equal(ra, rb) || ra->named != rb->named || strcmp(ra->name, rb->name)) {
		fprintf(stderr, "input '%s'\nprinted '%s' parses differently\n", line, p1);
		abort();
	}
	p2 = print_rule(rb);
	if (strcmp(p1, p2)) {
		fprintf(stderr, "unstable print: '%s' then '%s'\n", p1, p2);
		abort();
	}
out:
	free(p2);
	free(p1);
	rule_set_free(b);
	rule_set_free(a);
	free(line);
	return 0;
}
