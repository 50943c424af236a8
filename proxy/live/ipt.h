/* SPDX-License-Identifier: MIT */
/*
 * ipt: faultline's iptables/ip6tables chains. One chain per queue range,
 * FAULTLINE-<first queue>, in the mangle table:
 *   - packets carrying faultline's mark (its own injected copies) RETURN;
 *   - everything else goes to NFQUEUE with --queue-bypass, so traffic keeps
 *     flowing whenever no faultline is bound to the queue (crash, kill -9);
 *   - when faultline had to create the mangle table, a last rule (never
 *     reached: NFQUEUE ends the chain) says so, so that whoever removes the
 *     chain, even after a kill -9, also removes the table if it is empty.
 * It is jumped to from OUTPUT (loopback included), from PREROUTING for
 * packets to a local address (loopback excluded, so a loopback packet is
 * seen once, on its way out), and from FORWARD on request. Changes go
 * through iptables-restore, so each one is atomic. One faultline per
 * network namespace: a chain whose queue is bound belongs to a running
 * faultline; a chain whose queue nobody holds is stale and is removed.
 * Chains are looked for with both iptables backends (nf_tables and legacy)
 * where both are installed; new chains go to the backend that
 * ipt_backend_choose() picked (the one the namespace's own rules use):
 * packets pass both backends' hooks, so a chain in each would queue every
 * packet twice, and a chain beside the rules it should see the effect of
 * would run in an order nobody chose. Runs in the calling thread's network
 * namespace.
 *
 * A wrapped command's run (ipt_config.cgroup) queues only the connections
 * of one cgroup: a first rule in OUTPUT, commented IPT_WRAP_COMMENT<queue>,
 * sets the mark's bits in the conntrack mark of every connection a socket
 * of the cgroup sends on (xt_cgroup, cgroup2 path), and the jumps of
 * OUTPUT and PREROUTING match that conntrack mark: both directions of the
 * connection, on loopback too. That rule belongs to the chain of its queue:
 * it goes wherever its jumps go.
 */
#ifndef FL_IPT_H
#define FL_IPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

#define IPT_CHAIN_PREFIX "FAULTLINE-"
/* The comment of the rule that says faultline created the mangle table. */
#define IPT_CREATED_MARK "faultline-created-table"
/* The comment of a wrapped run's conntrack-marking rule, followed by its queue. */
#define IPT_WRAP_COMMENT "faultline-wrap-"
/* FAULTLINE chains of one table that ipt_parse_save() lists (more are ignored). */
#define IPT_MAX_CHAINS 32

/* The two iptables backends (iptables-nft and iptables-legacy). */
enum ipt_backend {
	IPT_BACKEND_AUTO,	/* not chosen yet: ipt_backend_choose() decides */
	IPT_BACKEND_NFT,	/* nf_tables (iptables-nft) */
	IPT_BACKEND_LEGACY,	/* x_tables (iptables-legacy) */
};

/* Who holds an NFQUEUE queue in this namespace. */
struct ipt_queue_owner {
	uint32_t portid;	/* netlink port id of the bound socket */
	int pid;		/* its process, 0 if not found */
	char comm[16];		/* the process's name, "" if not found */
};

/*
 * Why a call below failed, beside its -errno: what the caller needs to
 * word a message (ipt prints nothing). Filled on failure only.
 */
enum ipt_failure {
	IPT_FAIL_TOOL,		/* 'tool' failed or could not run; 'said': the first line of its stderr, or "" */
	IPT_FAIL_NO_TOOL,	/* 'tool' is not installed */
	IPT_FAIL_BUSY,		/* a chain of another running faultline: 'queue', held by 'owner' */
	IPT_FAIL_KEPT,		/* ipt_cleanup kept 'kept' chains of running faultlines; the first: 'queue', 'owner' */
	IPT_FAIL_SPLIT,		/* both backends hold rules: 'rules' (nft, legacy) of each */
	IPT_FAIL_SETS,		/* the filter's port sets could not be made: 'said' (portset.h) */
};

struct ipt_error {
	enum ipt_failure why;
	char tool[40];		/* the iptables program, e.g. "ip6tables-restore" */
	char said[512];
	uint16_t queue;
	struct ipt_queue_owner owner;
	int kept;
	int rules[2];		/* IPT_FAIL_SPLIT: rules in nf_tables, in legacy (both families) */
};

struct kfilter;

struct ipt_config {
	uint16_t queue;		/* first queue */
	uint16_t queues;	/* number of queues (>= 1): --queue-balance */
	uint32_t mark;		/* mark of injected packets, matched exactly */
	bool forward;		/* also hook FORWARD */
	bool ipv6;		/* also install the ip6tables chain */
	/* Where the chain goes and is changed (ipt_backend_choose); AUTO: the system's iptables. */
	enum ipt_backend backend;
	/*
	 * Which packets each hook's jumps take to the chain (borrowed): one
	 * jump per bpf program of a filtered hook ('-m bpf --bytecode') and
	 * per port set ('-p P -m set --match-set NAME src|dst'), one plain
	 * jump for a hook that queues all, none for a hook that queues
	 * nothing. NULL: every packet, at every hook.
	 */
	const struct kfilter *filter;
	/* The generation of filter's port sets (portset.h): their names. */
	uint32_t set_gen;
	/*
	 * A wrapped command's cgroup, as -m cgroup --path takes it (the path
	 * from the cgroup2 root, borrowed): only its connections are queued,
	 * their conntrack mark tagged with 'mark's bits. NULL: every packet.
	 * Not with 'forward'.
	 */
	const char *cgroup;
};

