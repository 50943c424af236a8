// SPDX-License-Identifier: MIT
#include <errno.h>
#include <linux/capability.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "capture.h"
#include "evfan.h"
#include "events.h"
#include "evq.h"
#include "hot.h"
#include "inject.h"
#include "ipt.h"
#include "kfilter.h"
#include "portset.h"
#include "lock.h"
#include "packet.h"
#include "pcaplog.h"
#include "pcapout.h"
#include "pcapq.h"
#include "pipeline.h"
#include "priv.h"
#include "proxy.h"
#include "strbuf.h"
#include "thread.h"
#include "wake.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* Packets handled per lock hold: bounded so releases and signals get their turn. */
#define READ_BUDGET 256
#define BURST 32		/* packets decided together: one recvmmsg's worth */
/* How long the reader sleeps in recvmmsg before it looks at the stop flag. */
#define READER_TICK_MS 100
/* The loop's handles: four signals, housekeeping, the event stream's wake-up. */
#define N_HANDLES 6
/*
 * The releasing thread's slice when it runs SCHED_OTHER
 * (thread_short_slice): it runs 100 us at a time at most for a release
 * (the early wake's spin included), and asking for as much lets it onto
 * a busy CPU sooner when its timer fires.
 */
#define RELEASE_SLICE_NS 100000ull
/* At exit, a reader of --events or --pcap that takes nothing this long is given up on. */
#define EVENTS_STALL_MS 2000

/*
 * One kernel queue: its reader thread, its socket and its pipeline. The
 * reader sleeps in recvmmsg on the queue socket and runs the decision
 * path for what it got; the releasing thread sleeps on every queue's
 * release timer and lets held packets go when they are due; the loop
 * thread (libuv) owns signals, housekeeping and the control API. A poll round before each
 * read costs a packet about 10 us of latency more than a bare blocking
 * loop (measured: bench/run.sh ping), hence the thread. 'lock' guards
 * everything below it: pipeline, capture's send side and counters,
 * inject, the accept list, the timerfd's armed deadline. With several
 * queues (--queues) nothing on the packet path is shared but what only
 * the outputs need (the event log's and the capture file's rings, which
 * have locks of their own): each queue is a faultline of its own, and the
 * loop thread shows them as one.
 */
struct proxy_queue {
	struct proxy *p;
	uint16_t num;		/* the kernel's queue number */
	pthread_t reader;
	bool reader_started;
	struct lock lock;
	int timer_fd;
	uint64_t armed_ns;	/* time the timerfd is armed for, 0 = disarmed */
	struct wake wake;	/* how early to arm it, and the spin budget */
	struct capture *cap;
	struct inject *inj;
	struct pipeline *pl;
	struct events ev;	/* the event log's observer, writing into the proxy's evq */
	struct events fan_ev;	/* the event stream's, writing into its fan-out ring */
	struct pcaplog pcap;	/* the capture file's observer, writing into the pcapq */

	/*
	 * Packets read but not decided yet: decided together (pipeline_burst).
	 * Then the accepts among them, sent as one batch verdict when nothing
	 * is held. Both in here, next to each other: after an idle spell
	 * every separate allocation a packet touches is one more page to miss.
	 */
	unsigned n_burst;
	size_t n_accepts;
	struct pipeline_pkt burst[BURST];
	uint64_t burst_now[BURST];
	uint32_t accepts[READ_BUDGET];
	uint64_t duplicates_sent, duplicate_errors, verdict_errors, read_errors;
	uint64_t stamps_used;	/* kernel timestamps plausible enough to use */
	/*
	 * CLOCK_REALTIME - CLOCK_MONOTONIC when the reader last woke: kernel
	 * stamps are on the first clock, the pipelines on the second, and the
	 * two drift apart (NTP) by up to 0.5 ms a second, so the difference is
	 * read anew for each batch (two vDSO reads).
	 */
	int64_t rt_offset;
} __attribute__((aligned(64)));	/* queues' hot data never shares a cache line */

struct proxy {
	struct proxy_config cfg;
	uv_loop_t loop;
	atomic_bool reader_stop;
	uv_signal_t sig_int, sig_term, sig_usr1, sig_hup;
	struct proxy_hooks hooks;
	uv_timer_t housekeeping; /* TIME_WAIT and idle expiry: coarse time is fine */
	uint64_t rules_changed_ns;	/* when a swap last published a set (loop thread) */
	int stamp_fd;	/* holds kernel receive timestamps on: the tracker's and the delays' clock */
	int64_t rt_offset;	/* realtime - monotonic at the start, for the capture file */

	unsigned n_queues;
	struct proxy_queue *q;	/* n_queues of them */
	struct rule_set *rules;
	struct evq *evq;	/* the event log's lines on their way to the file */
	struct pcapq *pcapq;	/* the --pcap records on their way to the file */
	uint64_t pcap_epoch_ns;	/* the capture file's time minus the pipelines' */
	/* Each output's failure is told once, whichever queue met it first. */
	atomic_bool told_events, told_pcap;
	/*
	 * The control API's event stream: a second event log observer per
	 * queue, gated on anyone listening, writing into the fan-out ring
	 * that the loop thread drains (fan_async) into its subscribers.
	 */
	struct evfan *fan;
	uv_async_t fan_async;

	/* What the chain's jumps queue now (NULL: everything, as with no_iptables). */
	struct kfilter *kf;
	uint32_t set_gen;	/* the generation of kf's port sets (portset.h) */
	/* Why port sets are not used ("" while they may be): ipset failed once, so the plans do without. */
	char no_sets[160];
	struct ipt_error filter_ipt;	/* why the last change of the jumps failed */
	bool ipt_installed, stopping, loop_ready;
	/* What went wrong first on the way out: the chain could not be removed. */
	int stop_ret;		/* 0 or -errno */
	struct ipt_error stop_ipt;
	int open_handles;	/* N_HANDLES once set up, down to 0 as they close */
	proxy_report_cb report;
	void *report_data;

	/*
	 * The releasing thread: it sleeps in epoll_wait on every queue's
	 * timerfd and on rel_stop (an eventfd), so that a release waits for
	 * nothing the loop thread does (a control request, an event stream's
	 * write), and so that only this small job runs SCHED_FIFO.
	 */
	pthread_t releaser;
	bool releaser_started;
	int rel_epfd, rel_stop;
	int rel_prio;		/* the SCHED_FIFO priority it runs at; 0 = SCHED_OTHER */
	int rel_err;		/* why not SCHED_FIFO, when tried by default: -errno */
	sem_t rel_ready;	/* posted once the thread gave up its capabilities */
	int rel_caps;		/* how that went: 0 or -errno */
};

/* Every queue's lock, in order: only the loop thread takes more than one. */
static void lock_all(struct proxy *p)
{
	for (unsigned i = 0; i < p->n_queues; i++)
		lock_take(&p->q[i].lock);
}

static void unlock_all(struct proxy *p)
{
	for (unsigned i = p->n_queues; i-- > 0;)
		lock_give(&p->q[i].lock);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Arm the queue's timerfd for its earliest held deadline (absolute,
 * CLOCK_MONOTONIC), or a little before it when the thread is to spin the
 * rest (wake.h).
 */
