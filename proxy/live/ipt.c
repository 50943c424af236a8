// SPDX-License-Identifier: MIT
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ipt.h"
#include "kfilter.h"
#include "portset.h"
#include "strbuf.h"

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Close both ends of a pipe; an end already closed (-1) is skipped. */
static void close_pipe(int p[2])
{
	close_fd(&p[0]);
	close_fd(&p[1]);
}

/*
 * Fork argv with pin/pout/perr as its stdin/stdout/stderr. Returns the
 * child's pid, or -errno with every pipe still the caller's to close.
 */
static pid_t spawn(const char *const argv[], int pin[2], int pout[2], int perr[2])
{
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		dup2(pin[0], 0);
		dup2(pout[1], 1);
		dup2(perr[1], 2);
		signal(SIGPIPE, SIG_DFL);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	/* The child's ends: closed here, the parent sees EOF when the child ends. */
	close_fd(&pin[0]);
	close_fd(&pout[1]);
	close_fd(&perr[1]);
	return pid;
}

/* Append n bytes of the tool's stderr to e->said, as much as fits. */
static void keep_said(struct ipt_error *e, size_t *slen, const char *buf, size_t n)
{
	if (*slen + 1 >= sizeof(e->said))
		return;
	if (n > sizeof(e->said) - 1 - *slen)
		n = sizeof(e->said) - 1 - *slen;
	memcpy(e->said + *slen, buf, n);
	*slen += n;
	e->said[*slen] = 0;
}

/*
 * Feed 'in' to the child and drain its stdout (into out, if not NULL) and
 * stderr (into e->said) until both are closed or poll fails.
 */
static void pump(int pin[2], int pout[2], int perr[2], const char *in, struct strbuf *out,
		 struct ipt_error *e)
{
	size_t in_len = in ? strlen(in) : 0, in_off = 0, slen = 0;

