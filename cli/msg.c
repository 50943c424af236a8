// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "msg.h"

/* Append to buf (NUL-terminated, len bytes in all), cutting what does not fit. */
__attribute__((format(printf, 3, 4)))
static void add(char *buf, size_t len, const char *fmt, ...)
{
	size_t k = strnlen(buf, len);
	va_list ap;

	if (k + 1 >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + k, len - k, fmt, ap);
	va_end(ap);
}

void msg_owner(const struct ipt_queue_owner *o, char *buf, size_t len)
{
	if (o->pid)
		snprintf(buf, len, "pid %d (%s)", o->pid, o->comm[0] ? o->comm : "?");
	else
		snprintf(buf, len, "netlink port %u, process not found", o->portid);
}

void msg_ipt(const struct ipt_error *e, char *buf, size_t len)
{
	char who[64];

	switch (e->why) {
	case IPT_FAIL_NO_TOOL:
		snprintf(buf, len, "%s not found: install iptables", e->tool);
		break;
	case IPT_FAIL_BUSY:
		msg_owner(&e->owner, who, sizeof(who));
		snprintf(buf, len,
			 "another faultline runs in this network namespace: chain " IPT_CHAIN_PREFIX
			 "%u sends its packets to queue %u, held by %s. An NFQUEUE verdict ends a "
			 "packet's way through the hook, so a second chain would hide them from it: "
			 "give all the rules to one run (--rule and --rules repeat), or stop that one "
			 "first (SIGTERM)", e->queue, e->queue, who);
		break;
	case IPT_FAIL_KEPT:
		msg_owner(&e->owner, who, sizeof(who));
		snprintf(buf, len, "kept %d chain%s of a running faultline: " IPT_CHAIN_PREFIX
			 "%u, whose queue %u is held by %s; stop it (SIGTERM) and it removes its chain",
			 e->kept, e->kept == 1 ? "" : "s", e->queue, e->queue, who);
		break;
	case IPT_FAIL_SPLIT:
		snprintf(buf, len,
			 "both iptables backends hold rules in this network namespace (%d in nf_tables: "
			 "iptables-nft-save; %d in legacy: iptables-legacy-save), and faultline's chain "
			 "in either would run beside the other's rules in an order neither chose: say "
			 "which with --iptables-backend nft or --iptables-backend legacy (the one whose "
			 "rules the faults should come before), or move the rules into one",
			 e->rules[0], e->rules[1]);
		break;
	case IPT_FAIL_SETS:
		snprintf(buf, len, "the port sets could not be made (%s)", e->said);
		break;
	case IPT_FAIL_TOOL:
	default:
		snprintf(buf, len, "%s", e->said);
		break;
	}
}

void msg_pcapout(const char *path, int err, const struct pcapout_error *e, char *buf, size_t len)
{
	if (e->lib[0])
		snprintf(buf, len, "%s: %s%s%s%s", path, e->lib, e->info[0] ? " (" : "", e->info,
			 e->info[0] ? ")" : "");
	else
		snprintf(buf, len, "%s: %s", path, strerror(-err));
}

/* Binding the queue failed: say who holds it, or what is missing. */
static void msg_bind(const struct proxy_error *e, char *buf, size_t len)
{
	char who[64] = "process not found";

	if (e->err == -EBUSY && e->owner_found)
		msg_owner(&e->owner, who, sizeof(who));
	if (e->err == -EBUSY && !strcmp(e->owner.comm, "faultline"))
		snprintf(buf, len, "cannot bind NFQUEUE queue %u: a faultline already runs in "
			 "this network namespace and holds it: %s. Give all the rules to one "
			 "run, or stop that one first (SIGTERM)", e->queue, who);
	else if (e->err == -EBUSY)
		snprintf(buf, len, "cannot bind NFQUEUE queue %u: another program holds it: "
			 "%s. Stop it, or pick another --queue", e->queue, who);
	else
		snprintf(buf, len, "cannot bind NFQUEUE queue %u: %s%s", e->queue, strerror(-e->err),
			 e->err == -EPERM ? " (needs root or CAP_NET_ADMIN)" : "");
}

