// SPDX-License-Identifier: MIT
/*
 * kfilter: the programs the kernel runs in front of NFQUEUE accept what
 * the rules' filters match (run here with libpcap's interpreter on built
 * packets), and every case that cannot be exact widens, with its reason.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kfilter.h"
#include "rule.h"

static struct rule_set *set_of(const char *const *lines, int n)
{
	struct rule_set *rs = rule_set_new();
	struct rule_error e;

	cr_assert(rs);
	for (int i = 0; i < n; i++)
		cr_assert_eq(rule_set_add_line(rs, lines[i], "t", i + 1, &e), 0, "%s: %s", lines[i], e.msg);
	return rs;
}

static struct kfilter *plan(const char *const *lines, int n, bool forward, bool track)
{
	struct rule_set *rs = set_of(lines, n);
	struct kfilter_opts o = { .forward = forward, .track = track };
	struct kfilter *k = kfilter_new(rs, &o);

	cr_assert(k);
	rule_set_free(rs);
	return k;
}

/* Parse "N,c t f k,..." back into instructions; returns N. */
static unsigned parse_bytecode(const char *s, struct bpf_insn *in, unsigned max)
{
	unsigned n = 0, c, t, f, k;
	int used;

	cr_assert_eq(sscanf(s, "%u%n", &n, &used), 1);
	cr_assert(n >= 1 && n <= max, "%u instructions", n);
	s += used;
	for (unsigned i = 0; i < n; i++) {
		cr_assert_eq(sscanf(s, ",%u %u %u %u%n", &c, &t, &f, &k, &used), 4, "at %u: %s", i, s);
		in[i] = (struct bpf_insn){ .code = (uint16_t)c, .jt = (uint8_t)t, .jf = (uint8_t)f, .k = k };
		s += used;
	}
	cr_assert_eq(*s, 0);
	return n;
}

/* An IPv4 (or IPv6) TCP/UDP packet from sport to dport, 20 bytes of transport header. */
static size_t packet(uint8_t *b, int family, uint8_t proto, uint16_t sport, uint16_t dport)
{
	size_t l3 = family == 4 ? 20 : 40;

	memset(b, 0, 80);
	if (family == 4) {
		b[0] = 0x45;
		b[3] = (uint8_t)(l3 + 20);
		b[8] = 64;
		b[9] = proto;
		b[12] = 10, b[15] = 1;
		b[16] = 10, b[19] = 2;
	} else {
		b[0] = 0x60;
		b[5] = 20;
		b[6] = proto;
		b[7] = 64;
		b[8] = 0xfd, b[23] = 1;
		b[24] = 0xfd, b[39] = 2;
	}
	b[l3] = (uint8_t)(sport >> 8), b[l3 + 1] = (uint8_t)sport;
	b[l3 + 2] = (uint8_t)(dport >> 8), b[l3 + 3] = (uint8_t)dport;
	b[l3 + 12] = 0x50;
	return l3 + 20;
}

/* Does one of the hook's programs accept the packet? */
static bool queued(const struct kfilter *k, enum pkt_dir h, const uint8_t *b, size_t len)
{
	struct bpf_insn in[KFILTER_MAX_INSNS];

	if (kfilter_scope(k, h) == KFILTER_ALL)
		return true;
	for (unsigned i = 0; i < kfilter_count(k, h); i++) {
		unsigned n = parse_bytecode(kfilter_bytecode(k, h, i), in, KFILTER_MAX_INSNS);
		const char *why;

		cr_assert_eq(kfilter_check(in, n, &why), 0, "%s", why);
		if (bpf_filter(in, b, (u_int)len, (u_int)len))
			return true;
	}
	return false;
}

static bool has_reason(const struct kfilter *k, const char *part)
{
	size_t n;
	const char *const *r = kfilter_reasons(k, &n);

	for (size_t i = 0; i < n && i < KFILTER_MAX_REASONS; i++)
		if (strstr(r[i], part))
			return true;
	return false;
}

