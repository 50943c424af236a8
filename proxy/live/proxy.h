/* SPDX-License-Identifier: MIT */
/*
 * proxy: the live loop. Owns the reader thread and the libuv loop, the NFQUEUE capture, the
 * held-packet scheduler and its timerfd, the raw injection sockets, the
 * decision context and the iptables chain, and wires them:
 *   capture -> packet -> flow -> act -> (release now | sched) -> verdict.
 * No global state: everything hangs off struct proxy.
 */
#ifndef FL_PROXY_H
#define FL_PROXY_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "evfan.h"
#include "ipt.h"
#include "pcapout.h"
#include "pipeline.h"
#include "rule.h"

/* The outputs a run writes besides its verdicts. */
enum proxy_output {
	PROXY_OUT_EVENTS,	/* the event log (proxy_config.events) */
	PROXY_OUT_PCAP,		/* the capture file (proxy_config.pcap_path) */
};

/*
 * An output (the event log or the capture file) failed: err is -errno.
 * Called once per output, at its first failed write, from the thread that
 * wrote (the reader or the loop), with the report callback's data. The
 * proxy goes on forwarding packets; the output gets nothing more.
 */
typedef void (*proxy_output_error_cb)(void *data, enum proxy_output out, int err);

/* The queue a run binds unless told otherwise (0 is a queue too: the caller sets it). */
#define PROXY_DEFAULT_QUEUE 4242u
/* The firewall mark of injected copies. */
#define PROXY_DEFAULT_MARK 0x0fa17u
/*
 * Held packets stay queued in the kernel, each with all its bytes (up to
 * 64 KiB for a GSO super-packet): this bounds that memory by default.
 */
#define PROXY_DEFAULT_MAX_HELD_BYTES (256ull << 20)
/*
 * The release timer fires this long before a held packet's deadline and
 * the loop thread spins the rest (wake.h): a timerfd wakes a thread about
 * 50 us late on the VMs measured. PROXY_RELEASE_EARLY_OFF: at the deadline.
 */
#define PROXY_DEFAULT_RELEASE_EARLY_NS 80000ull
#define PROXY_RELEASE_EARLY_OFF UINT64_MAX
/* The SCHED_FIFO priority of the releasing thread (1-99; chrt's range), by default where allowed. */
#define PROXY_REALTIME_PRIORITY 10
/* proxy_config.realtime: the releasing thread runs SCHED_OTHER (--no-realtime). */
#define PROXY_REALTIME_OFF (-1)
/*
 * SCHED_FIFO with --release-cpu: at most half a CPU, so the CPU's other
 * tasks still run (--realtime refuses more; by default, more means SCHED_OTHER).
 */
#define PROXY_REALTIME_MAX_SPIN_PPM 500000u
/*
 * Share of a CPU that spins may take by default, in parts per million
 * (10 %); --release-cpu sets it, up to all of one CPU.
 */
#define PROXY_RELEASE_SPIN_SHARE_PPM 100000u
/* Bytes of event lines that may wait for a slow reader (--events-backlog). */
#define PROXY_DEFAULT_EVENTS_BACKLOG (4u << 20)
/* Bytes of records that may wait for a slow reader of --pcap (--pcap-backlog). */
#define PROXY_DEFAULT_PCAP_BACKLOG (16u << 20)

/*
 * A 0 in a field below stands for its default: the PROXY_DEFAULT_*
 * above, CAPTURE_DEFAULT_* (capture.h), PIPELINE_DEFAULT_* (pipeline.h)
 * and TRACK_DEFAULT_* (track.h). The usage text prints the same constants.
 */
