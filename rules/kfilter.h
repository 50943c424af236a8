/* SPDX-License-Identifier: MIT */
/*
 * kfilter: which packets the kernel must queue for a rule set, so that
 * packets no rule can touch never leave it. Per hook (in, out, fwd: the
 * jumps of the iptables chain), either nothing, everything, or the
 * packets one of a few classic BPF programs accepts, written for the
 * xtables bpf match ('-m bpf --bytecode'), which runs them on the packet
 * from its IP header on: the layout libpcap compiles for (DLT_RAW).
 *
 * Conservative, never lossy: whatever a rule may act on is queued, and a
 * hook queues everything (with the reason kept) when a rule matches every
 * packet, a filter reads bytes that change within a flow (seeded
 * identities count every packet of a flow direction: filters on the
 * addresses, ports and protocol keep them), a program is longer than the
 * match takes or one the kernel would not run as libpcap meant it, or a
 * hook would need more than KFILTER_MAX_PROGS programs. Rules the TCP
 * tracker serves (its conditions, from-byte, reset) queue both directions
 * of their connections, on every hook. A caller that needs every packet
 * (an event log) says so with kfilter_opts.all.
 *
 * Port sets (kfilter_opts.sets): a rule whose filter is nothing but port
 * tests ("[tcp|udp|sctp] [src|dst] port N" or "... portrange A-B", or'ed
 * together; a bare "port N" is TCP, UDP and SCTP on either side, as in
 * libpcap) may be kept in ipset bitmap:port sets instead of programs: per
 * hook, one set per protocol and side, each jumped to once. A hook takes
 * sets where they cost fewer jumps than the programs they replace, or
 * where the programs would not fit at all; libpcap judges every such
 * filter (its reading, written back as text, must compile to the same
 * program), and whatever it does not confirm stays a program.
 *
 * Pure: libpcap compiles, nothing else is touched. The plan owns its
 * strings; everything it returns is borrowed from it.
 */
#ifndef FL_RULES_KFILTER_H
#define FL_RULES_KFILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "packet.h"

struct rule_set;
struct bpf_insn;

/* The xtables bpf match's limit (XT_BPF_MAX_NUM_INSTR in linux/netfilter/xt_bpf.h). */
#define KFILTER_MAX_INSNS 64
/* Programs (jumps) on one hook; past that the hook queues everything. */
#define KFILTER_MAX_PROGS 16
/* Reasons a plan keeps; more are counted, not kept. */
#define KFILTER_MAX_REASONS 8

/* The hooks are the packet directions: PKT_DIR_IN, PKT_DIR_OUT, PKT_DIR_FWD. */
#define KFILTER_NHOOKS 3

enum kfilter_scope {
	KFILTER_NONE = 0,	/* no packet at this hook is queued */
	KFILTER_SOME,		/* the packets one of the hook's programs accepts */
	KFILTER_ALL,		/* every packet */
};

struct kfilter_opts {
	bool forward;		/* the FWD hook is jumped from (--forward) */
	bool track;		/* the TCP tracker runs (not --no-track) */
	/* Queue everything, because of this (borrowed, copied): "--queue-all", "--events ..." */
	const char *all;
	bool sets;		/* ipset bitmap:port sets can be used */
	/*
	 * Why sets cannot be used, when !sets (borrowed, copied): a hook that
	 * would have used them says so in a reason. NULL: today's plan, not
	 * even looked at.
	 */
	const char *no_sets;
};

struct kfilter;

/*
 * The plan for the enabled rules of rs (borrowed). NULL + errno (ENOMEM)
 * only when out of memory: a filter that cannot be made exact widens.
 */
struct kfilter *kfilter_new(const struct rule_set *rs, const struct kfilter_opts *o);
void kfilter_free(struct kfilter *k);

enum kfilter_scope kfilter_scope(const struct kfilter *k, enum pkt_dir hook);
/* Programs of a KFILTER_SOME hook (0 otherwise); its sets are kfilter_nsets(). */
unsigned kfilter_count(const struct kfilter *k, enum pkt_dir hook);
/* Program i of the hook as --bytecode takes it: "N,code jt jf k,...". Borrowed. */
const char *kfilter_bytecode(const struct kfilter *k, enum pkt_dir hook, unsigned i);