/*
 * Install the chain for both families (IPv6 if asked), after removing stale
 * FAULTLINE chains and the port sets of stale queues and of c->queue; the
 * filter's port sets are made first, under c->set_gen (IPT_FAIL_SETS when
 * they cannot be: the caller may plan without sets and try again). Refuses with -EBUSY (IPT_FAIL_BUSY: the other
 * instance's queue and process) when a chain of another queue is live
 * (its queue is bound): an NFQUEUE verdict ends the hook for the packet, so
 * the second chain would hide the first. The caller must hold c->queue
 * bound already (a chain of that queue is then stale by definition). On
 * failure nothing new stays installed. Returns 0 or -errno, the detail in *e.
 */
int ipt_install(const struct ipt_config *c, struct ipt_error *e);

/*
 * Replace the jumps to c->queue's installed chain by those c->filter asks
 * for: c->filter's port sets made under c->set_gen (which must differ
 * from old_gen; IPT_FAIL_SETS when they cannot be), then per family one
 * iptables-restore transaction that deletes the old jumps and inserts the
 * new, so that every packet meets either the old jumps or the new, then
 * every other set of the queue destroyed. If the IPv6 step fails, the
 * IPv4 jumps are put back as 'old' (borrowed, NULL: every packet; its
 * sets under old_gen) says, and the new sets go. Returns 0 or -errno,
 * the detail in *e.
 */
int ipt_set_filter(const struct ipt_config *c, const struct kfilter *old, uint32_t old_gen,
		   struct ipt_error *e);

/*
 * Append to *script the --noflush lines (no table header, no COMMIT)
 * deleting every jump to queue's chain in the mangle table of 'save'.
 * Returns how many, or -ENOMEM.
 */
int ipt_unjump_lines(const char *save, uint16_t queue, struct strbuf *script);

/*
 * Append to *script the lines inserting c's jumps to its chain (c->filter
 * decides which), for iptables-restore (ip6tables-restore when v6). An
 * IPv4 jump tests its program's one protocol natively first, when it has
 * one, and a program that accepts no IPv4 packet gets no IPv4 jump.
 * Returns 0 or -ENOMEM.
 */
int ipt_jump_lines(const struct ipt_config *c, bool v6, struct strbuf *script);

/*
 * Delete the jumps to queue's chain, keeping the chain (and its note that
 * faultline created the table): no new packet is queued, and none already
 * queued is lost. Returns 0 or -errno, the detail in *e.
 */
int ipt_detach(uint16_t queue, bool ipv6, struct ipt_error *e);

/*
 * Remove the chain of queue 'queue' and its jumps, then its port sets, and
 * the mangle table if faultline created it and it is empty now. Deleting a table unregisters
 * its hooks, and the kernel then drops every packet still queued in the
 * namespace (nfqnl_nf_hook_drop): detach, answer what is queued, then
 * remove. Returns 0 or -errno, the detail in *e.
 */
int ipt_remove(uint16_t queue, bool ipv6, struct ipt_error *e);

/*
 * Remove every stale FAULTLINE chain (both families, both backends), every
 * mangle table that faultline created and that is empty then, and the
 * port sets of every queue nobody holds.
 * removed[IPT_BACKEND_NFT] and removed[IPT_BACKEND_LEGACY] count the chains
 * removed from each ([IPT_BACKEND_AUTO] is 0). A backend whose tools are
 * not installed has nothing to sweep. Chains of a running faultline stay:
 * then -EBUSY (IPT_FAIL_KEPT: the first of them and its process).
 * Returns 0 or -errno, the detail in *e.
 */
int ipt_cleanup(int removed[static 3], struct ipt_error *e);

/* "nft", "legacy" or "auto". */
const char *ipt_backend_name(enum ipt_backend b);

/* "nft", "legacy" or "auto" into *b. Returns 0 or -EINVAL. */
int ipt_backend_parse(const char *s, enum ipt_backend *b);

/* What ipt_backend_choose() decided, and what it saw. */
struct ipt_choice {
	enum ipt_backend backend;	/* NFT or LEGACY */
	enum ipt_backend system;	/* what plain iptables-restore is */
	bool forced;			/* 'want' said it; the rules were not looked at */
	int rules[2];			/* rules not faultline's: [0] nf_tables, [1] legacy (both families) */
};

/*
 * Choose the backend for this namespace: 'want' if it is not AUTO (its
 * tools must be installed: else -ENOENT, IPT_FAIL_NO_TOOL); else the one
 * whose tables hold rules (faultline's own chains do not count), the
 * system's iptables when neither does, and -EEXIST (IPT_FAIL_SPLIT, the
 * counts in e->rules) when both do. The legacy tables are read only when
 * the kernel lists one (reading none loads no module). Returns 0 or
 * -errno, the detail in *e.
 */