static void rearm(struct proxy_queue *q)
{
	uint64_t when = pipeline_next_deadline(q->pl);
	struct itimerspec its = { 0 };

	if (when)
		when = wake_arm_at(&q->wake, when, now_ns());
	if (when == q->armed_ns)
		return;
	if (when) {
		its.it_value.tv_sec = (time_t)(when / 1000000000ull);
		its.it_value.tv_nsec = (long)(when % 1000000000ull);
	}
	timerfd_settime(q->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
	q->armed_ns = when;
}

static void flush_accepts(struct proxy_queue *q);

/*
 * Bytes of each packet to copy from the kernel. The decision path reads
 * headers only (the tracker too), unless a rule re-sends or rewrites
 * packets, a filter reads further, or the pcapng wants them. Copying a
 * 64 KiB GSO super-packet to user space for a verdict on its headers is
 * most of what separated faultline from the bare accept loop on TCP.
 * HEADER_ROOM covers IPv6 with extension headers and TCP with options; a
 * packet whose headers reach past it is passed unchanged and counted as
 * malformed.
 */
#define HEADER_ROOM 512u

static uint32_t copy_range_for(const struct proxy *p, const struct rule_set *rules)
{
	uint32_t need = rule_set_bytes_needed(rules);

	if (p->cfg.pcap_path || p->cfg.full_copy || need > 0xffffu)
		return 0xffff;
	return need > HEADER_ROOM ? need : HEADER_ROOM;
}

FL_HOT static void on_verdict(void *data, uint32_t id, bool accept, bool held, const uint8_t *payload,
			      uint32_t len, uint32_t wire_len, const uint8_t *bytes, uint64_t now)
{
	struct proxy_queue *q = data;

	if (accept && !held && !payload && q->n_accepts < READ_BUDGET) {
		q->accepts[q->n_accepts++] = id;
		return;
	}
	if (capture_verdict(q->cap, id, accept ? CAPTURE_ACCEPT : CAPTURE_DROP, payload, len) < 0)
		q->verdict_errors++;
}

/* Each queue's observer tells of its first failure: the owner hears of the output's once. */
static void on_events_error(void *data, int err)
{
	struct proxy *p = data;

	if (p->cfg.output_error && !atomic_exchange(&p->told_events, true))
		p->cfg.output_error(p->report_data, PROXY_OUT_EVENTS, err);
}

static void on_pcap_error(void *data, int err)
{
	struct proxy *p = data;

	if (p->cfg.output_error && !atomic_exchange(&p->told_pcap, true))
		p->cfg.output_error(p->report_data, PROXY_OUT_PCAP, err);
}

/* The capture file's records go into the queue, never to the file from the packet path. */
static int pcapq_sink(void *sink, enum pcapout_iface iface, uint64_t ts_ns, const uint8_t *data,
		      uint32_t caplen, uint32_t len, const char *comment)
{
	return pcapq_write(sink, iface, ts_ns, data, caplen, len, comment);
}

/*
 * After the event log's writer stopped: a write that failed (maybe only at
 * the end, where the pipeline no longer saw it) is told once, and a file
 * it left in the middle of a line is cut back to its last whole one.
 */
static void events_close_failed(struct proxy *p)
{
	struct evq_stats es = { 0 };

	if (!p->evq)
		return;
	evq_get_stats(p->evq, &es);
	if (!es.err)
		return;
	events_note_error(&p->q[0].ev, es.err);
	events_cut_fd(fileno(p->cfg.events));
}

/* After the capture's writer stopped: a failure only the close saw is told once too. */
static void pcap_close_failed(struct proxy *p)
{
	struct pcapq_stats qs = { 0 };

	if (!p->pcapq)
		return;
	pcapq_get_stats(p->pcapq, &qs);
	pcaplog_note_error(&p->q[0].pcap, qs.err);
}

static void on_duplicate(void *data, const uint8_t *bytes, uint32_t len, uint32_t copies, uint64_t now)
{
	struct proxy_queue *q = data;
	struct pkt_view v;

	/* Bytes the pipeline parsed should parse again; if not, the copies are counted as lost. */
	if (pkt_parse(&v, bytes, len)) {
		q->duplicate_errors += copies;
		return;
	}
	/* The original goes first: send its verdict before the copies leave. */
	flush_accepts(q);
	capture_flush(q->cap);
	for (uint32_t i = 0; i < copies; i++) {
		/* No raw sockets: no rule duplicated when they would have been opened. */
		if (!q->inj || inject_send(q->inj, &v) < 0)
			q->duplicate_errors++;
		else
			q->duplicates_sent++;
	}
}

/* A packet faultline made (a RST): after every verdict given so far, as a copy. */
static int on_inject(void *data, const uint8_t *bytes, uint32_t len, uint64_t now)
{
	struct proxy_queue *q = data;
	struct pkt_view v;
	int ret;

	if (pkt_parse(&v, bytes, len))
		return -EBADMSG;
	flush_accepts(q);
	capture_flush(q->cap);
	/* No raw sockets: no rule sent packets when they would have been opened. */
	if (!q->inj)
		return -ENOTCONN;
	ret = inject_send(q->inj, &v);
	return ret < 0 ? ret : 0;
}

FL_HOT static void flush_accepts(struct proxy_queue *q)
{
	if (!q->n_accepts)
		return;
	/*
	 * A batch verdict accepts every queued id up to the given one, held
	 * packets included, so it is only safe while nothing is held. Ids
	 * and held packets are the queue's own: other queues do not matter.
	 */
	if (!pipeline_held(q->pl)) {
		uint32_t max = q->accepts[0];

		for (size_t i = 1; i < q->n_accepts; i++)
			if ((int32_t)(q->accepts[i] - max) > 0)
				max = q->accepts[i];
		if (capture_accept_upto(q->cap, max) < 0)
			q->verdict_errors++;
	} else {
		for (size_t i = 0; i < q->n_accepts; i++)
			if (capture_verdict(q->cap, q->accepts[i], CAPTURE_ACCEPT, NULL, 0) < 0)
				q->verdict_errors++;
	}
	q->n_accepts = 0;
}


/* CLOCK_REALTIME minus CLOCK_MONOTONIC, to bring kernel timestamps onto our clock. */
static int64_t realtime_offset(void)
{
	struct timespec rt, mt;

	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mt);
	return ((int64_t)rt.tv_sec - mt.tv_sec) * 1000000000ll + (rt.tv_nsec - mt.tv_nsec);
}

/* Decide the packets read so far; their verdicts go to the send buffer. */
FL_HOT static void decide_burst(struct proxy_queue *q)
{
	/* A full accept list would overflow into single verdicts: send it first. */
	if (q->n_accepts + q->n_burst > READ_BUDGET)
		flush_accepts(q);
	pipeline_burst(q->pl, q->burst, q->burst_now, q->n_burst);
	q->n_burst = 0;
}

FL_HOT static void on_packet(void *data, struct capture_pkt *cp)
{
	struct proxy_queue *q = data;
	struct pipeline_pkt pk = {
		.id = cp->id,
		.dir = cp->dir,
		.data = cp->data,
		.len = cp->len,
		.orig_len = cp->orig_len,
		.gso = cp->gso,
	};

	/*
	 * Each packet gets its own time: the tracker tells retransmissions
	 * from out-of-order segments by elapsed time, as Wireshark does, and
	 * a burst can span a millisecond. (A vDSO clock read costs ~20 ns.)
	 */
	uint64_t now = now_ns();

	if (cp->tstamp_ns) {
		int64_t seen = (int64_t)cp->tstamp_ns - q->rt_offset;

		/* Only a plausible arrival: not in the future, not long ago. */
		if (seen > 0 && (uint64_t)seen <= now && now - (uint64_t)seen < 1000000000ull) {
			pk.seen_ns = (uint64_t)seen;
			q->stamps_used++;
		}
	}
	if (q->n_burst == BURST)
		decide_burst(q);
	q->burst[q->n_burst] = pk;
	q->burst_now[q->n_burst++] = now;
}