Test(kfilter, a_port_rule_queues_its_port_only)
{
	const char *rules[] = { "tcp port 5432 => delay 100ms" };
	struct kfilter *k = plan(rules, 1, false, true);
	uint8_t b[80];
	size_t n;

	cr_assert(kfilter_filtered(k));
	cr_assert_eq(kfilter_scope(k, PKT_DIR_IN), KFILTER_SOME);
	cr_assert_eq(kfilter_scope(k, PKT_DIR_OUT), KFILTER_SOME);
	/* No --forward: no jump from FORWARD, nothing there. */
	cr_assert_eq(kfilter_scope(k, PKT_DIR_FWD), KFILTER_NONE);
	for (int fam = 4; fam <= 6; fam += 2) {
		n = packet(b, fam, 6, 40000, 5432);
		cr_assert(queued(k, PKT_DIR_IN, b, n), "IPv%d to 5432", fam);
		n = packet(b, fam, 6, 5432, 40000);
		cr_assert(queued(k, PKT_DIR_OUT, b, n), "IPv%d from 5432", fam);
		n = packet(b, fam, 6, 40000, 5201);
		cr_assert_not(queued(k, PKT_DIR_OUT, b, n), "IPv%d other port", fam);
		n = packet(b, fam, 17, 40000, 5432);
		cr_assert_not(queued(k, PKT_DIR_IN, b, n), "IPv%d UDP", fam);
	}
	kfilter_free(k);
}

Test(kfilter, rules_share_a_program_and_keep_their_hooks)
{
	const char *rules[] = {
		"udp dst port 5000 => drop 30%, in",
		"tcp port 8080 => delay 5ms, in",
		"icmp => delay 50ms, out",
	};
	struct kfilter *k = plan(rules, 3, true, true);
	uint8_t b[80];
	size_t n;

	cr_assert_eq(kfilter_count(k, PKT_DIR_IN), 1);
	cr_assert_eq(kfilter_count(k, PKT_DIR_OUT), 1);
	cr_assert_eq(kfilter_scope(k, PKT_DIR_FWD), KFILTER_NONE);
	n = packet(b, 4, 17, 1, 5000);
	cr_assert(queued(k, PKT_DIR_IN, b, n));
	cr_assert_not(queued(k, PKT_DIR_OUT, b, n));
	n = packet(b, 6, 6, 8080, 1);
	cr_assert(queued(k, PKT_DIR_IN, b, n));
	n = packet(b, 4, 1, 0, 0);
	cr_assert(queued(k, PKT_DIR_OUT, b, n));
	cr_assert_not(queued(k, PKT_DIR_IN, b, n));
	/* Nothing widened: no reason. */
	size_t nr;

	kfilter_reasons(k, &nr);
	cr_assert_eq(nr, 0);
	kfilter_free(k);
}

Test(kfilter, a_rule_without_filter_queues_everything_at_its_hooks)
{
	const char *rules[] = { "tcp port 1 => drop", "slow: => delay 1ms, in" };
	struct kfilter *k = plan(rules, 2, false, true);

	cr_assert_eq(kfilter_scope(k, PKT_DIR_IN), KFILTER_ALL);
	cr_assert_eq(kfilter_scope(k, PKT_DIR_OUT), KFILTER_SOME);
	cr_assert(kfilter_filtered(k));
	cr_assert(has_reason(k, "slow: it has no filter"));
	kfilter_free(k);
}

Test(kfilter, a_filter_on_bytes_that_change_in_a_flow_widens)
{
	const char *rules[] = { "flags: tcp port 80 and tcp[13] & 2 != 0 => drop" };
	struct kfilter *k = plan(rules, 1, false, true);

	cr_assert_eq(kfilter_scope(k, PKT_DIR_IN), KFILTER_ALL);
	cr_assert_eq(kfilter_scope(k, PKT_DIR_OUT), KFILTER_ALL);
	cr_assert_not(kfilter_filtered(k));
	cr_assert(has_reason(k, "flags: its filter reads more than"));
	kfilter_free(k);
}

Test(kfilter, a_program_over_64_instructions_widens_its_hooks)
{
	char line[2048];
	size_t off = 0;
	const char *rules[1] = { line };

	off += (size_t)snprintf(line + off, sizeof(line) - off, "long: ");
	for (int i = 1; i <= 30; i++)
		off += (size_t)snprintf(line + off, sizeof(line) - off, "%shost 10.0.%d.%d", i > 1 ? " or " : "", i, i);
	snprintf(line + off, sizeof(line) - off, " => drop, out");

	struct kfilter *k = plan(rules, 1, false, true);

	cr_assert_eq(kfilter_scope(k, PKT_DIR_OUT), KFILTER_ALL);
	cr_assert_eq(kfilter_scope(k, PKT_DIR_IN), KFILTER_NONE);
	cr_assert(has_reason(k, "long: its filter compiles to"));
	cr_assert(has_reason(k, "over the bpf match's 64"));
	kfilter_free(k);
}