struct proxy_config {
	uint16_t queue;
	/*
	 * Kernel queues queue..queue+queues-1 (0 stands for 1): one reader
	 * thread and one pipeline each, shown as one run. The chain spreads
	 * packets by a hash of their addresses, the same both ways, so a
	 * connection stays on one queue. Rules that count across flows
	 * (rule_cross_flow) are refused with more than one.
	 */
	uint16_t queues;
	uint32_t queue_maxlen;	/* CAPTURE_DEFAULT_QUEUE_MAXLEN */
	uint32_t rcvbuf;	/* CAPTURE_DEFAULT_RCVBUF */
	uint32_t mark;		/* mark of injected copies (PROXY_DEFAULT_MARK) */
	bool forward;		/* also hook FORWARD */
	bool no_iptables;	/* the caller manages iptables itself */
	/* The iptables backend of the chain; AUTO: proxy_run asks ipt_backend_choose. */
	enum ipt_backend ipt_backend;
	uint64_t seed;
	uint32_t max_held;	/* bound on held packets (PIPELINE_DEFAULT_MAX_HELD) */
	uint64_t max_held_bytes; /* bound on their bytes on the wire (PROXY_DEFAULT_MAX_HELD_BYTES) */
	uint32_t max_flows;	/* flow table size (PIPELINE_DEFAULT_MAX_FLOWS) */
	FILE *events;		/* borrowed; NULL = no event log. Written through its fd only */
	size_t events_backlog;	/* bytes of event lines that may wait for the reader (PROXY_DEFAULT_EVENTS_BACKLOG) */
	const char *pcap_path;	/* annotated pcapng of every packet in and out; NULL = none */
	size_t pcap_backlog;	/* bytes of its records that may wait for the reader (PROXY_DEFAULT_PCAP_BACKLOG) */
	bool no_track;		/* do not run the TCP shadow tracker */
	bool rule_scan_all;	/* testing aid: run every rule's filter (no rule index) */
	bool full_copy;		/* copy whole packets even when headers would do */
	uint64_t time_wait_ns;	/* tracker's 2*MSL (TRACK_DEFAULT_TIME_WAIT_NS) */
	uint64_t track_idle_ns;	/* tracker's idle expiry (TRACK_DEFAULT_IDLE_NS) */
	uint32_t max_conns;	/* tracker's table size (TRACK_DEFAULT_MAX_CONNS) */
	uint64_t release_early_ns; /* wake before a deadline and spin (PROXY_DEFAULT_RELEASE_EARLY_NS) */
	uint32_t release_cpu_ppm;  /* share of a CPU those spins may take (0: PROXY_RELEASE_SPIN_SHARE_PPM) */
	/*
	 * The releasing thread's SCHED_FIFO priority, required (--realtime);
	 * 0: PROXY_REALTIME_PRIORITY where the process may (CAP_SYS_NICE) and
	 * the spins stay within PROXY_REALTIME_MAX_SPIN_PPM, else SCHED_OTHER;
	 * PROXY_REALTIME_OFF: SCHED_OTHER.
	 */
	int realtime;
	/*
	 * Rules may change while it runs (a control socket, SIGHUP): keep
	 * CAP_NET_RAW after setup, if it was given, until the raw sockets are
	 * open, so that the swap that first needs them (proxy_swap_rules) can
	 * open them. Without it such a set is refused then.
	 */
	bool rules_may_change;
	/*
	 * Queue every packet, and why (borrowed: "--queue-all", "--events
	 * records every packet"). NULL: only what the rules can match leaves
	 * the kernel (kfilter.h), in step with every rule change.
	 */
	const char *queue_all;
	/*
	 * Keep what entering another namespace takes (CAP_SYS_ADMIN for setns,
	 * CAP_SYS_PTRACE for another process's /proc/PID/ns/net) and CAP_NET_RAW
	 * after setup, for a caller that starts over in a new one (--container).
	 */
	bool reenter;
	/*
	 * faultline wrap: only the connections of this cgroup (its path from
	 * the cgroup2 root, borrowed) are queued (ipt_config.cgroup), and
	 * CAP_DAC_OVERRIDE is kept after setup, for the owner to remove the
	 * cgroup from the cgroup2 root (mode 0555) at the end. NULL: all.
	 */
	const char *cgroup;
	/* Times the caller followed its container into a new namespace before this run: "netns_follows". */
	uint64_t netns_follows;
	proxy_output_error_cb output_error;	/* NULL: failures are only counted */
};

/*
 * Reports are JSON texts (counters on SIGUSR1 and at exit; "ready" once the
 * chain is installed). 'kind' is "ready", "stats" or "final".
 */
typedef void (*proxy_report_cb)(void *data, const char *kind, const char *json);