FL_HOT static void *reader_main(void *arg)
{
	struct proxy_queue *q = arg;

	while (!atomic_load_explicit(&q->p->reader_stop, memory_order_relaxed)) {
		int n = capture_recv(q->cap, true), total;

		if (n <= 0) {
			if (n < 0) {
				lock_take(&q->lock);
				q->read_errors++;
				lock_give(&q->lock);
				/* Counted, not fatal; but a lasting error must not spin a CPU. */
				usleep(1000);
			}
			continue;
		}
		lock_take(&q->lock);
		q->rt_offset = realtime_offset();
		/* This batch, then what else is there while batches come full, up to the budget. */
		for (total = 0;;) {
			total += capture_dispatch(q->cap, on_packet, q);
			decide_burst(q);
			if (!capture_more(q->cap, n) || total >= READ_BUDGET ||
			    (n = capture_recv(q->cap, false)) <= 0)
				break;
		}
		/*
		 * Whichever thread runs first releases what is due: under load
		 * the loop thread may wait milliseconds for a CPU after its
		 * timer fired while this one is already running (at a steady
		 * rate a delay's deadlines fall among later arrivals). Never
		 * before a deadline, in the scheduler's order as always.
		 */
		pipeline_release_due(q->pl, now_ns());
		flush_accepts(q);
		capture_flush(q->cap);
		rearm(q);
		lock_give(&q->lock);
	}
	return NULL;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/*
 * Woken early for the next deadline (wake.h): wait for it on the clock,
 * without the lock, so the reader goes on deciding packets meanwhile.
 * Returns with the lock taken. The spin is bounded by early_ns.
 */
static void spin_to_deadline(struct proxy_queue *q)
{
	uint64_t deadline = pipeline_next_deadline(q->pl), start = now_ns(), t = start;

	if (!wake_should_spin(&q->wake, deadline, start))
		return;
	lock_give(&q->lock);
	while (t < deadline) {
		cpu_relax();
		t = now_ns();
	}
	lock_take(&q->lock);
	wake_spent(&q->wake, t - start);
}

/* The queue's release timer fired (the releasing thread). */
static void release_fired(struct proxy_queue *q)
{
	uint64_t expirations;

	if (read(q->timer_fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		return;
	lock_take(&q->lock);
	q->armed_ns = 0;
	spin_to_deadline(q);
	pipeline_release_due(q->pl, now_ns());
	flush_accepts(q);
	capture_flush(q->cap);
	rearm(q);
	lock_give(&q->lock);
}

static int drop_privileges(struct proxy *p);

static void *releaser_main(void *arg)
{
	struct proxy *p = arg;
	struct epoll_event ev[8];

	/* Started before the caller gave up its capabilities: the same go here (start_releaser). */
	p->rel_caps = drop_privileges(p);
	sem_post(&p->rel_ready);
	if (p->rel_caps)
		return NULL;
	/* For top -H and ps -L; the tests find it by this name. */
	pthread_setname_np(pthread_self(), "fl-release");
	/* Best effort: a kernel without it still wakes the thread, only later on a busy CPU. */
	if (!p->rel_prio)
		thread_short_slice(RELEASE_SLICE_NS);
	for (;;) {
		int n = epoll_wait(p->rel_epfd, ev, 8, -1);

		for (int i = 0; i < n; i++) {
			if (!ev[i].data.ptr)
				return NULL;	/* rel_stop: the readers are gone, proxy_stop releases the rest */
			release_fired(ev[i].data.ptr);
		}
		/* EINTR aside, a failing epoll_wait must not spin a CPU at SCHED_FIFO. */
		if (n < 0 && errno != EINTR)
			usleep(1000);
	}
}

static void stop_releaser(struct proxy *p)
{
	uint64_t one = 1;

	if (!p->releaser_started)
		return;
	if (write(p->rel_stop, &one, sizeof(one)) != sizeof(one))
		abort();	/* an eventfd write fails only on overflow: cannot happen with one write */
	pthread_join(p->releaser, NULL);
	p->releaser_started = false;
}

static void on_housekeeping(uv_timer_t *t)
{
	struct proxy *p = container_of(t, struct proxy, housekeeping);

	/* One queue at a time: the others' readers go on meanwhile. */
	for (unsigned i = 0; i < p->n_queues; i++) {
		lock_take(&p->q[i].lock);
		pipeline_expire(p->q[i].pl, now_ns());
		lock_give(&p->q[i].lock);
	}
}

static void report(struct proxy *p, const char *kind)
{
	char *json;

	if (!p->report)
		return;
	json = proxy_stats_json(p);
	if (json)
		p->report(p->report_data, kind, json);
	free(json);
}

static void on_close(uv_handle_t *h)
{
	struct proxy *p = h->data;

	p->open_handles--;
}

static void drain_accept(void *data, struct capture_pkt *cp)
{
	struct proxy_queue *q = data;

	if (q->n_accepts == READ_BUDGET)
		flush_accepts(q);
	q->accepts[q->n_accepts++] = cp->id;
}

static void close_handles(struct proxy *p)
{
	uv_close((uv_handle_t *)&p->fan_async, on_close);
	uv_close((uv_handle_t *)&p->sig_int, on_close);
	uv_close((uv_handle_t *)&p->sig_term, on_close);
	uv_close((uv_handle_t *)&p->sig_usr1, on_close);
	uv_close((uv_handle_t *)&p->sig_hup, on_close);
	uv_close((uv_handle_t *)&p->housekeeping, on_close);
}

static void stop_readers(struct proxy *p)
{
	atomic_store(&p->reader_stop, true);
	for (unsigned i = 0; p->q && i < p->n_queues; i++) {
		if (!p->q[i].reader_started)
			continue;
		pthread_join(p->q[i].reader, NULL);
		p->q[i].reader_started = false;
	}
}

/*
 * Packets queued before the jumps went away are in the queue's socket;
 * the kernel drops them when the socket closes, so accept them first.
 * The last read also collects the kernel's errors for the verdicts just
 * sent (it answers within the send), for the final counters.
 */
static void drain_queue(struct proxy_queue *q)
{
	for (int i = 0; i < 64; i++) {
		flush_accepts(q);
		capture_flush(q->cap);
		if (capture_read(q->cap, READ_BUDGET, drain_accept, q) <= 0)
			break;
	}
	flush_accepts(q);
	capture_flush(q->cap);
}

/* From here on one thread only: the readers are gone. */
void proxy_stop(struct proxy *p)
{
	struct ipt_error e;
	int ret;

	if (p->stopping)
		return;
	p->stopping = true;
	/* No client changes the rules or waits on them from here on. */
	if (p->hooks.stop)
		p->hooks.stop(p->hooks.data);
	/* Each reader finishes the batch it has (ours to answer) and leaves. */
	stop_readers(p);
	stop_releaser(p);
	/* Everything held goes now, in deadline order, queue by queue. */
	for (unsigned i = 0; i < p->n_queues; i++) {
		pipeline_release_all(p->q[i].pl, now_ns(), false);
		flush_accepts(&p->q[i]);
		capture_flush(p->q[i].cap);
	}
	/*
	 * The jumps go first: removing the chain may delete the mangle table,
	 * whose hooks going away makes the kernel drop every packet still
	 * queued. With the capabilities kept after setup (priv_keep_only):
	 * tests/integration/071.
	 */
	if (p->ipt_installed) {
		ret = ipt_detach(p->cfg.queue, true, &e);
		if (ret) {
			p->stop_ret = ret;
			p->stop_ipt = e;
		}
	}
	for (unsigned i = 0; i < p->n_queues; i++)
		drain_queue(&p->q[i]);
	if (p->ipt_installed) {
		ret = ipt_remove(p->cfg.queue, true, &e);
		if (ret && !p->stop_ret) {
			p->stop_ret = ret;
			p->stop_ipt = e;
		}
		p->ipt_installed = false;
	}
	/* The stream's last lines (the releases above), then its end, to every subscriber. */
	evfan_end(p->fan);
	close_handles(p);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct proxy *p = h->data;

	if (signum == SIGUSR1)
		report(p, "stats");
	else if (signum == SIGHUP)
		p->hooks.hup(p->hooks.data);
	else if (!p->stopping && p->hooks.term)
		p->hooks.term(p->hooks.data, signum);
	if (signum == SIGINT || signum == SIGTERM)
		proxy_stop(p);
}

/* Whether a rule cuts segments at a byte ('from-byte N'), rewriting their heads. */
static bool cutting_rule(const struct rule_set *rules)
{
	for (size_t i = 0; i < rule_set_count(rules); i++)
		if (rule_set_get(rules, i)->from_byte)
			return true;
	return false;
}

/* Record which step failed and how; e may be NULL. Returns err. */
static int fail(struct proxy_error *e, enum proxy_step step, int err)
{
	if (e) {
		e->step = step;
		e->err = err;
	}
	return err;
}

/*
 * The first rule that keeps state across flows (rule_cross_flow), with
 * what it is, when the run has several queues: each queue would keep a
 * count of its own. NULL with one queue or none.
 */
static const struct rule *cross_flow_rule(const struct proxy *p, const struct rule_set *rules,
					  const char **what)
{
	if (p->n_queues < 2)
		return NULL;
	for (size_t i = 0; i < rule_set_count(rules); i++) {
		const struct rule *r = rule_set_get(rules, i);

		*what = rule_cross_flow(r);
		if (*what)
			return r;
	}
	return NULL;
}

/* The rule at fault, for the caller's message. */
static void blame_rule(struct proxy_error *e, const struct rule *r)
{
	if (!e)
		return;
	snprintf(e->rule_file, sizeof(e->rule_file), "%s", r->file);
	e->rule_line = r->line;
	snprintf(e->rule_name, sizeof(e->rule_name), "%s", r->name);
}

/*
 * Raw sockets for every queue, or for none: a queue's raw socket and
 * buffer are its own. Opened into inj (n_queues slots) first and given to
 * the queues only once all are open, each under its queue's lock: the
 * reader threads send on them (on_duplicate, on_inject) only under it, so
 * a reader sees a queue's socket whole or not at all. Once open they stay
 * open until the run ends: sending takes no capability, opening does.
 */
static int open_injects(struct proxy *p)
{
	struct inject *inj[p->n_queues];

	if (p->q[0].inj)
		return 0;
	for (unsigned i = 0; i < p->n_queues; i++) {
		inj[i] = inject_open(p->cfg.mark);
		if (!inj[i]) {
			int ret = -errno;

			for (unsigned k = 0; k < i; k++)
				inject_close(inj[k]);
			return ret;
		}
	}
	for (unsigned i = 0; i < p->n_queues; i++) {
		lock_take(&p->q[i].lock);
		p->q[i].inj = inj[i];
		lock_give(&p->q[i].lock);
	}
	return 0;
}

/*
 * Raw sockets when, and only when, rules need them, opened by the step
 * that brings those rules in (the start, or a swap): opening one takes
 * CAP_NET_RAW, which a container given only CAP_NET_ADMIN lacks, and an
 * open raw socket is one more thing to hold. An action that sends packets
 * of its own (act_ops .sends: copies, RSTs, pieces) cannot work without
 * them: their failure is the rules' (-errno, *r and *action set). A
 * from-byte cut of a GSO super-packet leaves through them too
 * (pipeline's leave_rewritten: 'resent'), but without them it goes in
 * its verdict, as it did before resending existed (the kernel loses it
 * and TCP sends it again; counted in inject_errors): tried, no error.
 */
static int open_injects_for(struct proxy *p, const struct rule_set *rules, const struct rule **r,
			    enum rule_action_type *action)
{
	*r = act_sending_rule(rules, action);
	if (*r)
		return open_injects(p);
	if (cutting_rule(rules))
		open_injects(p);
	return 0;
}

/* At the start: the first rule set's sockets; a failure names the rule that needs them. */
static int open_inject(struct proxy *p, struct proxy_error *e)
{
	enum rule_action_type action = RULE_ACT_DUPLICATE;
	const struct rule *r;
	int ret = open_injects_for(p, p->rules, &r, &action);

	if (!ret)
		return 0;
	blame_rule(e, r);
	if (e)
		e->rule_action = action;
	return fail(e, PROXY_STEP_INJECT, ret);
}

/* The pipeline's settings from the proxy's: 0 still means "the default" to it. */
static void pipeline_config_for(const struct proxy *p, struct pipeline_config *pc)
{
	const struct proxy_config *cfg = &p->cfg;

	pc->seed = cfg->seed;
	pc->max_held = cfg->max_held;
	pc->max_held_bytes = cfg->max_held_bytes ? cfg->max_held_bytes : PROXY_DEFAULT_MAX_HELD_BYTES;
	pc->max_flows = cfg->max_flows;
	pc->no_track = cfg->no_track;
	pc->rule_scan_all = cfg->rule_scan_all;
	pc->time_wait_ns = cfg->time_wait_ns;
	pc->track_idle_ns = cfg->track_idle_ns;
	pc->max_conns = cfg->max_conns;
	pc->count = p->n_queues;
}

/* The event log's queue, if there is a log: one ring and one writer for every queue. */
static int open_events(struct proxy *p, struct proxy_error *e)
{
	const struct proxy_config *cfg = &p->cfg;

	if (!cfg->events)
		return 0;
	/*
	 * The packet path writes event lines into a bounded queue that a
	 * thread of its own writes out: a pipe or FIFO whose reader stops
	 * would otherwise stop the reader thread in write(), with the queue's
	 * lock held, and every packet with it.
	 */
	p->evq = evq_new(fileno(cfg->events),
			 cfg->events_backlog ? cfg->events_backlog : PROXY_DEFAULT_EVENTS_BACKLOG);
	if (!p->evq)
		return fail(e, PROXY_STEP_EVENTS, -errno);
	return 0;
}

/*
 * The kernel stamps received packets (and NFQUEUE passes the stamp on)
 * only while some socket asked for receive timestamps; the switch is
 * host-wide, and while it is on every packet the host receives pays a
 * clock read, touched by a rule or not: so the stamps are on only while
 * something wants them (stamps_follow). The arrival time is what the
 * tracker wants, which is what tcpdump records, not the time the queue
 * handed the packet over: under load the two are milliseconds apart, and
 * Wireshark's retransmission/out-of-order call depends on it. Delays
 * count from it too (pipeline_pkt.seen_ns), so the reader's own wake-up
 * is not added to them, with or without the tracker. Without it the read
 * time is used. Best effort: nothing fails.
 */
static void open_stamps(struct proxy *p)
{
	int on = 1;

	p->rt_offset = realtime_offset();
	p->stamp_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (p->stamp_fd >= 0 && setsockopt(p->stamp_fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on)) < 0) {
		close(p->stamp_fd);
		p->stamp_fd = -1;
	}
}

/*
 * Arrival times matter to the rules that hold or pace packets and to
 * tracker conditions (rule_set_needs_arrival), and to whatever shows the
 * tracker's calls: --events, --pcap, a subscriber to the event stream.
 * Without them (drop, corrupt and accept rules, nothing watching) a
 * packet's time is when faultline read it.
 */
static bool stamps_wanted(const struct proxy *p, const struct rule_set *rules)
{
	return p->cfg.events || p->cfg.pcap_path || (p->fan && evfan_subscribers(p->fan) > 0) ||
	       rule_set_needs_arrival(rules);
}

/* Turn the stamps on or off after a change of rules or subscribers. */
static void stamps_follow(struct proxy *p, const struct rule_set *rules)
{
	bool want = stamps_wanted(p, rules);

	if (want && p->stamp_fd < 0) {
		open_stamps(p);
	} else if (!want && p->stamp_fd >= 0) {
		close(p->stamp_fd);
		p->stamp_fd = -1;
	}
}

/* The --pcap file and its queue, if asked for. */
static int open_pcap(struct proxy *p, const struct pipeline_config *pc, struct proxy_error *e)
{
	const struct proxy_config *cfg = &p->cfg;
	struct pcapout *o;
	struct timespec rt;

	if (!cfg->pcap_path)
		return 0;
	o = pcapout_open(cfg->pcap_path, e ? &e->pcap : NULL);
	if (!o)
		return fail(e, PROXY_STEP_PCAP_OPEN, -errno);
	/*
	 * As the event log: records go through a bounded queue and a
	 * thread of its own, so a FIFO whose reader (Wireshark) stops
	 * cannot stop the packet path in write().
	 */
	p->pcapq = pcapq_new(o, cfg->pcap_backlog ? cfg->pcap_backlog : PROXY_DEFAULT_PCAP_BACKLOG);
	if (!p->pcapq)
		return fail(e, PROXY_STEP_PCAP_QUEUE, -errno);
	/* The file wants wall-clock time; the pipeline runs on CLOCK_MONOTONIC. */
	clock_gettime(CLOCK_REALTIME, &rt);
	p->pcap_epoch_ns = (uint64_t)rt.tv_sec * 1000000000ull + (uint64_t)rt.tv_nsec - pc->start_ns;
	return 0;
}

/* Bind queue q; when another socket holds it, find out whose it is. */
static int bind_queue(struct proxy *p, struct proxy_queue *q, struct proxy_error *e)
{
	struct capture_config cc = {
		.queue = q->num,
		.copy_range = copy_range_for(p, p->rules),
		.queue_maxlen = p->cfg.queue_maxlen,
		.rcvbuf = p->cfg.rcvbuf,
	};
	int ret;

	q->cap = capture_open(&cc);
	if (!q->cap) {
		ret = -errno;
		if (e) {
			e->queue = q->num;
			if (ret == -EBUSY)
				e->owner_found = ipt_queue_owner(q->num, &e->owner) == 1;
		}
		return fail(e, PROXY_STEP_BIND, ret);
	}
	ret = capture_set_recv_timeout(q->cap, READER_TICK_MS);
	if (ret) {
		capture_close(q->cap);
		q->cap = NULL;
		return fail(e, PROXY_STEP_QUEUE_TIMEOUT, ret);
	}
	return 0;
}

/* Lines wait in the event stream's ring: hand them to the subscribers. */
static void on_fan(uv_async_t *h)
{
	struct proxy *p = h->data;

	evfan_drain(p->fan);
}

/* A writer (any thread) put lines into the stream's ring; uv_async_send is thread-safe. */
static void fan_wake(void *data)
{
	struct proxy *p = data;

	uv_async_send(&p->fan_async);
}

/*
 * The control API's event stream: the same lines as the event log, from
 * the same observer code, fanned out to whoever subscribes. With nobody
 * subscribed its gate is shut and the observer formats nothing.
 */
static int open_stream(struct proxy *p, struct proxy_error *e)
{
	p->fan = evfan_new(p->cfg.events_backlog ? p->cfg.events_backlog : PROXY_DEFAULT_EVENTS_BACKLOG,
			   fan_wake, p);
	if (!p->fan)
		return fail(e, PROXY_STEP_EVENTS, -errno);
	return 0;
}

/*
 * Queue q's pipeline, its observers (writing into the run's one event
 * log, stream and capture file) and its socket.
 */
static int open_queue(struct proxy *p, struct proxy_queue *q, const struct pipeline_config *pc0,
		      struct proxy_error *e)
{
	static const struct pipeline_ops ops = {
		.verdict = on_verdict,
		.duplicate = on_duplicate,
		.inject = on_inject,
	};
	struct pipeline_config pc = *pc0;

	pc.index = (uint32_t)(q - p->q);
	q->pl = pipeline_new(&pc, p->rules, &ops, q);
	if (!q->pl)
		return fail(e, PROXY_STEP_PIPELINE, -errno);
	/* At most three of PIPELINE_MAX_OBSERVERS: these cannot fail. */
	if (p->evq) {
		/* The queue counts what it drops (events_dropped): nothing is counted twice. */
		events_init(&q->ev, evq_stream(p->evq), pc.start_ns, true, on_events_error, p);
		pipeline_add_observer(q->pl, &events_observer, &q->ev);
	}
	events_init(&q->fan_ev, evfan_stream(p->fan), pc.start_ns, true, NULL, NULL);
	events_set_gate(&q->fan_ev, evfan_gate(p->fan));
	pipeline_add_observer(q->pl, &events_observer, &q->fan_ev);
	if (p->pcapq) {
		/* As the event log's queue, this one counts what it drops (pcap_dropped). */
		pcaplog_init(&q->pcap, pcapq_sink, p->pcapq, true, p->pcap_epoch_ns, on_pcap_error, p);
		pipeline_add_observer(q->pl, &pcaplog_observer, &q->pcap);
	}
	return bind_queue(p, q, e);
}

/*
 * The release timers and what the releasing thread waits on, then the
 * loop with its handles; proxy_free closes what was made on failure.
 */
static int init_loop(struct proxy *p, struct proxy_error *e)
{
	struct epoll_event ev = { .events = EPOLLIN };

	p->rel_epfd = epoll_create1(EPOLL_CLOEXEC);
	if (p->rel_epfd < 0)
		return fail(e, PROXY_STEP_TIMERFD, -errno);
	p->rel_stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->rel_stop < 0 || epoll_ctl(p->rel_epfd, EPOLL_CTL_ADD, p->rel_stop, &ev))
		return fail(e, PROXY_STEP_TIMERFD, -errno);
	for (unsigned i = 0; i < p->n_queues; i++) {
		p->q[i].timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (p->q[i].timer_fd < 0)
			return fail(e, PROXY_STEP_TIMERFD, -errno);
		ev.data.ptr = &p->q[i];
		if (epoll_ctl(p->rel_epfd, EPOLL_CTL_ADD, p->q[i].timer_fd, &ev))
			return fail(e, PROXY_STEP_TIMERFD, -errno);
	}
	if (uv_loop_init(&p->loop))
		return fail(e, PROXY_STEP_LOOP, -ENOMEM);
	p->loop_ready = true;
	uv_signal_init(&p->loop, &p->sig_int);
	uv_signal_init(&p->loop, &p->sig_term);
	uv_signal_init(&p->loop, &p->sig_usr1);
	uv_signal_init(&p->loop, &p->sig_hup);
	uv_timer_init(&p->loop, &p->housekeeping);
	uv_async_init(&p->loop, &p->fan_async, on_fan);
	p->fan_async.data = p;
	p->sig_int.data = p->sig_term.data = p->sig_usr1.data = p->sig_hup.data = p;
	p->housekeeping.data = p;
	p->open_handles = N_HANDLES;
	return 0;
}

/* How long before a deadline the release timer fires: 0 means the default, OFF none. */
static uint64_t release_early_for(const struct proxy_config *cfg)
{
	if (cfg->release_early_ns == PROXY_RELEASE_EARLY_OFF)
		return 0;
	return cfg->release_early_ns ? cfg->release_early_ns : PROXY_DEFAULT_RELEASE_EARLY_NS;
}

/* The share of a CPU that spinning to deadlines may take, in ppm: 0 means the default. */
static uint32_t release_cpu_for(const struct proxy_config *cfg)
{
	return cfg->release_cpu_ppm ? cfg->release_cpu_ppm : PROXY_RELEASE_SPIN_SHARE_PPM;
}

/* The queues' memory, each on cache lines of its own; every descriptor -1. */
static int alloc_queues(struct proxy *p)
{
	void *mem;

	p->n_queues = p->cfg.queues ? p->cfg.queues : 1;
	if (posix_memalign(&mem, 64, p->n_queues * sizeof(struct proxy_queue)))
		return -ENOMEM;
	memset(mem, 0, p->n_queues * sizeof(struct proxy_queue));
	p->q = mem;
	for (unsigned i = 0; i < p->n_queues; i++) {
		p->q[i].p = p;
		p->q[i].num = (uint16_t)(p->cfg.queue + i);
		p->q[i].timer_fd = -1;
	}
	return 0;
}

/* Everything the queues own (NULL-safe: a half-built proxy too). */
static void free_queues(struct proxy *p)
{
	for (unsigned i = 0; p->q && i < p->n_queues; i++) {
		struct proxy_queue *q = &p->q[i];

		if (q->timer_fd >= 0)
			close(q->timer_fd);
		inject_close(q->inj);
		capture_close(q->cap);
		pipeline_free(q->pl);
	}
	free(p->q);
	p->q = NULL;
}

struct proxy *proxy_new(const struct proxy_config *cfg, struct rule_set *rules,
			proxy_report_cb report_cb, void *report_data, struct proxy_error *e)
{
	struct pipeline_config pc = { 0 };
	const struct rule *r;
	const char *what = NULL;
	struct proxy *p;
	int ret;

	if (e)
		memset(e, 0, sizeof(*e));
	p = calloc(1, sizeof(*p));
	if (!p) {
		ret = fail(e, PROXY_STEP_MEMORY, -ENOMEM);
		rule_set_free(rules);
		goto err;
	}
	p->cfg = *cfg;
	if (!p->cfg.mark)
		p->cfg.mark = PROXY_DEFAULT_MARK;
	p->rules = rules;
	/* Once for every queue's pipeline (swap_rules says why); best effort. */
	(void)rule_set_plan(rules);
	p->report = report_cb;
	p->report_data = report_data;
	p->stamp_fd = -1;
	p->rel_epfd = p->rel_stop = -1;
	sem_init(&p->rel_ready, 0, 0);
	if ((uint32_t)p->cfg.queue + (p->cfg.queues ? p->cfg.queues : 1) - 1 > UINT16_MAX) {
		ret = fail(e, PROXY_STEP_QUEUES, -ERANGE);
		goto err_free;
	}
	ret = alloc_queues(p);
	if (ret) {
		ret = fail(e, PROXY_STEP_MEMORY, ret);
		goto err_free;
	}
	r = cross_flow_rule(p, rules, &what);
	if (r) {
		blame_rule(e, r);
		if (e)
			snprintf(e->cross_flow, sizeof(e->cross_flow), "%s", what);
		ret = fail(e, PROXY_STEP_QUEUES, -EXDEV);
		goto err_free;
	}

	pipeline_config_for(p, &pc);
	pc.start_ns = now_ns();
	/* Each queue's timer spins on its own budget: a share of the run's each, not more in all. */
	for (unsigned i = 0; i < p->n_queues; i++)
		wake_init(&p->q[i].wake, release_early_for(cfg), release_cpu_for(cfg) / p->n_queues,
			  pc.start_ns);
	ret = open_events(p, e);
	if (ret)
		goto err_outputs;
	ret = open_stream(p, e);
	if (ret)
		goto err_outputs;
	stamps_follow(p, rules);
	ret = open_pcap(p, &pc, e);
	if (ret)
		goto err_outputs;
	for (unsigned i = 0; i < p->n_queues; i++) {
		ret = open_queue(p, &p->q[i], &pc, e);
		if (ret)
			goto err_outputs;
	}
	ret = open_inject(p, e);
	if (ret)
		goto err_outputs;
	ret = init_loop(p, e);
	if (ret)
		goto err_outputs;
	return p;

err_outputs:
	free_queues(p);
	if (p->stamp_fd >= 0)
		close(p->stamp_fd);
	if (p->rel_epfd >= 0)
		close(p->rel_epfd);
	if (p->rel_stop >= 0)
		close(p->rel_stop);
	evq_free(p->evq);
	evfan_free(p->fan);
	pcapq_free(p->pcapq);
err_free:
	free(p->q);
	rule_set_free(p->rules);
	free(p);
err:
	errno = -ret;
	return NULL;
}

/*
 * Once the queue is bound, the raw sockets open, the namespace entered and
 * the chain installed, the packet path needs one capability: the kernel
 * checks CAP_NET_ADMIN on every nfnetlink message, verdicts included
 * (nfnetlink_rcv), and a copy-range change is one too. So does
 * iptables-restore at exit, a child that as uid 0 gets what the bounding
 * set leaves it; the legacy backend's also opens a raw socket, hence
 * CAP_NET_RAW with it. Rules that may change may come to need raw
 * sockets (open_injects_for) after the start: CAP_NET_RAW stays, if it
 * was given, until they are open, so that the swap that needs them can
 * open them. Before the reader thread starts: it inherits.
 */
static int drop_privileges(struct proxy *p)
{
	unsigned keep[5] = { CAP_NET_ADMIN };
	size_t n = 1;

	if ((p->ipt_installed && p->cfg.ipt_backend == IPT_BACKEND_LEGACY) || p->cfg.reenter ||
	    (p->cfg.rules_may_change && !p->q[0].inj))
		keep[n++] = CAP_NET_RAW;
	/* The cgroup2 root is read-only to all (0555): the wrap's cgroup is removed at exit with this. */
	if (p->cfg.cgroup)
		keep[n++] = CAP_DAC_OVERRIDE;
	if (p->cfg.reenter) {
		keep[n++] = CAP_SYS_ADMIN;
		keep[n++] = CAP_SYS_PTRACE;
	}
	return priv_keep_only(keep, n);
}

/* A start that failed after the chain went in: take everything down again. */
static int stop_failed(struct proxy *p, struct proxy_error *e, enum proxy_step step, int ret)
{
	proxy_stop(p);
	uv_run(&p->loop, UV_RUN_DEFAULT);
	return fail(e, step, ret);
}

/*
 * The releasing thread runs SCHED_FIFO, so that ordinary work on a busy
 * CPU (the readers, the host's daemons, a program polling its socket)
 * does not stand between a deadline and its release: a fair-share thread
 * waits behind them for up to a tick. Only this thread: it sleeps
 * between deadlines, and its spins are bounded by the budget (wake.h);
 * the kernel keeps 5 % of each second for others (sched_rt_runtime_us)
 * regardless. By default it is tried and given up quietly without the
 * privilege (rel_err says why), and not tried when the spins may take
 * more than half a CPU; --realtime insists, --no-realtime never tries.
 */
static int realtime_prio(const struct proxy *p)
{
	if (p->cfg.realtime == PROXY_REALTIME_OFF)
		return 0;
	if (p->cfg.realtime)
		return p->cfg.realtime;
	return release_cpu_for(&p->cfg) > PROXY_REALTIME_MAX_SPIN_PPM ? 0 : PROXY_REALTIME_PRIORITY;
}

/*
 * The releasing thread, SCHED_FIFO at realtime_prio() where that may be
 * had. It is created while the caller still holds every capability
 * (CAP_SYS_NICE for the class), and gives up the same ones as the caller
 * before it does anything else; the caller waits for that. No thread
 * ever inherits SCHED_FIFO.
 */
static int start_releaser(struct proxy *p, struct proxy_error *e)
{
	int prio = realtime_prio(p), ret = -EPERM;

	if (prio) {
		/* Before it starts: it reads what it runs at. */
		p->rel_prio = prio;
		ret = thread_start_fifo(&p->releaser, releaser_main, p, prio);
		if (ret) {
			p->rel_prio = 0;
			if (p->cfg.realtime > 0)
				return fail(e, PROXY_STEP_REALTIME, ret);
			p->rel_err = ret;
		}
	}
	if (!p->rel_prio) {
		ret = thread_start(&p->releaser, releaser_main, p);
		if (ret)
			return fail(e, PROXY_STEP_RELEASER_START, ret);
	}
	p->releaser_started = true;
	while (sem_wait(&p->rel_ready) && errno == EINTR)
		;
	return p->rel_caps ? fail(e, PROXY_STEP_CAPS, p->rel_caps) : 0;
}

/* A reader thread per queue; each blocks every signal (thread.h). */
static int start_readers(struct proxy *p)
{
	for (unsigned i = 0; i < p->n_queues; i++) {
		int ret = thread_start(&p->q[i].reader, reader_main, &p->q[i]);

		if (ret)
			return ret;
		p->q[i].reader_started = true;
	}
	return 0;
}

/*
 * The chain as this run installs it; filter: what its jumps queue
 * (borrowed). Several queues: the chain spreads packets with
 * --queue-balance, whose hash (nfqueue_hash) is symmetric in the
 * addresses, so both directions of a connection reach the same queue,
 * and so its tracker. (--queue-cpu-fanout picks by CPU instead, which
 * splits a connection whose directions are handled on different CPUs.)
 */
static struct ipt_config ipt_config_for(const struct proxy *p, const struct kfilter *filter)
{
	return (struct ipt_config){
		.queue = p->cfg.queue,
		.queues = (uint16_t)p->n_queues,
		.mark = p->cfg.mark,
		.forward = p->cfg.forward,
		.ipv6 = true,
		.filter = filter,
		.set_gen = p->set_gen,
		.cgroup = p->cfg.cgroup,
		.backend = p->cfg.ipt_backend,
	};
}

/* The backend for the chain, if the caller left it to us (proxy_config.ipt_backend). */
static int choose_backend(struct proxy *p, struct proxy_error *e)
{
	struct ipt_choice c;
	int ret;

	if (p->cfg.ipt_backend != IPT_BACKEND_AUTO)
		return 0;
	ret = ipt_backend_choose(IPT_BACKEND_AUTO, &c, e ? &e->ipt : &(struct ipt_error){ 0 });
	if (!ret)
		p->cfg.ipt_backend = c.backend;
	return ret;
}

/* What the kernel must queue for rules. NULL + errno. */
static struct kfilter *filter_for(const struct proxy *p, const struct rule_set *rules)
{
	struct kfilter_opts o = {
		.forward = p->cfg.forward,
		.track = !p->cfg.no_track,
		.all = p->cfg.queue_all,
		.sets = !p->no_sets[0],
		.no_sets = p->no_sets[0] ? p->no_sets : NULL,
	};

	return kfilter_new(rules, &o);
}

/*
 * The port sets could not be made (ipset missing, or the kernel without
 * bitmap:port): from now on the plans do without them, and say so. Then
 * the plan for rules again (NULL + errno), *kf freed.
 */
static struct kfilter *without_sets(struct proxy *p, const struct rule_set *rules, struct kfilter *kf,
				    const struct ipt_error *e)
{
	snprintf(p->no_sets, sizeof(p->no_sets), "%.150s", e->said[0] ? e->said : "ipset failed");
	kfilter_free(kf);
	return filter_for(p, rules);
}

/* The generation after the current one's, for the next change of the jumps. */
static uint32_t next_gen(const struct proxy *p)
{
	return (p->set_gen + 1) % PORTSET_MAX_GEN;
}

int proxy_run(struct proxy *p, struct proxy_error *e)
{
	struct ipt_error ie = { 0 };
	struct ipt_config ic;
	int ret;

	if (e)
		memset(e, 0, sizeof(*e));
	if (!p->cfg.no_iptables) {
		p->kf = filter_for(p, p->rules);
		if (!p->kf)
			return fail(e, PROXY_STEP_MEMORY, -ENOMEM);
		ret = choose_backend(p, e);
		if (ret)
			return fail(e, PROXY_STEP_IPT_INSTALL, ret);
		ic = ipt_config_for(p, p->kf);
		ret = ipt_install(&ic, &ie);
		/* No sets after all: the plan without them, and the reason in its counters. */
		if (ret && ie.why == IPT_FAIL_SETS) {
			p->kf = without_sets(p, p->rules, p->kf, &ie);
			if (!p->kf)
				return fail(e, PROXY_STEP_MEMORY, -ENOMEM);
			ic = ipt_config_for(p, p->kf);
			ret = ipt_install(&ic, &ie);
		}
		if (ret) {
			if (e)
				e->ipt = ie;
			return fail(e, PROXY_STEP_IPT_INSTALL, ret);
		}
		p->ipt_installed = true;
	}
	/* Before the capabilities go (CAP_SYS_NICE): it gives up its own. */
	ret = start_releaser(p, e);
	if (ret)
		return stop_failed(p, e, e ? e->step : PROXY_STEP_RELEASER_START, ret);
	ret = drop_privileges(p);
	if (ret)
		return stop_failed(p, e, PROXY_STEP_CAPS, ret);
	/* The other threads only now: each keeps the capabilities its creator had. */
	ret = p->evq ? evq_start(p->evq) : 0;
	if (ret)
		return stop_failed(p, e, PROXY_STEP_EVENTS_START, ret);
	ret = p->pcapq ? pcapq_start(p->pcapq) : 0;
	if (ret)
		return stop_failed(p, e, PROXY_STEP_PCAP_START, ret);
	/* Signals belong to the loop thread (thread.h). */
	ret = start_readers(p);
	if (ret)
		return stop_failed(p, e, PROXY_STEP_READER_START, ret);
	uv_signal_start(&p->sig_int, on_signal, SIGINT);
	uv_signal_start(&p->sig_term, on_signal, SIGTERM);
	uv_signal_start(&p->sig_usr1, on_signal, SIGUSR1);
	if (p->hooks.hup)
		uv_signal_start(&p->sig_hup, on_signal, SIGHUP);
	if (!p->cfg.no_track)
		uv_timer_start(&p->housekeeping, on_housekeeping, 1000, 1000);
	/* The owner's handles (the control socket) before "ready": a client may connect once it is said. */
	ret = p->hooks.start ? p->hooks.start(p->hooks.data, &p->loop) : 0;
	if (ret)
		return stop_failed(p, e, PROXY_STEP_HOOK_START, ret);
	if (p->report)
		p->report(p->report_data, "ready", "{}");
	uv_run(&p->loop, UV_RUN_DEFAULT);
	/* proxy_stop closed every handle; this run lets their close callbacks finish. */
	uv_run(&p->loop, UV_RUN_DEFAULT);
	/* The last event lines into the queue (one stream: any queue's observer flushes it). */
	if (p->evq)
		events_flush(&p->q[0].ev);
	/* The event lines still queued go out before the final counters count them. */
	evq_close(p->evq, EVENTS_STALL_MS);
	events_close_failed(p);
	pcapq_close(p->pcapq, EVENTS_STALL_MS);
	pcap_close_failed(p);
	report(p, "final");
	if (p->stop_ret) {
		if (e)
			e->ipt = p->stop_ipt;
		return fail(e, PROXY_STEP_IPT_REMOVE, -EIO);
	}
	return 0;
}

void proxy_set_hooks(struct proxy *p, const struct proxy_hooks *h)
{
	p->hooks = *h;
}

/*
 * Make the kernel queue what rules need, before they take over: *kf is
 * then the new plan (the caller keeps it or undoes it with unfilter).
 * 0 with *kf NULL when nothing changes. -EREMOTEIO: the jumps stay as
 * they were.
 */
static int refilter(struct proxy *p, const struct rule_set *rules, struct kfilter **kf)
{
	struct ipt_config ic;
	int ret;

	*kf = NULL;
	if (!p->ipt_installed)
		return 0;
	*kf = filter_for(p, rules);
	if (!*kf)
		return -ENOMEM;
	if (kfilter_equal(*kf, p->kf)) {
		kfilter_free(*kf);
		*kf = NULL;
		return 0;
	}
	ic = ipt_config_for(p, *kf);
	ic.set_gen = next_gen(p);
	ret = ipt_set_filter(&ic, p->kf, p->set_gen, &p->filter_ipt);
	if (ret && p->filter_ipt.why == IPT_FAIL_SETS) {
		*kf = without_sets(p, rules, *kf, &p->filter_ipt);
		if (!*kf)
			return -ENOMEM;
		if (kfilter_equal(*kf, p->kf)) {
			kfilter_free(*kf);
			*kf = NULL;
			return 0;
		}
		ic.filter = *kf;
		ret = ipt_set_filter(&ic, p->kf, p->set_gen, &p->filter_ipt);
	}
	if (ret) {
		kfilter_free(*kf);
		*kf = NULL;
		return -EREMOTEIO;
	}
	p->set_gen = ic.set_gen;
	return 0;
}

/* The swap failed after refilter: the old jumps back, best effort (the old set still runs). */
static void unfilter(struct proxy *p, struct kfilter *kf)
{
	struct ipt_config ic = ipt_config_for(p, p->kf);
	struct ipt_error ignore;

	/* The old plan's sets went with the swap: made again, under a generation of their own. */
	ic.set_gen = next_gen(p);
	if (kf && !ipt_set_filter(&ic, kf, p->set_gen, &ignore))
		p->set_gen = ic.set_gen;
	kfilter_free(kf);
}

/* Queue q's pipeline onto rules, and its copy range with it. Under q's lock. */
static int swap_queue(struct proxy *p, struct proxy_queue *q, const struct rule_set *rules, bool fresh,
		      uint64_t now)
{
	int ret = fresh ? pipeline_reset_rules(q->pl, rules, now) : pipeline_swap_rules(q->pl, rules, now);
	uint32_t range = copy_range_for(p, rules);

	/* Widen or narrow the copy before the reader's next batch. */
	if (!ret && range != capture_copy_range(q->cap) && capture_set_copy_range(q->cap, range) < 0)
		q->verdict_errors++;
	return ret;
}

static int swap_rules(struct proxy *p, struct rule_set *rules, bool fresh)
{
	struct rule_set *old = rules;
	struct kfilter *kf;
	const char *what;
	uint64_t now = now_ns(), changed = 0;
	unsigned i;
	int ret = 0;

	const struct rule *r;
	enum rule_action_type action;

	if (cross_flow_rule(p, rules, &what)) {
		rule_set_free(rules);
		return -EXDEV;
	}
	/*
	 * The raw sockets the new set needs, before anything else changes
	 * and before any reader can see the set (swap_queue publishes it
	 * under each queue's lock, after this): when they cannot be opened
	 * (no CAP_NET_RAW: -EPERM), the set is refused and nothing changed.
	 */
	ret = open_injects_for(p, rules, &r, &action);
	if (ret) {
		rule_set_free(rules);
		return ret;
	}
	/*
	 * The kernel first, outside the queues' locks (iptables-restore takes
	 * milliseconds): while the old rules still decide, a packet that only
	 * the new ones match is queued and passes as before, and one that
	 * only the old ones matched goes by as it will under the new.
	 */
	ret = refilter(p, rules, &kf);
	if (ret) {
		rule_set_free(rules);
		return ret;
	}
	/*
	 * The memo's plans once, outside the locks: else each queue makes
	 * them while its packets wait. Without memory for them it still does.
	 */
	(void)rule_set_plan(rules);
	/*
	 * Queue by queue, each between two of its packets; all at the same
	 * 'now', so that the rules' windows agree.
	 */
	for (i = 0; i < p->n_queues && !ret; i++) {
		lock_take(&p->q[i].lock);
		ret = swap_queue(p, &p->q[i], rules, fresh, now);
		/* Under the lock: every packet this queue decided before it met the old set, after it the new. */
		if (!i && !ret)
			changed = now_ns();
		lock_give(&p->q[i].lock);
	}
	if (ret) {
		/*
		 * Out of memory on queue i-1: the queues before it go back to
		 * the old set, keeping what they counted meanwhile by name (a
		 * reset's counters are lost then). Best effort: this swap can
		 * fail too, and then that queue runs the old set with fresh
		 * counters.
		 */
		for (unsigned k = 0; k + 1 < i; k++) {
			lock_take(&p->q[k].lock);
			swap_queue(p, &p->q[k], p->rules, false, now);
			lock_give(&p->q[k].lock);
		}
		unfilter(p, kf);
	} else {
		if (kf) {
			kfilter_free(p->kf);
			p->kf = kf;
		}
		old = p->rules;
		p->rules = rules;
		p->rules_changed_ns = changed;
		stamps_follow(p, rules);
	}
	/* The set that lost (the old one, or the new one on failure) is freed outside the locks. */
	rule_set_free(old);
	return ret;
}

int proxy_swap_rules(struct proxy *p, struct rule_set *rules)
{
	return swap_rules(p, rules, false);
}

int proxy_reset_rules(struct proxy *p, struct rule_set *rules)
{
	return swap_rules(p, rules, true);
}

const struct ipt_error *proxy_filter_error(const struct proxy *p)
{
	return &p->filter_ipt;
}

const struct rule_set *proxy_rules(const struct proxy *p)
{
	return p->rules;
}

unsigned proxy_queues(const struct proxy *p)
{
	return p->n_queues;
}

uint64_t proxy_events_dropped(struct proxy *p, int *err)
{
	struct evq_stats es = { 0 };

	if (p->evq)
		evq_get_stats(p->evq, &es);
	*err = es.err;
	return es.dropped;
}

uint64_t proxy_pcap_dropped(struct proxy *p, int *err)
{
	struct pcapq_stats qs = { 0 };

	if (p->pcapq)
		pcapq_get_stats(p->pcapq, &qs);
	*err = qs.err;
	return qs.dropped;
}

/* The counters of the queues' sockets and of the proxy's side of them, summed. */
struct queue_sums {
	struct capture_stats cs;
	uint64_t verdict_errors, duplicates_sent, duplicate_errors, read_errors, stamps_used;
	uint64_t write_errors;
	uint64_t spins, spun_ns;	/* the release timers' spins (wake.h) */
};

/* Under the locks. */
static void sum_queues(const struct proxy *p, struct queue_sums *s)
{
	memset(s, 0, sizeof(*s));
	for (unsigned i = 0; i < p->n_queues; i++) {
		const struct proxy_queue *q = &p->q[i];
		struct capture_stats cs = { 0 };

		if (q->cap)
			capture_get_stats(q->cap, &cs);
		s->cs.enobufs += cs.enobufs;
		s->cs.sends += cs.sends;
		s->cs.lost += cs.lost;
		s->cs.refused += cs.refused;
		s->cs.config_errors += cs.config_errors;
		s->cs.stamped += cs.stamped;
		s->verdict_errors += q->verdict_errors;
		s->duplicates_sent += q->duplicates_sent;
		s->duplicate_errors += q->duplicate_errors;
		s->read_errors += q->read_errors;
		s->stamps_used += q->stamps_used;
		s->write_errors += q->ev.lost + q->pcap.lost;
		s->spins += q->wake.spins;
		s->spun_ns += q->wake.spun_ns;
	}
}

uint64_t proxy_verdict_errors(struct proxy *p)
{
	struct queue_sums s;

	lock_all(p);
	sum_queues(p, &s);
	unlock_all(p);
	/* Every verdict that did not take effect. */
	return s.verdict_errors + s.cs.lost + s.cs.refused;
}

/*
 * What the kernel queues, as members of the counters: "all" at every
 * hook, "filtered" (some hook queues less), or "external" (no_iptables:
 * the caller's rules decide); per hook, and why more than the filters.
 */
static char *scope_json(const struct proxy *p)
{
	struct strbuf b = { 0 };
	const char *const *why;
	size_t n = 0;

	/* The backend first, so that both ways out say it. */
	if (!p->cfg.no_iptables)
		strbuf_printf(&b, "\"iptables_backend\":\"%s\",", ipt_backend_name(p->cfg.ipt_backend));
	if (!p->kf) {
		strbuf_printf(&b, "\"queue_scope\":\"%s\"", p->cfg.no_iptables ? "external" : "all");
		return strbuf_take(&b);
	}
	strbuf_printf(&b, "\"queue_scope\":\"%s\",\"queue_hooks\":{", kfilter_filtered(p->kf) ? "filtered" : "all");
	for (unsigned h = 0; h < KFILTER_NHOOKS; h++)
		strbuf_printf(&b, "%s\"%s\":\"%s\"", h ? "," : "", kfilter_hook_name(h),
			      kfilter_scope_name(kfilter_scope(p->kf, h)));
	why = kfilter_reasons(p->kf, &n);
	strbuf_printf(&b, "},\"queue_programs\":%u,\"queue_sets\":%u,\"queue_reasons\":[",
		      kfilter_count(p->kf, PKT_DIR_IN) + kfilter_count(p->kf, PKT_DIR_OUT) +
			      kfilter_count(p->kf, PKT_DIR_FWD),
		      kfilter_nsets(p->kf, PKT_DIR_IN) + kfilter_nsets(p->kf, PKT_DIR_OUT) +
			      kfilter_nsets(p->kf, PKT_DIR_FWD));
	for (size_t i = 0; i < n && i < KFILTER_MAX_REASONS; i++) {
		strbuf_printf(&b, "%s\"", i ? "," : "");
		strbuf_add_json(&b, why[i]);
		strbuf_printf(&b, "\"");
	}
	strbuf_printf(&b, "],\"queue_reasons_total\":%zu", n);
	return strbuf_take(&b);
}

/*
 * "queues": what each queue took, so that how the kernel spread the
 * traffic shows (and a connection split over two queues would show as
 * two). Under the locks.
 */
static void queues_json(const struct proxy *p, struct strbuf *b)
{
	strbuf_printf(b, "[");
	for (unsigned i = 0; i < p->n_queues; i++) {
		const struct proxy_queue *q = &p->q[i];
		struct pipeline_totals t;

		pipeline_get_totals(q->pl, &t);
		strbuf_printf(b, "%s{\"queue\":%u,\"packets\":%llu,\"held\":%llu,\"held_now\":%zu,"
			      "\"connections\":%llu}",
			      i ? "," : "", q->num, (unsigned long long)t.packets, (unsigned long long)t.held,
			      pipeline_held(q->pl), (unsigned long long)pipeline_conns_created(q->pl));
	}
	strbuf_printf(b, "]");
}

/* Why the releasing thread runs SCHED_OTHER (realtime_prio, start_releaser); "" when it does not. */
static const char *release_sched_why(const struct proxy *p)
{
	if (p->rel_prio)
		return "";
	if (p->cfg.realtime == PROXY_REALTIME_OFF)
		return "--no-realtime";
	if (p->rel_err == -EPERM)
		return "not permitted: needs CAP_SYS_NICE";
	if (p->rel_err)
		return "sched_setscheduler failed";
	if (!realtime_prio(p))
		return "--release-cpu above 50%";
	return "not started";
}

/* The counters JSON; the caller holds every queue's lock. */
static char *stats_json_locked(struct proxy *p)
{
	const struct pipeline *pls[p->n_queues];
	struct evq_stats es = { 0 };
	struct pcapq_stats qs = { 0 };
	struct queue_sums s;
	struct strbuf qb = { 0 };
	char *inner, *qj, *scope, *out = NULL;
	char sched[32] = "SCHED_OTHER";

	if (p->rel_prio)
		snprintf(sched, sizeof(sched), "SCHED_FIFO %d", p->rel_prio);
	for (unsigned i = 0; i < p->n_queues; i++)
		pls[i] = p->q[i].pl;
	inner = pipeline_stats_json_many(pls, p->n_queues);
	queues_json(p, &qb);
	qj = strbuf_take(&qb);
	sum_queues(p, &s);
	scope = scope_json(p);
	if (p->evq)
		evq_get_stats(p->evq, &es);
	if (p->pcapq)
		pcapq_get_stats(p->pcapq, &qs);
	/* verdict_errors: every verdict that did not take effect; the rest say why. */
	if (inner && qj && asprintf(&out,
		     "{\"seed\":%llu,\"queue\":%u,\"write_errors\":%llu,%s,\"duplicates_sent\":%llu,\"duplicate_errors\":%llu,"
		     "\"enobufs\":%llu,\"verdict_errors\":%llu,\"verdicts_unsent\":%llu,"
		     "\"verdicts_refused\":%llu,\"verdict_sends\":%llu,\"config_errors\":%llu,"
		     "\"read_errors\":%llu,\"copy_range\":%u,\"kernel_timestamps\":%llu,\"timestamps_used\":%llu,\"kernel_stamps\":%s,"
		     "\"events_written\":%llu,\"events_dropped\":%llu,\"events_dropped_full\":%llu,"
		     "\"pcap_written\":%llu,\"pcap_dropped\":%llu,\"pcap_dropped_full\":%llu,"
		     "\"release_spins\":%llu,\"release_spin_us\":%llu,\"release_sched\":\"%s\","
		     "\"release_sched_why\":\"%s\",\"netns_follows\":%llu,\"queues\":%s,%s}",
		     (unsigned long long)p->cfg.seed, p->cfg.queue,
		     (unsigned long long)s.write_errors, inner,
		     (unsigned long long)s.duplicates_sent, (unsigned long long)s.duplicate_errors,
		     (unsigned long long)s.cs.enobufs,
		     (unsigned long long)(s.verdict_errors + s.cs.lost + s.cs.refused),
		     (unsigned long long)(s.verdict_errors + s.cs.lost), (unsigned long long)s.cs.refused,
		     (unsigned long long)s.cs.sends, (unsigned long long)s.cs.config_errors,
		     (unsigned long long)s.read_errors, p->q[0].cap ? capture_copy_range(p->q[0].cap) : 0,
		     (unsigned long long)s.cs.stamped, (unsigned long long)s.stamps_used,
		     p->stamp_fd >= 0 ? "true" : "false",
		     (unsigned long long)es.written, (unsigned long long)es.dropped,
		     (unsigned long long)es.full, (unsigned long long)qs.written,
		     (unsigned long long)qs.dropped, (unsigned long long)qs.full,
		     (unsigned long long)s.spins, (unsigned long long)(s.spun_ns / 1000),
		     sched, release_sched_why(p), (unsigned long long)p->cfg.netns_follows, qj,
		     scope ? scope : "") < 0)
		out = NULL;
	if (!scope) {
		free(out);
		out = NULL;
	}
	free(scope);
	free(inner);
	free(qj);
	return out;
}

/* The owner's view of the counters (hooks.stats), from json (taken). NULL-safe. */
static char *owner_stats(struct proxy *p, char *json)
{
	char *out;

	if (!json || !p->hooks.stats)
		return json;
	out = p->hooks.stats(p->hooks.data, json);
	free(json);
	return out;
}

char *proxy_stats_json(struct proxy *p)
{
	char *out;

	lock_all(p);
	out = stats_json_locked(p);
	unlock_all(p);
	return owner_stats(p, out);
}

/*
 * Under every queue's lock no observer is in the middle of a line: the
 * new subscriber starts at a line boundary, and the counters taken in the
 * same hold are exactly those its first line comes after.
 */
int proxy_events_subscribe(struct proxy *p, evfan_cb cb, void *data, char **stats)
{
	int id;

	if (p->stopping)
		return -ESHUTDOWN;
	lock_all(p);
	id = evfan_subscribe(p->fan, cb, data);
	if (id > 0 && stats)
		*stats = stats_json_locked(p);
	unlock_all(p);
	if (id > 0 && stats) {
		*stats = owner_stats(p, *stats);
		if (!*stats) {
			evfan_unsubscribe(p->fan, id);
			id = -ENOMEM;
		}
	}
	if (id > 0)
		stamps_follow(p, p->rules);
	return id;
}

void proxy_events_unsubscribe(struct proxy *p, int id)
{
	evfan_unsubscribe(p->fan, id);
	stamps_follow(p, p->rules);
}

static void log_event_at(struct proxy *p, uint64_t now, const char *ev, const char *members)
{
	struct proxy_queue *q = &p->q[0];

	/* Through the first queue's observers, under its lock: they keep its error state. */
	lock_take(&q->lock);
	if (p->evq)
		events_put(&q->ev, now, ev, members);
	events_put(&q->fan_ev, now, ev, members);
	lock_give(&q->lock);
}

void proxy_log_event(struct proxy *p, const char *ev, const char *members)
{
	log_event_at(p, now_ns(), ev, members);
}

void proxy_log_change(struct proxy *p, uint64_t since_ns, const char *ev, const char *members)
{
	log_event_at(p, p->rules_changed_ns >= since_ns ? p->rules_changed_ns : now_ns(), ev, members);
}

uv_loop_t *proxy_loop(struct proxy *p)
{
	return &p->loop;
}

void proxy_free(struct proxy *p)
{
	if (!p)
		return;
	stop_readers(p);
	stop_releaser(p);
	if (p->loop_ready && p->open_handles == N_HANDLES && !p->stopping) {
		/* Built but never run: the handles were initialised, close them. */
		close_handles(p);
		uv_run(&p->loop, UV_RUN_DEFAULT);
	}
	if (p->loop_ready && p->open_handles == 0)
		uv_loop_close(&p->loop);
	if (p->stamp_fd >= 0)
		close(p->stamp_fd);
	if (p->rel_epfd >= 0)
		close(p->rel_epfd);
	if (p->rel_stop >= 0)
		close(p->rel_stop);
	free_queues(p);
	evq_free(p->evq);
	evfan_free(p->fan);
	pcapq_free(p->pcapq);
	rule_set_free(p->rules);
	kfilter_free(p->kf);
	sem_destroy(&p->rel_ready);
	free(p);
}