Test(kfilter, too_many_programs_widen_the_hook)
{
	char lines[300][64];
	const char *rules[300];
	struct kfilter *k;

	for (int i = 0; i < 300; i++) {
		snprintf(lines[i], sizeof(lines[i]), "tcp port %d or udp port %d => drop", 1000 + i, 3000 + i);
		rules[i] = lines[i];
	}
	k = plan(rules, 300, false, false);
	cr_assert_eq(kfilter_scope(k, PKT_DIR_IN), KFILTER_ALL);
	cr_assert(has_reason(k, "more than 16 bpf programs at in"));
	kfilter_free(k);

	/* A few dozen distinct ports fit in fewer programs than rules. */
	k = plan(rules, 24, false, false);
	cr_assert_eq(kfilter_scope(k, PKT_DIR_IN), KFILTER_SOME);
	cr_assert(kfilter_count(k, PKT_DIR_IN) < 24, "%u programs", kfilter_count(k, PKT_DIR_IN));
	uint8_t b[80];
	size_t n;

	for (int i = 0; i < 24; i++) {
		n = packet(b, 6, 17, 9, (uint16_t)(3000 + i));
		cr_assert(queued(k, PKT_DIR_IN, b, n), "port %d", 3000 + i);
	}
	n = packet(b, 6, 17, 9, 3024);
	cr_assert_not(queued(k, PKT_DIR_IN, b, n));
	kfilter_free(k);
}

Test(kfilter, a_rule_the_tracker_serves_queues_both_directions_everywhere)
{
	const char *rules[] = { "cut: tcp dst port 80 => drop if state ESTABLISHED, in" };
	struct kfilter *k = plan(rules, 1, false, true);
	uint8_t b[80];
	size_t n;

	cr_assert(has_reason(k, "cut: the tracker serves it: both directions"));
	n = packet(b, 4, 6, 40000, 80);
	cr_assert(queued(k, PKT_DIR_IN, b, n));
	n = packet(b, 4, 6, 80, 40000);
	cr_assert(queued(k, PKT_DIR_OUT, b, n), "the replies");
	n = packet(b, 4, 6, 81, 40000);
	cr_assert_not(queued(k, PKT_DIR_OUT, b, n));
	n = packet(b, 4, 17, 80, 40000);
	cr_assert_not(queued(k, PKT_DIR_OUT, b, n), "UDP has no connection to track");
	kfilter_free(k);

	/* Without the tracker the rule is its filter and its hook. */
	k = plan(rules, 1, false, false);
	cr_assert_eq(kfilter_scope(k, PKT_DIR_OUT), KFILTER_NONE);
	kfilter_free(k);
}

Test(kfilter, a_caller_that_needs_every_packet_gets_all)
{
	const char *rules[] = { "tcp port 1 => drop" };
	struct rule_set *rs = set_of(rules, 1);
	struct kfilter_opts o = { .forward = true, .track = true, .all = "--queue-all" };
	struct kfilter *k = kfilter_new(rs, &o);

	cr_assert(k);
	for (int h = 0; h < KFILTER_NHOOKS; h++)
		cr_assert_eq(kfilter_scope(k, h), KFILTER_ALL);
	cr_assert_not(kfilter_filtered(k));
	cr_assert(has_reason(k, "--queue-all"));
	kfilter_free(k);
	rule_set_free(rs);
}