/* The step of proxy_new or proxy_run that failed. */
enum proxy_step {
	PROXY_STEP_MEMORY,		/* the proxy itself */
	PROXY_STEP_EVENTS,		/* the event log's queue */
	PROXY_STEP_PCAP_OPEN,		/* creating cfg.pcap_path: wiretap's words in 'pcap' */
	PROXY_STEP_PCAP_QUEUE,		/* the capture file's queue */
	PROXY_STEP_PIPELINE,		/* the decision pipeline */
	PROXY_STEP_BIND,		/* binding 'queue' (EBUSY: another socket holds it, see owner) */
	PROXY_STEP_QUEUE_TIMEOUT,	/* the queue socket's receive timeout */
	PROXY_STEP_INJECT,		/* raw sockets for the rule at rule_file:rule_line, whose
					 * action rule_action sends packets of its own */
	PROXY_STEP_TIMERFD,		/* the release timer */
	PROXY_STEP_REALTIME,		/* SCHED_FIFO for the releasing thread (EPERM: needs CAP_SYS_NICE) */
	PROXY_STEP_LOOP,		/* the event loop */
	PROXY_STEP_IPT_INSTALL,		/* installing the chain: the detail in 'ipt' */
	PROXY_STEP_CAPS,		/* giving up capabilities */
	PROXY_STEP_EVENTS_START,	/* the event log's writer thread */
	PROXY_STEP_PCAP_START,		/* the capture file's writer thread */
	PROXY_STEP_READER_START,	/* the reader thread */
	PROXY_STEP_RELEASER_START,	/* the releasing thread */
	PROXY_STEP_HOOK_START,		/* the start hook (proxy_hooks) refused */
	PROXY_STEP_IPT_REMOVE,		/* removing the chain on the way out: the detail in 'ipt' */
	PROXY_STEP_QUEUES,		/* -ERANGE: queue + queues passes 65535; -EXDEV: the rule at
					 * rule_file:rule_line counts across flows ('cross_flow') */
};

/*
 * Why proxy_new or proxy_run failed, for the caller to word (the proxy
 * prints nothing). Fields beyond step and err are set by the steps named.
 */
struct proxy_error {
	enum proxy_step step;
	int err;			/* -errno */
	uint16_t queue;			/* PROXY_STEP_BIND */
	bool owner_found;		/* PROXY_STEP_BIND, -EBUSY: the queue is listed as bound */
	struct ipt_queue_owner owner;	/* ... and who holds it (owner.pid 0: not found) */
	char rule_file[PATH_MAX];	/* PROXY_STEP_INJECT */
	int rule_line;
	int rule_action;		/* enum rule_action_type */
	char rule_name[RULE_MAX_NAME + 1];
	struct ipt_error ipt;		/* PROXY_STEP_IPT_INSTALL, PROXY_STEP_IPT_REMOVE */
	struct pcapout_error pcap;	/* PROXY_STEP_PCAP_OPEN */
	char cross_flow[16];		/* PROXY_STEP_QUEUES: "first", "rate", ... */
};

struct proxy;

/*
 * Set up everything but the iptables chain. Takes ownership of rules (also
 * on failure). NULL on failure with errno set and the detail in *e (e may
 * be NULL).
 */
struct proxy *proxy_new(const struct proxy_config *cfg, struct rule_set *rules,
			proxy_report_cb report, void *report_data, struct proxy_error *e);

/*
 * Install the chain, give up every capability but CAP_NET_ADMIN (and
 * CAP_NET_RAW with legacy iptables, or while rules that may change may
 * still need raw sockets), and run until
 * SIGINT/SIGTERM (or proxy_stop). The caller must not have started
 * threads: capabilities are per thread. On the way out every held packet
 * is released in deadline order, the chain removed and the queue drained.
 * Returns 0 or -errno with the detail in *e (e may be NULL): the chain
 * could not be installed, a thread not started, or the chain not removed.
 * The outputs are flushed and closed before the final report; a failed
 * output does not make it fail (see proxy_config.output_error and the
 * "write_errors" counter).
 */
int proxy_run(struct proxy *p, struct proxy_error *e);

/* Ask a running proxy to stop, from the loop thread (signals, tests, control API). */
void proxy_stop(struct proxy *p);

struct uv_loop_s;

/*
 * Code the owner runs on the proxy's loop thread (the control socket, the
 * HTTP API). Every callback is optional and gets 'data'.
 */
struct proxy_hooks {
	/*
	 * The run is up (chain installed, reader started), before the
	 * "ready" report: start handles on loop. 0, or -errno to stop the run
	 * (proxy_run fails with PROXY_STEP_HOOK_START).
	 */
	int (*start)(void *data, struct uv_loop_s *loop);
	/*
	 * The run stops (a signal, proxy_stop), before anything is released:
	 * close every handle start opened; their close callbacks run before
	 * proxy_run returns. Called once, also when start was not.
	 */
	void (*stop)(void *data);
	/* SIGHUP: re-read the rules. NULL: SIGHUP is left as it was (it ends the process). */
	void (*hup)(void *data);
	/* SIGINT or SIGTERM (signum) arrived: called before the run stops. */
	void (*term)(void *data, int signum);
	/*
	 * The counters JSON as the run made it (borrowed): return what every
	 * reader of them gets instead (proxy_stats_json, the reports, a new
	 * subscriber's), malloc'd, or NULL on ENOMEM. Called on any thread
	 * that asks, outside the queues' locks. NULL: the run's own.
	 */
	char *(*stats)(void *data, const char *json);
	void *data;
};