int ipt_backend_choose(enum ipt_backend want, struct ipt_choice *c, struct ipt_error *e);

/*
 * The pure decision of ipt_backend_choose: the same, given the save
 * outputs of each backend (every table; both families concatenated; NULL
 * for none) and what the system's iptables is. Returns 0 or -EEXIST.
 */
int ipt_backend_decide(enum ipt_backend want, enum ipt_backend system, const char *nft_save,
		       const char *legacy_save, struct ipt_choice *c);

/*
 * Rules in an iptables-save output (every table) that are not faultline's:
 * rule lines neither in nor jumping to a FAULTLINE- chain (nor a wrapped
 * run's marking rule), user chains not
 * named FAULTLINE-, and built-in chains whose policy is not ACCEPT. Pure.
 */
int ipt_foreign_rules(const char *save);

/*
 * The save and restore programs of backend b (NFT or LEGACY) for one
 * family, when plain iptables-restore is 'system': the plain names for
 * the system's own backend (so a system with only iptables 1.6's legacy
 * tools works), iptables-nft-* or iptables-legacy-* for the other. Pure.
 */
void ipt_backend_tools(enum ipt_backend b, enum ipt_backend system, bool v6, char save[static 40],
		       char restore[static 40]);

/*
 * Run an iptables tool (argv[0], found on PATH) with 'in' on its stdin,
 * its stdout into *out (may be NULL): for the other chains of faultline
 * (nat.h). Returns 0, -EIO (it failed: e->said has the first line of its
 * stderr), -ENOENT (not installed) or -errno.
 */
int ipt_tool(const char *const argv[], const char *in, struct strbuf *out, struct ipt_error *e);

/*
 * Feed 'script' to backend b's (AUTO: the system's) iptables-restore of one
 * family, with --noflush unless 'flush': for faultline's other chains
 * (nat.h), which go where its mangle chain went. Returns 0 or -errno
 * (-EIO: it failed, e->said has why; -ENOENT: not installed).
 */
int ipt_restore(enum ipt_backend b, bool v6, const char *script, bool flush, struct ipt_error *e);

/*
 * Call fn with the save output (every table; borrowed) of each backend of
 * one family that may hold faultline's chains (as ipt_cleanup looks: the
 * other backend only where installed and its kernel lists a table).
 * Stops at fn's first non-zero return, which it returns; else 0 or -errno.
 */
typedef int (*ipt_save_cb)(void *data, enum ipt_backend b, const char *save);
int ipt_foreach_save(bool v6, ipt_save_cb fn, void *data, struct ipt_error *e);

/* Is the iptables-restore binary there? */
bool ipt_available(void);

/*
 * Is queue 'queue' bound in this namespace (per /proc/net/netfilter/
 * nfnetlink_queue)? If so, and o is not NULL, fill *o, finding the
 * process through the socket's inode. Returns 1 if bound, 0 if not.
 */
int ipt_queue_owner(uint16_t queue, struct ipt_queue_owner *o);

/*
 * The pure parts, exposed for tests. Text is borrowed.
 * ipt_parse_queues: the portid bound to 'queue' in the text of
 * /proc/net/netfilter/nfnetlink_queue. Returns 1 if listed, 0 if not.
 */
int ipt_parse_queues(const char *text, uint16_t queue, uint32_t *portid);

/*
 * ipt_parse_netlink: the socket inode of the NETLINK_NETFILTER socket with
 * port id 'portid' in the text of /proc/net/netlink. Returns 1 or 0.
 */
int ipt_parse_netlink(const char *text, uint32_t portid, unsigned long *inode);

/* The mangle table of an iptables-save output, as faultline sees it. */
struct ipt_mangle {
	bool exists;		/* there is a *mangle table */
	bool created;		/* one of its FAULTLINE chains says faultline created it */
	int n_chains;		/* FAULTLINE-<queue> chains listed below */
	uint16_t queue[IPT_MAX_CHAINS];
};

/* Parse the whole output of iptables-save (every table). Returns 0 or -ENOMEM. */
int ipt_parse_save(const char *save, struct ipt_mangle *m);

/*
 * Append to *script an iptables-restore input removing the FAULTLINE chains
 * of queues q[0..n) and every rule jumping to them from the mangle table of
 * 'save'. If one of them says faultline created the table and nothing else
 * is left in it (no other rule or chain, every policy ACCEPT), the script
 * deletes the whole table instead and *flush is set: it must then be fed to
 * iptables-restore without --noflush. Returns the number of chains removed
 * (0: nothing to do, script untouched) or -ENOMEM.
 */
int ipt_removal_script(const char *save, const uint16_t *q, int n, struct strbuf *script,
		       bool *flush);

/*
 * Append to *script an iptables-restore --noflush input deleting the
 * rules that jump to queue's chain. Returns 1, 0 if there are none
 * (script untouched), or -ENOMEM.
 */
int ipt_detach_script(const char *save, uint16_t queue, struct strbuf *script);

#endif