Test(kfilter, disabled_rules_are_not_queued_for)
{
	const char *rules[] = { "a: tcp port 1 => drop", "b: => drop" };
	struct rule_set *rs = set_of(rules, 2);
	struct kfilter_opts o = { .track = true };
	struct kfilter *before = kfilter_new(rs, &o), *after;

	cr_assert_eq(kfilter_scope(before, PKT_DIR_IN), KFILTER_ALL);
	cr_assert_eq(rule_set_enable(rs, "b", false), 0);
	after = kfilter_new(rs, &o);
	cr_assert_eq(kfilter_scope(after, PKT_DIR_IN), KFILTER_SOME);
	cr_assert_not(kfilter_equal(before, after));
	cr_assert_eq(rule_set_enable(rs, "a", false), 0);
	kfilter_free(after);
	after = kfilter_new(rs, &o);
	cr_assert_eq(kfilter_scope(after, PKT_DIR_IN), KFILTER_NONE);
	cr_assert_eq(kfilter_scope(after, PKT_DIR_OUT), KFILTER_NONE);
	cr_assert(kfilter_filtered(after));
	kfilter_free(before);
	before = kfilter_new(rs, &o);
	cr_assert(kfilter_equal(before, after));
	kfilter_free(before);
	kfilter_free(after);
	rule_set_free(rs);
}

Test(kfilter, the_check_refuses_what_the_kernel_would)
{
	struct bpf_insn ok[] = { BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 9), BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 6, 0, 1),
				 BPF_STMT(BPF_RET | BPF_K, 1), BPF_STMT(BPF_RET | BPF_K, 0) };
	struct bpf_insn neg[] = { BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (bpf_u_int32)-4096), BPF_STMT(BPF_RET | BPF_A, 0) };
	struct bpf_insn div0[] = { BPF_STMT(BPF_ALU | BPF_DIV | BPF_K, 0), BPF_STMT(BPF_RET | BPF_A, 0) };
	struct bpf_insn mem[] = { BPF_STMT(BPF_LD | BPF_MEM, 3), BPF_STMT(BPF_RET | BPF_A, 0) };
	struct bpf_insn memok[] = { BPF_STMT(BPF_ST, 3), BPF_STMT(BPF_LD | BPF_MEM, 3), BPF_STMT(BPF_RET | BPF_A, 0) };
	struct bpf_insn memjump[] = { BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0),
				      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1), BPF_STMT(BPF_ST, 3),
				      BPF_STMT(BPF_LD | BPF_MEM, 3), BPF_STMT(BPF_RET | BPF_A, 0) };
	struct bpf_insn far[] = { BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 5, 0), BPF_STMT(BPF_RET | BPF_K, 0) };
	struct bpf_insn noret[] = { BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0) };
	struct bpf_insn shift[] = { BPF_STMT(BPF_ALU | BPF_LSH | BPF_K, 32), BPF_STMT(BPF_RET | BPF_A, 0) };
	const char *why;

	cr_assert_eq(kfilter_check(ok, 4, &why), 0);
	cr_assert_eq(kfilter_check(memok, 3, &why), 0);
	cr_assert_eq(kfilter_check(neg, 2, &why), -EINVAL);
	cr_assert(strstr(why, "negative offset"));
	cr_assert_eq(kfilter_check(div0, 2, &why), -EINVAL);
	cr_assert_eq(kfilter_check(mem, 2, &why), -EINVAL);
	cr_assert(strstr(why, "scratch memory"));
	cr_assert_eq(kfilter_check(memjump, 5, &why), -EINVAL, "one path skips the store");
	cr_assert_eq(kfilter_check(far, 2, &why), -EINVAL);
	cr_assert_eq(kfilter_check(noret, 1, &why), -EINVAL);
	cr_assert_eq(kfilter_check(shift, 2, &why), -EINVAL);
}

Test(kfilter, mirror_swaps_the_directions_words)
{
	char *m = kfilter_mirror("tcp dst port 80 and (src host 10.0.0.1 or dst net 10.1.0.0/16)");

	cr_assert_str_eq(m, "tcp src port 80 and (dst host 10.0.0.1 or src net 10.1.0.0/16)");
	free(m);
	m = kfilter_mirror("host my-src.example and !dst port 9");
	cr_assert_str_eq(m, "host my-src.example and !src port 9");
	free(m);
	cr_assert_null(kfilter_mirror("tcp[2:2] = 80"));
	cr_assert_null(kfilter_mirror("ip multicast"));
}

/* Compile a filter as the rules are compiled (raw IP) and give its protocol. */
static int proto_of(const char *filter, struct bpf_program *prog)
{
	pcap_t *p = pcap_open_dead(DLT_RAW, 65535);

	cr_assert(p);
	cr_assert_eq(pcap_compile(p, prog, filter, 1, PCAP_NETMASK_UNKNOWN), 0, "%s: %s", filter,
		     pcap_geterr(p));
	pcap_close(p);
	return kfilter_proto4(prog->bf_insns, prog->bf_len);
}