void msg_proxy(const struct proxy_error *e, const struct proxy_config *cfg, char *buf, size_t len)
{
	const char *why = strerror(-e->err);
	char ipt[sizeof(e->ipt.said) + 512];

	switch (e->step) {
	case PROXY_STEP_MEMORY:
		snprintf(buf, len, "out of memory");
		break;
	case PROXY_STEP_EVENTS:
		snprintf(buf, len, "cannot set up the event log: %s", why);
		break;
	case PROXY_STEP_PCAP_OPEN:
		msg_pcapout(cfg->pcap_path, e->err, &e->pcap, buf, len);
		break;
	case PROXY_STEP_PCAP_QUEUE:
		snprintf(buf, len, "cannot set up the capture file: %s", why);
		break;
	case PROXY_STEP_PIPELINE:
		snprintf(buf, len, "cannot set up: %s", why);
		break;
	case PROXY_STEP_BIND:
		msg_bind(e, buf, len);
		break;
	case PROXY_STEP_QUEUE_TIMEOUT:
		snprintf(buf, len, "cannot set the queue socket's timeout: %s", why);
		break;
	case PROXY_STEP_INJECT:
		snprintf(buf, len, "%s:%d: '%s' of rule %s sends %s through raw sockets, and opening one failed: %s%s",
			 e->rule_file, e->rule_line, rule_action_name(e->rule_action),
			 e->rule_name[0] ? e->rule_name : "?",
			 e->rule_action == RULE_ACT_RESET ? "RSTs" :
			 e->rule_action == RULE_ACT_SEGMENT ? "the pieces of a segment" : "copies", why,
			 e->err == -EPERM ? " (needs CAP_NET_RAW)" : "");
		break;
	case PROXY_STEP_TIMERFD:
		snprintf(buf, len, "timerfd: %s", why);
		break;
	case PROXY_STEP_REALTIME:
		snprintf(buf, len, "--realtime: cannot run the releasing thread SCHED_FIFO: %s%s", why,
			 e->err == -EPERM ? " (needs CAP_SYS_NICE, or an RLIMIT_RTPRIO of at least 10)" : "");
		break;
	case PROXY_STEP_LOOP:
		snprintf(buf, len, "cannot create the event loop");
		break;
	case PROXY_STEP_IPT_INSTALL:
		msg_ipt(&e->ipt, ipt, sizeof(ipt));
		snprintf(buf, len, "cannot install iptables chain: %s", ipt);
		break;
	case PROXY_STEP_CAPS:
		snprintf(buf, len, "cannot drop capabilities: %s", why);
		break;
	case PROXY_STEP_EVENTS_START:
		snprintf(buf, len, "cannot start the event log's writer: %s", why);
		break;
	case PROXY_STEP_PCAP_START:
		snprintf(buf, len, "cannot start the capture file's writer: %s", why);
		break;
	case PROXY_STEP_READER_START:
		snprintf(buf, len, "cannot start the reader thread: %s", why);
		break;
	case PROXY_STEP_RELEASER_START:
		snprintf(buf, len, "cannot start the releasing thread: %s", why);
		break;
	case PROXY_STEP_HOOK_START:
		snprintf(buf, len, "cannot start serving the control socket: %s", why);
		break;
	case PROXY_STEP_QUEUES:
		if (e->err == -EXDEV)
			snprintf(buf, len, "%s:%d: rule %s uses '%s', which counts packets across flows; with "
				 "--queues %u the flows are spread over %u queues, and each would count its own: "
				 "run such rules with --queues 1", e->rule_file, e->rule_line,
				 e->rule_name[0] ? e->rule_name : "?", e->cross_flow, cfg->queues, cfg->queues);
		else
			snprintf(buf, len, "--queue %u --queues %u: queues past 65535", cfg->queue, cfg->queues);
		break;
	case PROXY_STEP_IPT_REMOVE:
		msg_ipt(&e->ipt, ipt, sizeof(ipt));
		snprintf(buf, len, "cannot remove the iptables chain: %s",
			 ipt[0] ? ipt : "iptables-restore failed");
		break;
	default:
		snprintf(buf, len, "%s", why);
		break;
	}
}

/* The input broke off: how far it got. */
static void msg_cut(const struct replay_error *e, const struct replay_config *cfg,
		    const struct replay_stats *st, char *buf, size_t len)
{
	if (st->cut_at >= 0)
		add(buf, len, "%s: packet %llu (at byte %lld) cannot be read: %s; "
		    "the %llu packets before it were replayed",
		    cfg->in_path, (unsigned long long)st->read + 1, (long long)st->cut_at, e->lib,
		    (unsigned long long)st->read);
	else
		add(buf, len, "%s: packet %llu cannot be read: %s; "
		    "the %llu packets before it were replayed",
		    cfg->in_path, (unsigned long long)st->read + 1, e->lib, (unsigned long long)st->read);
}

/* Every output that failed, named by what replay was given. */
static void msg_outputs(const struct replay_config *cfg, const struct replay_stats *st, char *buf,
			size_t len)
{
	if (st->out_err)
		add(buf, len, "%s%s: cannot write the replayed packets: %s (%llu not written)",
		    buf[0] ? "; " : "", cfg->out_path, strerror(-st->out_err),
		    (unsigned long long)st->unwritten);
	if (st->pcap_err)
		add(buf, len, "%s%s: cannot write the annotated capture: %s", buf[0] ? "; " : "",
		    cfg->pcap_path, strerror(-st->pcap_err));
	if (st->events_err)
		add(buf, len, "%s%s: cannot write the event log: %s", buf[0] ? "; " : "",
		    cfg->events_path ? cfg->events_path : "events", strerror(-st->events_err));
}

void msg_replay(const struct replay_error *e, const struct replay_config *cfg,
		const struct replay_stats *st, char *buf, size_t len)
{
	if (!len)
		return;
	buf[0] = 0;
	switch (e->step) {
	case REPLAY_STEP_IN_OPEN:
		snprintf(buf, len, "%s", e->lib);
		break;
	case REPLAY_STEP_OUT_OPEN:
		if (e->lib[0])
			snprintf(buf, len, "%s: %s", cfg->out_path, e->lib);
		else if (e->err == -ENOMEM)
			snprintf(buf, len, "%s: out of memory", cfg->out_path);
		else
			snprintf(buf, len, "%s: %s", cfg->out_path, strerror(-e->err));
		break;
	case REPLAY_STEP_PCAP_OPEN:
		msg_pcapout(cfg->pcap_path, e->err, &e->pcap, buf, len);
		break;
	case REPLAY_STEP_MEMORY:
		snprintf(buf, len, "out of memory");
		break;
	case REPLAY_STEP_RAN:
	default:
		if (st->in_err)
			msg_cut(e, cfg, st, buf, len);
		msg_outputs(cfg, st, buf, len);
		break;
	}
}