/* Install the hooks (copied) before proxy_run. */
void proxy_set_hooks(struct proxy *p, const struct proxy_hooks *h);

/*
 * Swap the rule set between two packets; the proxy takes ownership of the new
 * set and frees the old one. Held packets keep their release times. What
 * the kernel queues changes with it (cfg.queue_all unset): the chain's
 * jumps first, then the set. The raw sockets a set needs (an action that
 * sends packets of its own: act_sending_rule) are opened before it is
 * published, by the first set that needs them. Returns 0, -ENOMEM, -EPERM
 * for such a set when they cannot be opened (no CAP_NET_RAW: it is kept
 * after setup only with cfg.rules_may_change), -EXDEV for a set with a
 * rule that counts across flows (rule_cross_flow) when the run has
 * several queues, or -EREMOTEIO when the kernel's jumps could not be
 * changed (proxy_filter_error says why); on failure the old rules stay,
 * in the kernel too, and the new set is freed. With several queues each
 * swaps between two of its own packets, one after the other.
 */
int proxy_swap_rules(struct proxy *p, struct rule_set *rules);

/* The same, but every rule starts afresh: counters at 0 (pipeline_reset_rules). */
int proxy_reset_rules(struct proxy *p, struct rule_set *rules);

/* Why the last swap's -EREMOTEIO: the iptables tool's words (borrowed). */
const struct ipt_error *proxy_filter_error(const struct proxy *p);

/*
 * The rules running now (borrowed): valid on the loop thread until the
 * next swap, which only the loop thread makes.
 */
const struct rule_set *proxy_rules(const struct proxy *p);

/* The number of kernel queues the run reads (proxy_config.queues). */
unsigned proxy_queues(const struct proxy *p);

/*
 * Event lines not written so far (no room while the reader lagged, a
 * failed write, a reader that stalled at exit); *err is 0 or the -errno
 * of the failed write.
 */
uint64_t proxy_events_dropped(struct proxy *p, int *err);

/*
 * --pcap records not written so far (no room while the reader lagged, a
 * failed write, a reader that stalled at exit); *err is 0 or the -errno of
 * the failed write.
 */
uint64_t proxy_pcap_dropped(struct proxy *p, int *err);

/* The counters as one JSON object (malloc'd; caller frees). */
char *proxy_stats_json(struct proxy *p);

/*
 * Subscribe to the run's event lines (the lines --events writes, written
 * whether or not --events was given, while anyone subscribes): cb hears
 * them on the loop thread as evfan_cb says, from the next line on, and
 * the end of the stream when the proxy stops. With stats non-NULL,
 * *stats is the counters JSON (as proxy_stats_json) at the instant the
 * subscription starts (malloc'd; caller frees). From the loop thread.
 * Returns a subscription id > 0, -ENOMEM, or -ESHUTDOWN once stopping.
 */
int proxy_events_subscribe(struct proxy *p, evfan_cb cb, void *data, char **stats);

/* End a subscription without another call to its cb. From the loop thread. */
void proxy_events_unsubscribe(struct proxy *p, int id);

/*
 * Write the line {"t":T,"ev":"EV",MEMBERS} to the event log and the event
 * stream, T now; MEMBERS as events_put() takes them. Any thread.
 */
void proxy_log_event(struct proxy *p, const char *ev, const char *members);

/*
 * As proxy_log_event, but the line's time is when the rules last changed
 * if that was at or after since_ns (CLOCK_MONOTONIC): the moment a change
 * the caller just made took effect, which separates the packets decided
 * by the old rules from those decided by the new (exactly with one
 * queue; with several, the first queue's moment). Else now. Loop thread.
 */
void proxy_log_change(struct proxy *p, uint64_t since_ns, const char *ev, const char *members);

/* The proxy's libuv loop (for the control layer's handles and timers). */
struct uv_loop_s *proxy_loop(struct proxy *p);

/*
 * Verdicts that did not take effect: not queued, not sent (the kernel
 * then drops their packets when the queue closes) or refused by the
 * kernel. Non-zero means packets may have been lost: the run failed.
 */
uint64_t proxy_verdict_errors(struct proxy *p);

void proxy_free(struct proxy *p);

#endif