Test(kfilter, a_program_names_its_one_ipv4_protocol)
{
	static const struct {
		const char *filter;
		int proto;
	} cases[] = {
		{ "tcp port 9", 6 },
		{ "udp dst port 5000", 17 },
		{ "icmp", 1 },
		{ "ip proto 47", 47 },
		{ "tcp port 9 or tcp port 10", 6 },
		{ "udp and host 10.0.0.1", 17 },
		/* Several protocols, or any: no native test. */
		{ "port 53", KFILTER_PROTO_ANY },
		{ "tcp or udp", KFILTER_PROTO_ANY },
		{ "host 10.0.0.1", KFILTER_PROTO_ANY },
		{ "not tcp", KFILTER_PROTO_ANY },
		{ "ip", KFILTER_PROTO_ANY },
		/* iptables reads -p 0 as any protocol. */
		{ "ip proto 0", KFILTER_PROTO_ANY },
		/* IPv6 only: no IPv4 packet. */
		{ "ip6", KFILTER_PROTO_NONE },
		{ "ip6 and tcp port 9", KFILTER_PROTO_NONE },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bpf_program prog;

		cr_expect_eq(proto_of(cases[i].filter, &prog), cases[i].proto, "%s: %d, want %d",
			     cases[i].filter, kfilter_proto4(prog.bf_insns, prog.bf_len), cases[i].proto);
		pcap_freecode(&prog);
	}
}

/*
 * Never lossy: whatever IPv4 packet a program accepts (libpcap's
 * interpreter, every protocol, the ports and fragment offsets it tests)
 * carries the protocol the jump would test, and a program said to take no
 * IPv4 packet takes none.
 */
Test(kfilter, the_protocol_test_never_drops_what_the_program_accepts)
{
	static const char *const filters[] = {
		"tcp port 9", "udp dst port 5000", "icmp", "port 53", "ip6 and udp", "tcp[13] & 2 != 0",
		"udp and not port 53", "ip proto 132 or (tcp and dst port 80)", "len > 100 and tcp",
		"ip[9] > 16 and ip[9] < 18", "ip[9] & 0x10 != 0 and ip[9] & 0xef == 1",
	};
	static const uint16_t ports[] = { 9, 53, 80, 5000, 40000 };
	static const uint16_t frags[] = { 0, 0x2000, 0x0001 };

	for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
		struct bpf_program prog;
		int want = proto_of(filters[i], &prog), hits = 0;
		uint8_t b[160] = { 0 };

		for (unsigned p = 0; p < 256; p++)
			for (size_t s = 0; s < 5; s++)
				for (size_t d = 0; d < 5; d++)
					for (size_t f = 0; f < 3; f++) {
						size_t n = packet(b, 4, (uint8_t)p, ports[s], ports[d]) + (d & 1 ? 64 : 0);

						/* SYN or ACK; lengths of 60 and 124 bytes, for "len > 100". */
						b[20 + 13] = s & 1 ? 0x02 : 0x10;
						b[6] = (uint8_t)(frags[f] >> 8), b[7] = (uint8_t)frags[f];
						b[2] = 0, b[3] = (uint8_t)n;
						if (!bpf_filter(prog.bf_insns, b, (u_int)n, (u_int)n))
							continue;
						hits++;
						cr_assert_neq(want, KFILTER_PROTO_NONE, "%s took protocol %u", filters[i],
							      p);
						cr_assert(want == KFILTER_PROTO_ANY || want == (int)p,
							  "%s took protocol %u, the jump tests %d", filters[i], p, want);
					}
		/* The cases are not vacuous: each but the IPv6 one accepts something. */
		cr_assert((hits > 0) == (want != KFILTER_PROTO_NONE), "%s: %d hits", filters[i], hits);
		pcap_freecode(&prog);
	}
}

/* ---- port sets ---- */

static struct kfilter *plan_sets(const char *const *lines, int n, bool sets, const char *no_sets)
{
	struct rule_set *rs = set_of(lines, n);
	struct kfilter_opts o = { .track = true, .sets = sets, .no_sets = no_sets };
	struct kfilter *k = kfilter_new(rs, &o);