/* kfilter_proto4()'s answers besides a protocol number. */
#define KFILTER_PROTO_ANY	(-1)	/* several, or not known */
#define KFILTER_PROTO_NONE	(-2)	/* no IPv4 packet */
/*
 * The one IPv4 protocol (1-255) whose packets the program can accept, so
 * that a jump can test it natively ('-p P', a compare in nf_tables) before
 * the bpf match, which the kernel reaches through its xtables compat layer.
 * Found by running the program over known bits (byte 0 is 0x4?, byte 9 the
 * protocol, all else unknown) for each protocol; where that cannot decide,
 * the answer widens: "none" is exact, a protocol is a superset of what the
 * program accepts. Pure.
 */
int kfilter_proto4(const struct bpf_insn *in, unsigned n);
/* kfilter_proto4() of program i of the hook (KFILTER_PROTO_ANY past the end). */
int kfilter_ip4_proto(const struct kfilter *k, enum pkt_dir hook, unsigned i);

enum kfilter_side {
	KFILTER_SRC,
	KFILTER_DST,
};

/* Ports lo to hi, both included. */
struct kfilter_range {
	uint16_t lo, hi;
};

/*
 * One set of a hook: the packets of 'proto' whose port on 'side' is in
 * one of the ranges (ascending, disjoint, never adjacent). 'whole': every
 * packet of proto at the hook, no set (SCTP: bitmap:port reads the ports
 * of TCP and UDP only, so SCTP port rules queue all of SCTP).
 */
struct kfilter_portset {
	uint8_t proto;		/* 6 (TCP), 17 (UDP); 132 (SCTP) only whole */
	enum kfilter_side side;
	bool whole;
	unsigned n;
	const struct kfilter_range *r;
};

/* Sets of one hook: TCP and UDP each side, and SCTP whole. */
#define KFILTER_MAX_SETS 5

/* Sets of a KFILTER_SOME hook (0 otherwise), besides its programs. */
unsigned kfilter_nsets(const struct kfilter *k, enum pkt_dir hook);
/* Set i of the hook, NULL past the end. Borrowed. */
const struct kfilter_portset *kfilter_set(const struct kfilter *k, enum pkt_dir hook, unsigned i);

/*
 * Would one of the hook's port sets take packet b (len bytes from its IP
 * header on; IPv4, or IPv6 without extension headers) as the kernel's set
 * match reads it (ip_set_get_ip4_port, ip_set_get_ip6_port, bitmap:port)?
 * The jump's protocol, no port in a non-first IPv4 fragment, the side's
 * port in one of the ranges; a protocol queued whole takes all of it. The
 * model the tests hold the sets to. Pure.
 */
bool kfilter_sets_take(const struct kfilter *k, enum pkt_dir hook, const uint8_t *b, size_t len);

/* Does some hook queue less than everything? */
bool kfilter_filtered(const struct kfilter *k);
/*
 * Why packets are queued beyond what the rules' filters match (a hook
 * queuing all, a widened rule), in rule order: n of them, at most
 * KFILTER_MAX_REASONS kept; more are counted in *n. Borrowed.
 */
const char *const *kfilter_reasons(const struct kfilter *k, size_t *n);

/* Would the two plans install the same jumps? NULL is no plan. */
bool kfilter_equal(const struct kfilter *a, const struct kfilter *b);

/* "in", "out", "fwd". */
const char *kfilter_hook_name(enum pkt_dir hook);
/* "none", "filtered", "all". */
const char *kfilter_scope_name(enum kfilter_scope s);

/*
 * Would the kernel run this classic BPF program (n instructions) as
 * libpcap's interpreter does? Mirrors the kernel's checks
 * (bpf_check_classic: known opcodes, jumps in range, a return last,
 * scratch memory written before read, no constant division by zero or
 * shift past 31), and refuses negative load offsets, which the kernel
 * takes for its ancillary data. Returns 0, or -EINVAL with *why (static).
 */
int kfilter_check(const struct bpf_insn *in, unsigned n, const char **why);

/*
 * A filter's text with its directions swapped (src and dst), so that
 * "(F) or (mirror)" holds for both directions of F's flows. NULL when the
 * words cannot say the mirror (byte offsets, multicast, broadcast), or
 * out of memory (errno ENOMEM). The caller frees.
 */
char *kfilter_mirror(const char *filter);

#endif