	if (!in_len)
		close_fd(&pin[1]);
	/* poll all three pipes so a large output never blocks the child. */
	for (;;) {
		struct pollfd fds[3] = {
			{ .fd = pin[1], .events = POLLOUT },
			{ .fd = pout[0], .events = POLLIN },
			{ .fd = perr[0], .events = POLLIN },
		};
		char tmp[4096];
		ssize_t n;

		if (fds[1].fd < 0 && fds[2].fd < 0)
			break;
		if (poll(fds, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (fds[0].revents & (POLLOUT | POLLERR | POLLHUP)) {
			n = write(pin[1], in + in_off, in_len - in_off);
			if (n > 0)
				in_off += (size_t)n;
			if (n <= 0 || in_off == in_len)
				close_fd(&pin[1]);
		}
		if (fds[1].revents) {
			n = read(pout[0], tmp, sizeof(tmp));
			if (n > 0) {
				if (out)
					strbuf_add(out, tmp, (size_t)n);
			} else {
				close_fd(&pout[0]);
			}
		}
		if (fds[2].revents) {
			n = read(perr[0], tmp, sizeof(tmp));
			if (n > 0)
				keep_said(e, &slen, tmp, (size_t)n);
			else
				close_fd(&perr[0]);
		}
	}
	/* A failed poll leaves the child's pipes open: closed now, it sees EOF or EPIPE and ends. */
	close_fd(&pin[1]);
	close_fd(&pout[0]);
	close_fd(&perr[0]);
}

/*
 * pump() with SIGPIPE blocked in this thread: a tool that stops reading
 * its script at the first error (ipset restore does) makes the write fail
 * with EPIPE, which must not end faultline. A SIGPIPE that this caused is
 * taken back before the mask is restored; one pending before stays.
 */
static void pump_quiet(int pin[2], int pout[2], int perr[2], const char *in, struct strbuf *out,
		       struct ipt_error *e)
{
	sigset_t pipe_set, old, pending;
	bool was_pending;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGPIPE) == 1;
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	pump(pin, pout, perr, in, out, e);
	sigpending(&pending);
	if (!was_pending && sigismember(&pending, SIGPIPE) == 1) {
		const struct timespec zero = { 0, 0 };

		sigtimedwait(&pipe_set, NULL, &zero);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Wait for the child; its exit status, -ENOENT if it could not be run, or -errno. */
static int reap(pid_t pid, struct ipt_error *e)
{
	char *nl;
	int status;

	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	/* Keep the first line of the tool's complaint: that is the message. */
	nl = strchr(e->said, '\n');
	if (nl)
		*nl = 0;
	if (WIFEXITED(status))
		return WEXITSTATUS(status) == 127 ? -ENOENT : WEXITSTATUS(status);
	return -EINTR;
}

/*
 * Run argv with 'in' on stdin; collect stdout into *out (may be NULL) and
 * the first line of stderr into e->said (e becomes IPT_FAIL_TOOL, argv[0]).
 * Returns the exit status, or -errno if it could not run.
 */
static int run(const char *const argv[], const char *in, struct strbuf *out, struct ipt_error *e)
{
	int pin[2] = { -1, -1 }, pout[2] = { -1, -1 }, perr[2] = { -1, -1 }, ret;
	pid_t pid;

	memset(e, 0, sizeof(*e));
	e->why = IPT_FAIL_TOOL;
	snprintf(e->tool, sizeof(e->tool), "%s", argv[0]);
	if (pipe2(pin, O_CLOEXEC)) {
		ret = -errno;
		goto out;
	}
	if (pipe2(pout, O_CLOEXEC)) {
		ret = -errno;
		goto err_pin;
	}
	if (pipe2(perr, O_CLOEXEC)) {
		ret = -errno;
		goto err_pout;
	}
	pid = spawn(argv, pin, pout, perr);
	if (pid < 0) {
		ret = (int)pid;
		goto err_perr;
	}
	pump_quiet(pin, pout, perr, in, out, e);
	ret = reap(pid, e);
	/* Also the way out after success: pump closed every end, and close_pipe skips them. */
err_perr:
	close_pipe(perr);
err_pout:
	close_pipe(pout);
err_pin:
	close_pipe(pin);
out:
	return ret;
}

/* Read a small /proc file whole into *out. Returns 0 or -errno. */
static int slurp(const char *path, struct strbuf *out)
{
	char tmp[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while ((n = read(fd, tmp, sizeof(tmp))) > 0)
		strbuf_add(out, tmp, (size_t)n);
	close(fd);
	if (n < 0)
		return -EIO;
	strbuf_add(out, "", 0);
	return out->oom ? -ENOMEM : 0;
}

/* The next line of *p (not NUL-terminated: *len bytes), or NULL at the end. */
static const char *next_line(const char **p, size_t *len)
{
	const char *s = *p, *nl;

	if (!s || !*s)
		return NULL;
	nl = strchr(s, '\n');
	*len = nl ? (size_t)(nl - s) : strlen(s);
	*p = nl ? nl + 1 : s + *len;
	return s;
}

int ipt_parse_queues(const char *text, uint16_t queue, uint32_t *portid)
{
	const char *p = text, *l;
	size_t len;

	/* "%5u %6u ..." per bound queue: queue number, then the peer's port id. */
	while ((l = next_line(&p, &len))) {
		unsigned long q, port;
		char *end;

		q = strtoul(l, &end, 10);
		if (end == l || end > l + len)
			continue;
		port = strtoul(end, &end, 10);
		if (end > l + len)
			continue;
		if (q == queue) {
			*portid = (uint32_t)port;
			return 1;
		}
	}
	return 0;
}

int ipt_parse_netlink(const char *text, uint32_t portid, unsigned long *inode)
{
	const char *p = text, *l;
	size_t len;

	/* sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode; Eth 12 is NETLINK_NETFILTER. */
	while ((l = next_line(&p, &len))) {
		char line[256];
		unsigned long ino;
		unsigned port;
		int proto;

		if (len >= sizeof(line))
			continue;
		memcpy(line, l, len);
		line[len] = 0;
		if (sscanf(line, "%*s %d %u %*s %*s %*s %*s %*s %*s %lu", &proto, &port, &ino) != 3)
			continue;
		if (proto == 12 && port == portid) {
			*inode = ino;
			return 1;
		}
	}
	return 0;
}

/* The process with a descriptor on socket 'inode': a walk over /proc/<pid>/fd. */
static int socket_pid(unsigned long inode)
{
	char want[64], path[300], link[64];
	struct dirent *de, *fe;
	DIR *proc, *fds;
	int pid = 0;

	snprintf(want, sizeof(want), "socket:[%lu]", inode);
	proc = opendir("/proc");
	if (!proc)
		return 0;
	while (!pid && (de = readdir(proc))) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fd", de->d_name);
		fds = opendir(path);
		if (!fds)
			continue;
		while ((fe = readdir(fds))) {
			ssize_t n;

			n = readlinkat(dirfd(fds), fe->d_name, link, sizeof(link) - 1);
			if (n <= 0)
				continue;
			link[n] = 0;
			if (!strcmp(link, want)) {
				pid = atoi(de->d_name);
				break;
			}
		}
		closedir(fds);
	}
	closedir(proc);
	return pid;
}

int ipt_queue_owner(uint16_t queue, struct ipt_queue_owner *o)
{
	struct strbuf q = { 0 }, nl = { 0 };
	unsigned long inode;
	uint32_t portid;
	int bound = 0;

	/*
	 * thread-self, not self: /proc/self/net is the main thread's namespace,
	 * and the caller may have entered another one in this thread only. The
	 * file is missing until nfnetlink_queue is loaded: then nothing is bound.
	 */
	if (slurp("/proc/thread-self/net/netfilter/nfnetlink_queue", &q) ||
	    !ipt_parse_queues(q.p, queue, &portid))
		goto out;
	bound = 1;
	if (!o)
		goto out;
	memset(o, 0, sizeof(*o));
	o->portid = portid;
	/*
	 * The port id equals the pid only for a process's first netlink socket;
	 * the socket's inode names its holder for sure.
	 */
	if (!slurp("/proc/thread-self/net/netlink", &nl) && ipt_parse_netlink(nl.p, portid, &inode))
		o->pid = socket_pid(inode);
	if (o->pid) {
		char path[64];
		struct strbuf comm = { 0 };

		snprintf(path, sizeof(path), "/proc/%d/comm", o->pid);
		if (!slurp(path, &comm) && comm.p) {
			comm.p[strcspn(comm.p, "\n")] = 0;
			snprintf(o->comm, sizeof(o->comm), "%s", comm.p);
		}
		free(comm.p);
	}
out:
	free(q.p);
	free(nl.p);
	return bound;
}

/* The queue of a chain named FAULTLINE-<queue> (len bytes at name), or -1. */
static int chain_queue(const char *name, size_t len)
{
	size_t pl = strlen(IPT_CHAIN_PREFIX);
	unsigned long q = 0;

	if (len <= pl || len > pl + 5 || strncmp(name, IPT_CHAIN_PREFIX, pl))
		return -1;
	for (size_t i = pl; i < len; i++) {
		if (name[i] < '0' || name[i] > '9')
			return -1;
		q = q * 10 + (unsigned long)(name[i] - '0');
	}
	return q <= UINT16_MAX ? (int)q : -1;
}

/* Length of the space-separated token at s, within the line's end. */
static size_t tok_len(const char *s, const char *end)
{
	const char *t = s;

	while (t < end && *t != ' ')
		t++;
	return (size_t)(t - s);
}

static bool in_set(int q, const uint16_t *set, int n)
{
	for (int i = 0; q >= 0 && i < n; i++)
		if (set[i] == q)
			return true;
	return false;
}

/* The target of a rule line "-A CHAIN ... -j TARGET ...", or NULL. */
static const char *rule_target(const char *l, const char *end, size_t *tlen)
{
	for (const char *s = l; s + 4 <= end; s++) {
		if (!memcmp(s, " -j ", 4)) {
			*tlen = tok_len(s + 4, end);
			return s + 4;
		}
	}
	return NULL;
}

/*
 * One pass over the mangle table of an iptables-save output, calling 'fn'
 * for each chain declaration (':') and each rule ('-A') in it.
 */
typedef void (*mangle_line_cb)(void *data, const char *l, size_t len);

static bool mangle_walk(const char *save, mangle_line_cb fn, void *data)
{
	const char *p = save, *l;
	bool in = false, exists = false;
	size_t len;

	while ((l = next_line(&p, &len))) {
		if (len && l[0] == '*') {
			in = len == 7 && !memcmp(l, "*mangle", 7);
			exists |= in;
		} else if (len == 6 && !memcmp(l, "COMMIT", 6)) {
			in = false;
		} else if (in && len && (l[0] == ':' || !strncmp(l, "-A ", 3))) {
			fn(data, l, len);
		}
	}
	return exists;
}

/* The queue of a wrapped run's conntrack-marking rule ("--comment faultline-wrap-Q"), or -1. */
static int wrap_rule_queue(const char *l, const char *end)
{
	static const char key[] = " --comment " IPT_WRAP_COMMENT;
	size_t kl = sizeof(key) - 1;
	unsigned long q = 0;
	const char *d;

	for (const char *s = l; s + kl <= end; s++) {
		if (memcmp(s, key, kl))
			continue;
		d = s + kl;
		if (d == end || *d < '0' || *d > '9')
			return -1;
		for (; d < end && *d >= '0' && *d <= '9' && q <= UINT16_MAX; d++)
			q = q * 10 + (unsigned long)(*d - '0');
		return q <= UINT16_MAX && (d == end || *d == ' ') ? (int)q : -1;
	}
	return -1;
}

static bool has_mark(const char *l, size_t len)
{
	size_t ml = strlen(IPT_CREATED_MARK);

	for (size_t i = 0; i + ml <= len; i++)
		if (!memcmp(l + i, IPT_CREATED_MARK, ml))
			return true;
	return false;
}

static void parse_line(void *data, const char *l, size_t len)
{
	struct ipt_mangle *m = data;
	const char *end = l + len;
	int q;

	if (l[0] == ':') {
		q = chain_queue(l + 1, tok_len(l + 1, end));
		if (q >= 0 && m->n_chains < IPT_MAX_CHAINS && !in_set(q, m->queue, m->n_chains))
			m->queue[m->n_chains++] = (uint16_t)q;
		return;
	}
	if (chain_queue(l + 3, tok_len(l + 3, end)) >= 0 && has_mark(l, len))
		m->created = true;
}

int ipt_parse_save(const char *save, struct ipt_mangle *m)
{
	memset(m, 0, sizeof(*m));
	m->exists = save && mangle_walk(save, parse_line, m);
	return 0;
}

struct removal {
	const uint16_t *q;
	int n;
	int removed;
	bool created, foreign;
	struct strbuf deletes, chains;
};

static void removal_line(void *data, const char *l, size_t len)
{
	struct removal *r = data;
	const char *end = l + len, *t;
	size_t nl, tl;

	if (l[0] == ':') {
		const char *policy;

		nl = tok_len(l + 1, end);
		policy = l + 1 + nl + 1;
		if (in_set(chain_queue(l + 1, nl), r->q, r->n)) {
			r->removed++;
			strbuf_printf(&r->chains, "-F %.*s\n-X %.*s\n", (int)nl, l + 1, (int)nl, l + 1);
		} else if (policy >= end || strncmp(policy, "ACCEPT ", 7)) {
			/* A user chain ("-") or a built-in one with another policy. */
			r->foreign = true;
		}
		return;
	}
	nl = tok_len(l + 3, end);
	if (in_set(chain_queue(l + 3, nl), r->q, r->n)) {
		r->created |= has_mark(l, len);
		return;
	}
	t = rule_target(l, end, &tl);
	/* A jump to one of the chains, or a wrapped run's marking rule: it goes with them. */
	if ((t && in_set(chain_queue(t, tl), r->q, r->n)) || in_set(wrap_rule_queue(l, end), r->q, r->n))
		strbuf_printf(&r->deletes, "-D %.*s\n", (int)(len - 3), l + 3);
	else
		r->foreign = true;
}

int ipt_detach_script(const char *save, uint16_t queue, struct strbuf *script)
{
	struct removal r = { .q = &queue, .n = 1 };
	int ret = 0;

	if (save)
		mangle_walk(save, removal_line, &r);
	if (r.deletes.len) {
		strbuf_printf(script, "*mangle\n");
		strbuf_add(script, r.deletes.p, r.deletes.len);
		strbuf_printf(script, "COMMIT\n");
		ret = 1;
	}
	if (r.deletes.oom || r.chains.oom || script->oom)
		ret = -ENOMEM;
	free(r.deletes.p);
	free(r.chains.p);
	return ret;
}

int ipt_unjump_lines(const char *save, uint16_t queue, struct strbuf *script)
{
	struct removal r = { .q = &queue, .n = 1 };
	int ret = 0;

	if (save)
		mangle_walk(save, removal_line, &r);
	for (size_t i = 0; i < r.deletes.len; i++)
		ret += r.deletes.p[i] == '\n';
	if (r.deletes.len)
		strbuf_add(script, r.deletes.p, r.deletes.len);
	if (r.deletes.oom || r.chains.oom || script->oom)
		ret = -ENOMEM;
	free(r.deletes.p);
	free(r.chains.p);
	return ret;
}

int ipt_removal_script(const char *save, const uint16_t *q, int n, struct strbuf *script,
		       bool *flush)
{
	struct removal r = { .q = q, .n = n };
	int ret;

	*flush = false;
	if (!save)
		return 0;
	mangle_walk(save, removal_line, &r);
	if (!r.removed) {
		ret = 0;
	} else if (r.created && !r.foreign) {
		/*
		 * Nothing but faultline's chains in a table faultline made: a
		 * restore that flushes the table deletes it (nf_tables backend;
		 * the legacy kernel keeps its table, empty). That is one atomic
		 * step, chains, jumps and table together.
		 */
		*flush = true;
		strbuf_printf(script, "*mangle\nCOMMIT\n");
		ret = r.removed;
	} else {
		/* Jumps first: a chain still referenced cannot be deleted. */
		strbuf_printf(script, "*mangle\n");
		if (r.deletes.p)
			strbuf_add(script, r.deletes.p, r.deletes.len);
		if (r.chains.p)
			strbuf_add(script, r.chains.p, r.chains.len);
		strbuf_printf(script, "COMMIT\n");
		ret = r.removed;
	}
	if (r.deletes.oom || r.chains.oom || script->oom)
		ret = -ENOMEM;
	free(r.deletes.p);
	free(r.chains.p);
	return ret;
}

/* One iptables backend of one family: its save and restore programs. */
struct backend {
	char save[40], restore[40];
	enum ipt_backend which;
	bool is_system;		/* plain iptables-restore: where AUTO puts new chains */
};

/* What one backend's mangle table holds now. */
struct view {
	struct backend be;
	char *save;		/* owned: iptables-save output */
	struct ipt_mangle m;
};

static int restore(const struct backend *be, bool flush, const char *script, struct ipt_error *e)
{
	const char *argv[] = { be->restore, "-w", flush ? NULL : "--noflush", NULL };
	int ret = run(argv, script, NULL, e);

	if (ret == -ENOENT)
		e->why = IPT_FAIL_NO_TOOL;
	else if (ret > 0)
		return -EIO;
	return ret;
}

int ipt_tool(const char *const argv[], const char *in, struct strbuf *out, struct ipt_error *e)
{
	int ret = run(argv, in, out, e);

	if (ret == -ENOENT)
		e->why = IPT_FAIL_NO_TOOL;
	return ret > 0 ? -EIO : ret;
}

bool ipt_available(void)
{
	const char *argv[] = { "iptables-restore", "--version", NULL };
	struct ipt_error e;

	return run(argv, NULL, NULL, &e) == 0;
}

const char *ipt_backend_name(enum ipt_backend b)
{
	switch (b) {
	case IPT_BACKEND_NFT:
		return "nft";
	case IPT_BACKEND_LEGACY:
		return "legacy";
	case IPT_BACKEND_AUTO:
	default:
		return "auto";
	}
}

int ipt_backend_parse(const char *s, enum ipt_backend *b)
{
	static const enum ipt_backend all[] = { IPT_BACKEND_AUTO, IPT_BACKEND_NFT, IPT_BACKEND_LEGACY };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (!strcmp(s, ipt_backend_name(all[i]))) {
			*b = all[i];
			return 0;
		}
	return -EINVAL;
}

void ipt_backend_tools(enum ipt_backend b, enum ipt_backend system, bool v6, char save[static 40],
		       char restore[static 40])
{
	const char *base = v6 ? "ip6tables" : "iptables";
	const char *mid = b == system ? "" : b == IPT_BACKEND_LEGACY ? "-legacy" : "-nft";

	snprintf(save, 40, "%s%s-save", base, mid);
	snprintf(restore, 40, "%s%s-restore", base, mid);
}

/* Does the chain name (len bytes at s) start with FAULTLINE-? */
static bool ours(const char *s, size_t len)
{
	size_t pl = strlen(IPT_CHAIN_PREFIX);

	return len >= pl && !memcmp(s, IPT_CHAIN_PREFIX, pl);
}

int ipt_foreign_rules(const char *save)
{
	const char *p = save, *l;
	size_t len;
	int n = 0;

	while ((l = next_line(&p, &len))) {
		const char *end = l + len, *t;
		size_t nl, tl;

		if (len > 1 && l[0] == ':') {
			nl = tok_len(l + 1, end);
			if (ours(l + 1, nl))
				continue;
			/* A user chain ("-") counts, as does a built-in one that does not accept. */
			t = l + 1 + nl + 1;
			if (t >= end || strncmp(t, "ACCEPT ", 7))
				n++;
		} else if (len > 3 && !strncmp(l, "-A ", 3)) {
			/* In a chain of ours, or a wrapped run's marking rule. */
			if (ours(l + 3, tok_len(l + 3, end)) || wrap_rule_queue(l, end) >= 0)
				continue;
			t = rule_target(l, end, &tl);
			if (!t || !ours(t, tl))
				n++;
		}
	}
	return n;
}

int ipt_backend_decide(enum ipt_backend want, enum ipt_backend system, const char *nft_save,
		       const char *legacy_save, struct ipt_choice *c)
{
	memset(c, 0, sizeof(*c));
	c->system = system;
	c->rules[0] = nft_save ? ipt_foreign_rules(nft_save) : 0;
	c->rules[1] = legacy_save ? ipt_foreign_rules(legacy_save) : 0;
	if (want != IPT_BACKEND_AUTO) {
		c->backend = want;
		c->forced = true;
		return 0;
	}
	/*
	 * Both: whichever faultline picks, its chain and half of the rules
	 * run in different tables whose order is their hooks' priority, not
	 * anyone's choice. That is for the user to decide.
	 */
	if (c->rules[0] && c->rules[1])
		return -EEXIST;
	if (c->rules[0])
		c->backend = IPT_BACKEND_NFT;
	else if (c->rules[1])
		c->backend = IPT_BACKEND_LEGACY;
	else
		c->backend = system;
	return 0;
}

/* Which backend plain iptables-restore is: its --version says "nf_tables" or "legacy". */
static int system_backend(enum ipt_backend *b, struct ipt_error *e)
{
	const char *argv[] = { "iptables-restore", "--version", NULL };
	struct strbuf out = { 0 };
	int ret = run(argv, NULL, &out, e);

	*b = out.p && strstr(out.p, "nf_tables") ? IPT_BACKEND_NFT : IPT_BACKEND_LEGACY;
	strbuf_free(&out);
	if (ret == -ENOENT)
		e->why = IPT_FAIL_NO_TOOL;
	return ret > 0 ? -EIO : ret;
}

/*
 * The legacy backend's tables come into being in a namespace when first
 * used, and never go: iptables-legacy-save -t mangle would create one, and
 * any legacy tool may load the x_tables modules. Only run them when the
 * kernel lists a table already (then its modules are there).
 */
static bool legacy_tables(bool v6)
{
	struct strbuf b = { 0 };
	bool has;

	has = !slurp(v6 ? "/proc/thread-self/net/ip6_tables_names" : "/proc/thread-self/net/ip_tables_names", &b) &&
	      b.p && b.p[0];
	free(b.p);
	return has;
}

/*
 * The backends to look at for one family: the system's, and the other
 * where it is installed and may hold chains (a legacy faultline chain is
 * invisible to iptables-nft-save, and the reverse). Returns how many (1
 * or 2) or -errno.
 */
static int backends(bool v6, struct backend be[2], struct ipt_error *e)
{
	enum ipt_backend sys, other;
	int ret = system_backend(&sys, e);

	if (ret)
		return ret;
	memset(be, 0, 2 * sizeof(*be));
	other = sys == IPT_BACKEND_NFT ? IPT_BACKEND_LEGACY : IPT_BACKEND_NFT;
	be[0].which = sys;
	be[0].is_system = true;
	ipt_backend_tools(sys, sys, v6, be[0].save, be[0].restore);
	if (other == IPT_BACKEND_LEGACY && !legacy_tables(v6))
		return 1;
	be[1].which = other;
	ipt_backend_tools(other, sys, v6, be[1].save, be[1].restore);
	return 2;
}

static void views_free(struct view *v, int n)
{
	for (int i = 0; i < n; i++) {
		free(v[i].save);
		v[i].save = NULL;
	}
}

/* Read the tables of every backend of one family. Returns the count or -errno. */
static int load_views(bool v6, struct view v[2], struct ipt_error *e)
{
	struct backend be[2];
	int nb = backends(v6, be, e), n = 0;

	if (nb < 0)
		return nb;
	for (int i = 0; i < nb; i++) {
		const char *argv[] = { be[i].save, NULL };
		struct strbuf out = { 0 };
		int ret;

		/* Every table, not -t mangle: iptables-nft-save -t mangle shows one that does not exist. */
		ret = run(argv, NULL, &out, e);
		if (ret && !be[i].is_system) {
			/* The other backend is optional (not installed, or no kernel support). */
			free(out.p);
			continue;
		}
		if (!ret && out.oom)
			ret = -ENOMEM;
		if (ret) {
			if (ret == -ENOENT)
				e->why = IPT_FAIL_NO_TOOL;
			free(out.p);
			views_free(v, n);
			return ret < 0 ? ret : -EIO;
		}
		v[n].be = be[i];
		v[n].save = out.p;
		ipt_parse_save(out.p, &v[n].m);
		n++;
	}
	return n;
}

/* Is the restore tool of b installed (and working)? */
static int have_tools(enum ipt_backend b, enum ipt_backend sys, struct ipt_error *e)
{
	struct backend be;
	const char *argv[] = { be.restore, "--version", NULL };
	int ret;

	ipt_backend_tools(b, sys, false, be.save, be.restore);
	ret = run(argv, NULL, NULL, e);
	if (ret == -ENOENT)
		e->why = IPT_FAIL_NO_TOOL;
	return ret > 0 ? -EIO : ret;
}

int ipt_backend_choose(enum ipt_backend want, struct ipt_choice *c, struct ipt_error *e)
{
	struct strbuf save[2] = { { 0 } };
	enum ipt_backend sys;
	int ret;

	memset(c, 0, sizeof(*c));
	ret = system_backend(&sys, e);
	if (ret)
		return ret;
	if (want != IPT_BACKEND_AUTO) {
		ret = have_tools(want, sys, e);
		return ret ? ret : ipt_backend_decide(want, sys, NULL, NULL, c);
	}
	for (int f = 0; f < 2; f++) {
		struct view v[2];
		int n = load_views(f, v, e);

		if (n < 0) {
			ret = n;
			goto out;
		}
		/* Both families' tables, one text per backend: a rule is a line. */
		for (int i = 0; i < n; i++)
			if (v[i].save)
				strbuf_printf(&save[v[i].be.which == IPT_BACKEND_LEGACY], "%s\n", v[i].save);
		views_free(v, n);
	}
	if (save[0].oom || save[1].oom) {
		ret = -ENOMEM;
		goto out;
	}
	ret = ipt_backend_decide(want, sys, save[0].p, save[1].p, c);
	if (ret == -EEXIST) {
		memset(e, 0, sizeof(*e));
		e->why = IPT_FAIL_SPLIT;
		e->rules[0] = c->rules[0];
		e->rules[1] = c->rules[1];
	}
out:
	strbuf_free(&save[0]);
	strbuf_free(&save[1]);
	return ret;
}

int ipt_foreach_save(bool v6, ipt_save_cb fn, void *data, struct ipt_error *e)
{
	struct view v[2];
	int n = load_views(v6, v, e), ret = 0;

	for (int i = 0; i < n && !ret; i++)
		ret = fn(data, v[i].be.which, v[i].save ? v[i].save : "");
	views_free(v, n > 0 ? n : 0);
	return n < 0 ? n : ret;
}

/* Remove the chains of queues q[0..n) from one backend. *flushed: the table went too. */
static int remove_in(const struct view *v, const uint16_t *q, int n, int *removed, bool *flushed,
		     struct ipt_error *e)
{
	struct strbuf s = { 0 };
	int ret;

	*flushed = false;
	ret = ipt_removal_script(v->save, q, n, &s, flushed);
	if (ret > 0) {
		int count = ret;

		ret = restore(&v->be, *flushed, s.p, e);
		if (!ret && removed)
			*removed += count;
	}
	if (ret)
		*flushed = false;
	free(s.p);
	return ret < 0 ? ret : 0;
}

/*
 * One faultline changes iptables at a time, host-wide (the file lock is
 * not per namespace, but each change takes milliseconds): without it two
 * runs starting together would each see no other chain and both install.
 * Best effort: where /run is not writable, go on unlocked.
 */
static int lock_take(void)
{
	int fd = open("/run/faultline.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	while (fd >= 0 && flock(fd, LOCK_EX)) {
		if (errno != EINTR) {
			close(fd);
			return -1;
		}
	}
	return fd;
}

static void lock_drop(int fd)
{
	if (fd >= 0)
		close(fd);
}

/*
 * A program's native protocol test, for IPv4 ("-p 17 "): a packet of
 * another protocol leaves the jump at a compare of nf_tables (or of the
 * legacy entry) instead of going through the xtables compat call into
 * the bpf match. Empty for IPv6, where -p looks past extension headers
 * and libpcap does not, and where the program may take several protocols.
 * NULL: the program accepts no IPv4 packet, so IPv4 needs no jump for it.
 */
static const char *proto_test(const struct kfilter *k, enum pkt_dir h, unsigned i, bool v6,
			      char *buf, size_t size)
{
	int p = v6 ? KFILTER_PROTO_ANY : kfilter_ip4_proto(k, h, i);

	if (p == KFILTER_PROTO_NONE)
		return NULL;
	if (p == KFILTER_PROTO_ANY)
		return "";
	snprintf(buf, size, "-p %d ", p);
	return buf;
}

/* One hook's jumps: what it matches first (the hook's own test), then each program's. */
static void hook_jumps(const struct ipt_config *c, bool v6, enum pkt_dir h, const char *from,
		       const char *test, struct strbuf *s)
{
	const char *ch = IPT_CHAIN_PREFIX;
	enum kfilter_scope scope = c->filter ? kfilter_scope(c->filter, h) : KFILTER_ALL;

	if (scope == KFILTER_ALL) {
		strbuf_printf(s, "-I %s 1 %s-m comment --comment faultline -j %s%u\n", from, test, ch,
			      c->queue);
		return;
	}
	/*
	 * One jump per program: the chain NFQUEUEs what any of them accepts,
	 * and a packet none accepts goes on through the hook untouched. The
	 * program comes before the hook's own test: the kernel tries matches
	 * in order, and addrtype costs a route lookup that every packet no
	 * rule wants would otherwise pay.
	 */
	for (unsigned i = 0; scope == KFILTER_SOME && i < kfilter_count(c->filter, h); i++) {
		char buf[16];
		const char *proto = proto_test(c->filter, h, i, v6, buf, sizeof(buf));

		if (proto)
			strbuf_printf(s, "-I %s 1 %s-m bpf --bytecode \"%s\" %s-m comment --comment faultline "
				      "-j %s%u\n", from, proto, kfilter_bytecode(c->filter, h, i), test, ch,
				      c->queue);
	}
	/*
	 * One jump per port set, its protocol tested natively first (in
	 * ip6tables, -p looks past extension headers, as the set match does).
	 * A protocol queued whole has no set.
	 */
	for (unsigned i = 0; scope == KFILTER_SOME && i < kfilter_nsets(c->filter, h); i++) {
		const struct kfilter_portset *set = kfilter_set(c->filter, h, i);
		char name[PORTSET_NAME_LEN];

		if (set->whole) {
			strbuf_printf(s, "-I %s 1 -p %u %s-m comment --comment faultline -j %s%u\n", from,
				      set->proto, test, ch, c->queue);
			continue;
		}
		portset_name(c->queue, c->set_gen, h, set, name);
		strbuf_printf(s, "-I %s 1 -p %u -m set --match-set %s %s %s-m comment --comment faultline "
			      "-j %s%u\n", from, set->proto, name, set->side == KFILTER_SRC ? "src" : "dst",
			      test, ch, c->queue);
	}
}

/*
 * A wrapped run: the jumps take only the connections the cgroup's sockets
 * send on, by their conntrack mark. The cgroup match cannot stand on the
 * jumps itself: it needs the packet's socket, which an incoming packet
 * has not at PREROUTING, nor a packet the peer sends over loopback. So
 * the first rule of OUTPUT (inserted last) marks the connection whenever
 * a packet leaves from the cgroup, before its own jump tests the mark:
 * conntrack has made the entry by then (it hooks OUTPUT before mangle).
 */
static void wrap_jump_lines(const struct ipt_config *c, bool v6, struct strbuf *s)
{
	char test[128];

	snprintf(test, sizeof(test), "-m connmark --mark 0x%x/0x%x ", c->mark, c->mark);
	hook_jumps(c, v6, PKT_DIR_OUT, "OUTPUT", test, s);
	snprintf(test, sizeof(test), "-m addrtype --dst-type LOCAL -m connmark --mark 0x%x/0x%x ",
		 c->mark, c->mark);
	hook_jumps(c, v6, PKT_DIR_IN, "PREROUTING", test, s);
	strbuf_printf(s, "-I OUTPUT 1 -m cgroup --path \"%s\" -m comment --comment " IPT_WRAP_COMMENT "%u "
		      "-j CONNMARK --set-xmark 0x%x/0x%x\n", c->cgroup, c->queue, c->mark, c->mark);
}

int ipt_jump_lines(const struct ipt_config *c, bool v6, struct strbuf *s)
{
	if (c->cgroup) {
		wrap_jump_lines(c, v6, s);
		return s->oom ? -ENOMEM : 0;
	}
	hook_jumps(c, v6, PKT_DIR_OUT, "OUTPUT", "", s);
	/*
	 * Incoming packets are taken at PREROUTING, before the routing step
	 * where the kernel looks up their socket early (early demux): a packet
	 * held at INPUT keeps that socket, and is silently thrown away if the
	 * socket closes meanwhile, which is what a delayed segment meeting
	 * TIME_WAIT must not do.
	 */
	hook_jumps(c, v6, PKT_DIR_IN, "PREROUTING", "-m addrtype --dst-type LOCAL ", s);
	if (c->forward)
		hook_jumps(c, v6, PKT_DIR_FWD, "FORWARD", "", s);
	return s->oom ? -ENOMEM : 0;
}

/* Is view w of the backend c's chain goes to? AUTO: the system's. */
static bool is_target(const struct ipt_config *c, const struct view *w)
{
	return c->backend == IPT_BACKEND_AUTO ? w->be.is_system : w->be.which == c->backend;
}

/* The programs of the backend c's chain goes to, for one family. */
static int target_backend(const struct ipt_config *c, bool v6, struct backend *b, struct ipt_error *e)
{
	enum ipt_backend sys;
	int ret = system_backend(&sys, e);

	if (ret)
		return ret;
	memset(b, 0, sizeof(*b));
	b->which = c->backend == IPT_BACKEND_AUTO ? sys : c->backend;
	b->is_system = b->which == sys;
	ipt_backend_tools(b->which, sys, v6, b->save, b->restore);
	return 0;
}

int ipt_restore(enum ipt_backend b, bool v6, const char *script, bool flush, struct ipt_error *e)
{
	struct ipt_config c = { .backend = b };
	struct backend be;
	int ret = target_backend(&c, v6, &be, e);

	return ret ? ret : restore(&be, flush, script, e);
}

static int install_family(const struct ipt_config *c, bool v6, bool created, struct ipt_error *e)
{
	struct backend b;
	struct strbuf s = { 0 };
	const char *ch = IPT_CHAIN_PREFIX;
	int ret = target_backend(c, v6, &b, e);

	if (ret)
		return ret;
	strbuf_printf(&s, "*mangle\n:%s%u - [0:0]\n", ch, c->queue);
	/*
	 * Loopback traffic was queued once already, at OUTPUT. The test is
	 * here, not on the PREROUTING jumps: there every packet of every
	 * protocol would pay its interface-name copy, here only the packets a
	 * jump took.
	 */
	strbuf_printf(&s, "-A %s%u -i lo -j RETURN\n", ch, c->queue);
	strbuf_printf(&s, "-A %s%u -m mark --mark 0x%x -j RETURN\n", ch, c->queue, c->mark);
	if (c->queues > 1)
		strbuf_printf(&s, "-A %s%u -j NFQUEUE --queue-balance %u:%u --queue-bypass\n", ch,
			      c->queue, c->queue, c->queue + c->queues - 1);
	else
		strbuf_printf(&s, "-A %s%u -j NFQUEUE --queue-num %u --queue-bypass\n", ch,
			      c->queue, c->queue);
	/* After the NFQUEUE rule, which ends the chain: a note, never reached. */
	if (created)
		strbuf_printf(&s, "-A %s%u -m comment --comment " IPT_CREATED_MARK " -j RETURN\n",
			      ch, c->queue);
	ipt_jump_lines(c, v6, &s);
	strbuf_printf(&s, "COMMIT\n");
	if (s.oom)
		ret = -ENOMEM;
	else
		ret = restore(&b, false, s.p, e);
	free(s.p);
	return ret;
}

/* Remove queue's chain from every backend of one family; the lock is held. */
static int remove_queue(bool v6, uint16_t queue, struct ipt_error *e)
{
	struct view v[2];
	int n = load_views(v6, v, e), ret = 0;
	bool flushed;

	for (int i = 0; i < n; i++) {
		int r = remove_in(&v[i], &queue, 1, NULL, &flushed, e);

		if (r && !ret)
			ret = r;
	}
	views_free(v, n > 0 ? n : 0);
	return n < 0 ? n : ret;
}

/* c's port sets, before the jumps that use them. IPT_FAIL_SETS when they cannot be made. */
static int make_sets(const struct ipt_config *c, struct ipt_error *e)
{
	int ret;

	if (!portset_needed(c->filter))
		return 0;
	ret = portset_create(c->filter, c->queue, c->set_gen, e);
	if (ret) {
		if (ret == -ENOENT)
			snprintf(e->said, sizeof(e->said), "ipset is not installed");
		e->why = IPT_FAIL_SETS;
	}
	return ret;
}

int ipt_install(const struct ipt_config *c, struct ipt_error *e)
{
	struct view v[2][2];
	int nv[2] = { 0 }, fams = c->ipv6 ? 2 : 1, lock = lock_take(), ret = 0;
	bool created[2] = { true, true };
	struct ipt_error ignore;

	for (int f = 0; f < fams; f++) {
		nv[f] = load_views(f, v[f], e);
		if (nv[f] < 0) {
			ret = nv[f];
			nv[f] = 0;
			goto out;
		}
	}
	/*
	 * A chain whose queue is bound has a live owner: faultline binds its
	 * queue before it installs, and removes its chain before it unbinds.
	 * Our own queue is bound by us, so a chain of it is a crashed run's.
	 */
	for (int f = 0; f < fams; f++)
		for (int i = 0; i < nv[f]; i++)
			for (int k = 0; k < v[f][i].m.n_chains; k++) {
				uint16_t q = v[f][i].m.queue[k];
				struct ipt_queue_owner o;

				if (q != c->queue && ipt_queue_owner(q, &o) == 1) {
					memset(e, 0, sizeof(*e));
					e->why = IPT_FAIL_BUSY;
					e->queue = q;
					e->owner = o;
					ret = -EBUSY;
					goto out;
				}
			}
	/* The rest is stale: gone first, tables that only they kept going too. */
	for (int f = 0; f < fams; f++)
		for (int i = 0; i < nv[f]; i++) {
			const struct view *w = &v[f][i];
			bool flushed = false;

			ret = remove_in(w, w->m.queue, w->m.n_chains, NULL, &flushed, e);
			if (ret)
				goto out;
			if (is_target(c, w))
				created[f] = !w->m.exists || flushed;
		}
	/*
	 * Their sets too, now that no jump uses them, and those a crashed run
	 * of this queue left. Best effort: a set left over takes nothing from
	 * this run (its names are new generations'), and ipset may fail here
	 * where the run needs no set.
	 */
	portset_sweep(c->queue, &ignore);
	ret = make_sets(c, e);
	if (ret)
		goto out;
	ret = install_family(c, false, created[0], e);
	if (!ret && c->ipv6) {
		ret = install_family(c, true, created[1], e);
		if (ret)
			remove_queue(false, c->queue, &ignore);
	}
	if (ret)
		portset_destroy(c->queue, PORTSET_NONE_KEPT, &ignore);
out:
	for (int f = 0; f < fams; f++)
		views_free(v[f], nv[f]);
	lock_drop(lock);
	return ret;
}

/* Delete the jumps to queue's chain in every backend of one family; the lock is held. */
static int detach_queue(bool v6, uint16_t queue, struct ipt_error *e)
{
	struct view v[2];
	int n = load_views(v6, v, e), ret = 0;

	for (int i = 0; i < n; i++) {
		struct strbuf s = { 0 };
		int r = ipt_detach_script(v[i].save, queue, &s);

		if (r > 0)
			r = restore(&v[i].be, false, s.p, e);
		if (r && !ret)
			ret = r < 0 ? r : -EIO;
		free(s.p);
	}
	views_free(v, n > 0 ? n : 0);
	return n < 0 ? n : ret;
}

/* One family's jumps, old out and new in, in one transaction; the lock is held. */
static int set_filter_family(const struct ipt_config *c, bool v6, struct ipt_error *e)
{
	struct view v[2];
	int n = load_views(v6, v, e), ret = 0;

	for (int i = 0; i < n && !ret; i++) {
		struct strbuf s = { 0 };

		/* The chain is where install_family put it. */
		if (!is_target(c, &v[i]))
			continue;
		strbuf_printf(&s, "*mangle\n");
		ret = ipt_unjump_lines(v[i].save, c->queue, &s);
		if (ret >= 0)
			ret = ipt_jump_lines(c, v6, &s);
		strbuf_printf(&s, "COMMIT\n");
		if (!ret && s.oom)
			ret = -ENOMEM;
		if (!ret)
			ret = restore(&v[i].be, false, s.p, e);
		free(s.p);
	}
	views_free(v, n > 0 ? n : 0);
	return n < 0 ? n : ret;
}

int ipt_set_filter(const struct ipt_config *c, const struct kfilter *old, uint32_t old_gen,
		   struct ipt_error *e)
{
	int lock = lock_take(), ret;
	struct ipt_error ignore;

	ret = make_sets(c, e);
	if (ret)
		goto out;
	ret = set_filter_family(c, false, e);
	if (!ret && c->ipv6) {
		ret = set_filter_family(c, true, e);
		if (ret) {
			struct ipt_config back = *c;

			back.filter = old;
			back.set_gen = old_gen;
			set_filter_family(&back, false, &ignore);
		}
	}
	/*
	 * The sets no jump uses any more: the old generation's after a swap,
	 * the new one's after a failure. A set a jump still uses (a failed
	 * rollback) refuses to go, and stays until the chain goes.
	 */
	if (!ret && (portset_needed(old) || portset_needed(c->filter)))
		portset_destroy(c->queue, c->set_gen, &ignore);
	else if (ret && portset_needed(c->filter))
		portset_destroy(c->queue, old_gen, &ignore);
out:
	lock_drop(lock);
	return ret;
}

int ipt_detach(uint16_t queue, bool ipv6, struct ipt_error *e)
{
	int lock = lock_take(), r4, r6 = 0;
	struct ipt_error e6;

	r4 = detach_queue(false, queue, e);
	if (ipv6)
		r6 = detach_queue(true, queue, &e6);
	if (!r4 && r6)
		*e = e6;
	lock_drop(lock);
	return r4 ? r4 : r6;
}

int ipt_remove(uint16_t queue, bool ipv6, struct ipt_error *e)
{
	int lock = lock_take(), r4, r6 = 0;
	struct ipt_error e6;

	r4 = remove_queue(false, queue, e);
	if (ipv6)
		r6 = remove_queue(true, queue, &e6);
	if (!r4 && r6)
		*e = e6;
	/* The sets after the jumps that use them; with a jump left, they cannot go. */
	if (!r4 && !r6 && portset_destroy(queue, PORTSET_NONE_KEPT, e) < 0)
		r4 = -EIO;
	lock_drop(lock);
	return r4 ? r4 : r6;
}

int ipt_cleanup(int removed[static 3], struct ipt_error *e)
{
	struct ipt_queue_owner live = { 0 };
	int lock = lock_take(), ret = 0, n_live = 0;
	uint16_t live_q = 0;

	removed[0] = removed[1] = removed[2] = 0;
	for (int f = 0; f < 2; f++) {
		struct view v[2];
		int n = load_views(f, v, e);

		if (n < 0) {
			ret = n;
			break;
		}
		for (int i = 0; i < n && !ret; i++) {
			uint16_t stale[IPT_MAX_CHAINS];
			int ns = 0;
			bool flushed;

			for (int k = 0; k < v[i].m.n_chains; k++) {
				uint16_t q = v[i].m.queue[k];
				struct ipt_queue_owner o;

				if (ipt_queue_owner(q, &o) != 1) {
					stale[ns++] = q;
				} else if (!n_live++) {
					live = o;
					live_q = q;
				}
			}
			ret = remove_in(&v[i], stale, ns, &removed[v[i].be.which], &flushed, e);
		}
		views_free(v, n);
	}
	/* The stale queues' sets, now that their jumps are gone. */
	if (!ret && portset_cleanup(e) < 0)
		ret = -EIO;
	lock_drop(lock);
	if (!ret && n_live) {
		memset(e, 0, sizeof(*e));
		e->why = IPT_FAIL_KEPT;
		e->kept = n_live;
		e->queue = live_q;
		e->owner = live;
		ret = -EBUSY;
	}
	return ret;
}