	cr_assert(k);
	rule_set_free(rs);
	return k;
}

/* The hook's set of protocol proto on side, or NULL. */
static const struct kfilter_portset *set_of_hook(const struct kfilter *k, enum pkt_dir h, uint8_t proto,
						 enum kfilter_side side)
{
	for (unsigned i = 0; i < kfilter_nsets(k, h); i++) {
		const struct kfilter_portset *s = kfilter_set(k, h, i);

		if (s->proto == proto && (s->whole || s->side == side))
			return s;
	}
	return NULL;
}

/* n rules "FMT => drop" with the i-th of ports (as the one %d of fmt). */
static struct kfilter *many(const char *fmt, int n, int first, int step, bool sets, const char *no_sets)
{
	char (*lines)[80] = calloc((size_t)n, sizeof(*lines));
	const char **rules = calloc((size_t)n, sizeof(*rules));
	struct kfilter *k;

	cr_assert(lines && rules);
	for (int i = 0; i < n; i++) {
		char f[64];

		snprintf(f, sizeof(f), fmt, first + step * i);
		snprintf(lines[i], sizeof(lines[i]), "%s => drop", f);
		rules[i] = lines[i];
	}
	k = plan_sets(rules, n, sets, no_sets);
	free(lines);
	free(rules);
	return k;
}

Test(kfilter, a_thousand_udp_port_rules_are_two_sets)
{
	struct kfilter *k = many("udp port %d", 1000, 20000, 3, true, NULL);

	for (enum pkt_dir h = PKT_DIR_IN; h <= PKT_DIR_OUT; h++) {
		cr_assert_eq(kfilter_scope(k, h), KFILTER_SOME);
		cr_assert_eq(kfilter_count(k, h), 0);
		cr_assert_eq(kfilter_nsets(k, h), 2);
		for (enum kfilter_side side = KFILTER_SRC; side <= KFILTER_DST; side++) {
			const struct kfilter_portset *s = set_of_hook(k, h, 17, side);

			cr_assert(s && !s->whole);
			cr_assert_eq(s->n, 1000);
			for (unsigned i = 0; i < s->n; i++)
				cr_assert(s->r[i].lo == 20000 + 3 * i && s->r[i].hi == s->r[i].lo, "range %u", i);
		}
	}
	cr_assert_eq(kfilter_scope(k, PKT_DIR_FWD), KFILTER_NONE);
	cr_assert(kfilter_filtered(k));
	kfilter_free(k);

	/* Without sets: today's plan, exactly. */
	k = many("udp port %d", 1000, 20000, 3, false, NULL);
	cr_assert_eq(kfilter_scope(k, PKT_DIR_IN), KFILTER_ALL);
	cr_assert_eq(kfilter_nsets(k, PKT_DIR_IN), 0);
	cr_assert(has_reason(k, "more than 16 bpf programs at in"));
	kfilter_free(k);

	/* Sets wanted but not there: the same, and a reason says why. */
	k = many("udp port %d", 1000, 20000, 3, false, "ipset is not installed");
	cr_assert_eq(kfilter_scope(k, PKT_DIR_IN), KFILTER_ALL);
	cr_assert_eq(kfilter_nsets(k, PKT_DIR_IN), 0);
	cr_assert(has_reason(k, "port sets cannot be used (ipset is not installed): the port rules at in stay"));
	kfilter_free(k);
}

Test(kfilter, ranges_are_exact_and_merged)
{
	char lines[407][80];
	const char *rules[407] = {
		"udp dst portrange 100-200 => drop",
		"udp dst port 201 => drop",
		"udp dst port 203 => drop",
		"tcp src port 5 or 7 => drop, in",
		"udp dst portrange 150-160 => drop",
		"udp dst port 65535 => drop",
		"tcp src portrange 9-8 => drop, in",
	};

	/* Enough other rules that the hook takes sets. */
	for (int i = 7; i < 407; i++) {
		snprintf(lines[i], sizeof(lines[i]), "tcp dst port %d => drop", 40000 + 2 * i);
		rules[i] = lines[i];
	}
	struct kfilter *k = plan_sets(rules, 407, true, NULL);
	const struct kfilter_portset *u = set_of_hook(k, PKT_DIR_IN, 17, KFILTER_DST), *t;

	cr_assert(u, "%u sets, %u programs", kfilter_nsets(k, PKT_DIR_IN), kfilter_count(k, PKT_DIR_IN));
	cr_assert_eq(u->n, 3);
	cr_assert(u->r[0].lo == 100 && u->r[0].hi == 201);
	cr_assert(u->r[1].lo == 203 && u->r[1].hi == 203);
	cr_assert(u->r[2].lo == 65535 && u->r[2].hi == 65535);
	cr_assert_null(set_of_hook(k, PKT_DIR_IN, 17, KFILTER_SRC));
	/* "or 7" takes the term's qualifiers; "9-8" is libpcap's 8-9; ", in" keeps them off out. */
	t = set_of_hook(k, PKT_DIR_IN, 6, KFILTER_SRC);
	cr_assert(t);
	cr_assert_eq(t->n, 2);
	cr_assert(t->r[0].lo == 5 && t->r[0].hi == 5);
	cr_assert(t->r[1].lo == 7 && t->r[1].hi == 9);
	cr_assert_null(set_of_hook(k, PKT_DIR_OUT, 6, KFILTER_SRC));
	cr_assert_eq(kfilter_count(k, PKT_DIR_IN), 0);
	kfilter_free(k);
}

Test(kfilter, a_plain_port_is_tcp_udp_both_sides_and_sctp_whole)
{
	struct kfilter *k = many("port %d", 100, 1000, 1, true, NULL);

	cr_assert_eq(kfilter_nsets(k, PKT_DIR_IN), 5);
	for (uint8_t p = 6; p <= 17; p += 11)
		for (enum kfilter_side side = KFILTER_SRC; side <= KFILTER_DST; side++) {
			const struct kfilter_portset *s = set_of_hook(k, PKT_DIR_IN, p, side);

			cr_assert(s && s->n == 1 && s->r[0].lo == 1000 && s->r[0].hi == 1099, "%u %d", p, side);
		}
	cr_assert(set_of_hook(k, PKT_DIR_IN, 132, KFILTER_DST)->whole);
	cr_assert(has_reason(k, "name SCTP"));
	kfilter_free(k);
}

Test(kfilter, what_is_not_a_port_test_stays_a_program)
{
	/* Each next to 100 port rules, so that sets are taken for those. */
	static const char *const others[] = {
		"udp port 53 and host 10.0.0.1",	/* an address */
		"port domain",				/* a name */
		"port 053",				/* libpcap reads octal: 43, not 53 */
		"not port 53",
		"udp port 53 or icmp",
		"src or dst port 53",
		"tcp dst port 80",			/* tracker-served below */
	};

	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		char lines[101][80];
		const char *rules[101];
		struct kfilter *k;

		for (int j = 0; j < 100; j++) {
			snprintf(lines[j], sizeof(lines[j]), "udp dst port %d => drop", 30000 + j);
			rules[j] = lines[j];
		}
		snprintf(lines[100], sizeof(lines[100]), "%s => %s", others[i],
			 i == 6 ? "drop if state ESTABLISHED" : "drop");
		rules[100] = lines[100];
		k = plan_sets(rules, 101, true, NULL);
		cr_assert_eq(kfilter_scope(k, PKT_DIR_IN), KFILTER_SOME, "%s", others[i]);
		cr_assert_eq(kfilter_count(k, PKT_DIR_IN), 1, "%s: %u programs", others[i],
			     kfilter_count(k, PKT_DIR_IN));
		cr_assert_eq(kfilter_nsets(k, PKT_DIR_IN), 1, "%s", others[i]);
		cr_assert_eq(set_of_hook(k, PKT_DIR_IN, 17, KFILTER_DST)->n, 1, "%s", others[i]);
		kfilter_free(k);
	}
}

Test(kfilter, a_few_port_rules_stay_programs)
{
	/* One program against one set jump: a tie keeps today's program. */
	const char *rules[] = { "udp dst port 5000 => drop" };
	struct kfilter *k = plan_sets(rules, 1, true, NULL);

	cr_assert_eq(kfilter_count(k, PKT_DIR_IN), 1);
	cr_assert_eq(kfilter_nsets(k, PKT_DIR_IN), 0);
	kfilter_free(k);
	/* And no reason for the sets it would not have used anyway. */
	k = plan_sets(rules, 1, false, "ipset is not installed");
	cr_assert_not(has_reason(k, "port sets"));
	kfilter_free(k);
}

Test(kfilter, plans_with_sets_compare_by_their_ports)
{
	struct kfilter *a = many("udp port %d", 200, 20000, 3, true, NULL);
	struct kfilter *b = many("udp port %d", 200, 20000, 3, true, NULL);
	struct kfilter *c = many("udp port %d", 200, 20001, 3, true, NULL);
	struct kfilter *d = many("tcp port %d", 200, 20000, 3, true, NULL);

	cr_assert(kfilter_equal(a, b));
	cr_assert_not(kfilter_equal(a, c));
	cr_assert_not(kfilter_equal(a, d));
	kfilter_free(a);
	kfilter_free(b);
	kfilter_free(c);
	kfilter_free(d);
}

/*
 * Never lossy with sets: every packet a port filter matches (libpcap's
 * interpreter: IPv4 and IPv6, TCP, UDP, SCTP and ICMP, ports on either
 * side, fragments) is taken by one of the hook's sets, the filter beside
 * enough other port rules that the hook holds sets and no program.
 */
Test(kfilter, the_sets_take_every_packet_the_filter_matches)
{
	static const char *const filters[] = {
		"udp port 53", "tcp src port 80", "port 9 or 10", "sctp dst portrange 100-200",
		"tcp portrange 1000-1010 or udp dst port 7", "udp dst port 65535", "port 0",
		"(tcp dst port 80) or (udp src port 53 || 5353)", "tcp src portrange 1010-1000",
	};
	static const uint16_t ports[] = { 0, 7, 9, 10, 53, 80, 150, 1000, 1005, 1010, 5353, 40000, 65535 };
	static const uint16_t frags[] = { 0, 0x2000, 0x0001 };
	static const uint8_t protos[] = { 6, 17, 132, 1 };
	const size_t np = sizeof(ports) / sizeof(ports[0]);
	char lines[301][80];
	const char *rules[301];

	for (int i = 1; i < 301; i++) {
		snprintf(lines[i], sizeof(lines[i]), "udp src port %d => drop", 50000 + 3 * i);
		rules[i] = lines[i];
	}
	for (size_t f = 0; f < sizeof(filters) / sizeof(filters[0]); f++) {
		struct bpf_program prog;
		pcap_t *pc = pcap_open_dead(DLT_RAW, 65535);
		struct kfilter *k;
		int hits = 0;

		snprintf(lines[0], sizeof(lines[0]), "%s => drop", filters[f]);
		rules[0] = lines[0];
		k = plan_sets(rules, 301, true, NULL);
		cr_assert_eq(kfilter_count(k, PKT_DIR_IN), 0, "%s: %u programs", filters[f],
			     kfilter_count(k, PKT_DIR_IN));
		cr_assert(kfilter_nsets(k, PKT_DIR_IN) > 1, "%s", filters[f]);
		cr_assert_eq(pcap_compile(pc, &prog, filters[f], 1, PCAP_NETMASK_UNKNOWN), 0, "%s", filters[f]);
		for (int fam = 4; fam <= 6; fam += 2)
			for (size_t p = 0; p < sizeof(protos); p++)
				for (size_t s = 0; s < np; s++)
					for (size_t d = 0; d < np; d++)
						for (size_t fr = 0; fr < (fam == 4 ? 3u : 1u); fr++) {
							uint8_t b[80];
							size_t n = packet(b, fam, protos[p], ports[s], ports[d]);

							if (fam == 4)
								b[6] = (uint8_t)(frags[fr] >> 8), b[7] = (uint8_t)frags[fr];
							if (!bpf_filter(prog.bf_insns, b, (u_int)n, (u_int)n))
								continue;
							hits++;
							cr_assert(kfilter_sets_take(k, PKT_DIR_IN, b, n),
								  "%s: IPv%d proto %u %u > %u frag %#x not queued", filters[f],
								  fam, protos[p], ports[s], ports[d], frags[fr]);
						}
		cr_assert(hits > 0, "%s matched nothing", filters[f]);
		pcap_freecode(&prog);
		pcap_close(pc);
		kfilter_free(k);
	}
}
