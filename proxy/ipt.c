// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ipt.h"
#include "strbuf.h"

/*
 * Run argv with 'in' on stdin; collect stdout into *out (may be NULL) and
 * stderr into err. Returns the exit status, or -errno if it could not run.
 */
static int run(const char *const argv[], const char *in, struct strbuf *out, char *err, size_t errlen)
{
	int pin[2], pout[2], perr[2], status;
	size_t in_len = in ? strlen(in) : 0, in_off = 0, elen = 0;
	pid_t pid;

	if (errlen)
		err[0] = 0;
	if (pipe2(pin, O_CLOEXEC) || pipe2(pout, O_CLOEXEC) || pipe2(perr, O_CLOEXEC))
		return -errno;
	pid = fork();
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
	close(pin[0]);
	close(pout[1]);
	close(perr[1]);
	if (!in_len) {
		close(pin[1]);
		pin[1] = -1;
	}
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
			if (n <= 0 || in_off == in_len) {
				close(pin[1]);
				pin[1] = -1;
			}
		}
		if (fds[1].revents) {
			n = read(pout[0], tmp, sizeof(tmp));
			if (n > 0) {
				if (out)
					strbuf_add(out, tmp, (size_t)n);
			} else {
				close(pout[0]);
				pout[0] = -1;
			}
		}
		if (fds[2].revents) {
			n = read(perr[0], tmp, sizeof(tmp));
			if (n > 0) {
				size_t k = (size_t)n;

				if (errlen && elen + 1 < errlen) {
					if (k > errlen - 1 - elen)
						k = errlen - 1 - elen;
					memcpy(err + elen, tmp, k);
					elen += k;
					err[elen] = 0;
				}
			} else {
				close(perr[0]);
				perr[0] = -1;
			}
		}
	}
	if (pin[1] >= 0)
		close(pin[1]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	/* Keep the first line of the tool's complaint: that is the message. */
	if (elen) {
		char *nl = strchr(err, '\n');

		if (nl)
			*nl = 0;
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status) == 127 ? -ENOENT : WEXITSTATUS(status);
	return -EINTR;
}

static const char *restore_bin(bool v6)
{
	return v6 ? "ip6tables-restore" : "iptables-restore";
}

static int restore(bool v6, const char *script, char *err, size_t errlen)
{
	const char *argv[] = { restore_bin(v6), "-w", "--noflush", NULL };
	int ret = run(argv, script, NULL, err, errlen);

	if (ret == -ENOENT)
		snprintf(err, errlen, "%s not found: install iptables", argv[0]);
	else if (ret > 0)
		return -EIO;
	return ret;
}

bool ipt_available(void)
{
	const char *argv[] = { "iptables-restore", "--version", NULL };
	char err[16];

	return run(argv, NULL, NULL, err, sizeof(err)) == 0;
}

static int install_family(const struct ipt_config *c, bool v6, char *err, size_t errlen)
{
	struct strbuf b = { 0 };
	const char *ch = IPT_CHAIN_PREFIX;
	int ret = 0;

	strbuf_printf(&b, "*mangle\n:%s%u - [0:0]\n", ch, c->queue);
	strbuf_printf(&b, "-A %s%u -m mark --mark 0x%x -j RETURN\n", ch, c->queue, c->mark);
	if (c->queues > 1)
		strbuf_printf(&b, "-A %s%u -j NFQUEUE --queue-balance %u:%u --queue-bypass\n", ch,
				  c->queue, c->queue, c->queue + c->queues - 1);
	else
		strbuf_printf(&b, "-A %s%u -j NFQUEUE --queue-num %u --queue-bypass\n", ch,
				  c->queue, c->queue);
	strbuf_printf(&b, "-I OUTPUT 1 -m comment --comment faultline -j %s%u\n", ch, c->queue);
	/*
	 * Incoming packets are taken at PREROUTING, before the routing step
	 * where the kernel looks up their socket early (early demux): a packet
	 * held at INPUT keeps that socket, and is silently thrown away if the
	 * socket closes meanwhile, which is what a delayed segment meeting
	 * TIME_WAIT must not do.
	 */
	strbuf_printf(&b, "-I PREROUTING 1 ! -i lo -m addrtype --dst-type LOCAL "
			      "-m comment --comment faultline -j %s%u\n", ch, c->queue);
	if (c->forward)
		strbuf_printf(&b, "-I FORWARD 1 -m comment --comment faultline -j %s%u\n", ch,
				  c->queue);
	strbuf_printf(&b, "COMMIT\n");
	if (b.oom)
		ret = -ENOMEM;
	else
		ret = restore(v6, b.p, err, errlen);
	free(b.p);
	return ret;
}

/*
 * Build a script that deletes the jumps to, then flushes and deletes, every
 * chain whose name starts with 'chain' (exact name when exact).
 */
static int remove_family(bool v6, const char *chain, bool exact, int *removed, char *err,
			 size_t errlen)
{
	const char *argv[] = { v6 ? "ip6tables-save" : "iptables-save", "-t", "mangle", NULL };
	struct strbuf out = { 0 }, s = { 0 }, chains = { 0 };
	size_t clen = strlen(chain);
	int ret, n = 0;

	ret = run(argv, NULL, &out, err, errlen);
	if (ret) {
		if (ret == -ENOENT)
			snprintf(err, errlen, "%s not found: install iptables", argv[0]);
		free(out.p);
		return ret < 0 ? ret : -EIO;
	}
	strbuf_add(&s, "*mangle\n", 8);
	char *save = NULL;

	for (char *line = out.p ? strtok_r(out.p, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *j = strstr(line, " -j ");

		if (line[0] == ':' && !strncmp(line + 1, chain, clen)) {
			char *sp = strchr(line, ' ');

			if (sp)
				*sp = 0;
			if (exact && strcmp(line + 1, chain))
				continue;
			strbuf_printf(&chains, "%s\n", line + 1);
			n++;
		} else if (!strncmp(line, "-A ", 3) && j && !strncmp(j + 4, chain, clen) &&
			   (!exact || !strcmp(j + 4, chain))) {
			strbuf_printf(&s, "-D %s\n", line + 3);
		}
	}
	save = NULL;
	for (char *c = chains.p ? strtok_r(chains.p, "\n", &save) : NULL; c;
	     c = strtok_r(NULL, "\n", &save))
		strbuf_printf(&s, "-F %s\n-X %s\n", c, c);
	strbuf_add(&s, "COMMIT\n", 7);
	if (s.oom || chains.oom || out.oom)
		ret = -ENOMEM;
	else
		ret = n || strstr(s.p, "-D ") ? restore(v6, s.p, err, errlen) : 0;
	if (!ret && removed)
		*removed += n;
	free(out.p);
	free(s.p);
	free(chains.p);
	return ret;
}

int ipt_install(const struct ipt_config *c, char *err, size_t errlen)
{
	char chain[64];
	int ret;

	snprintf(chain, sizeof(chain), IPT_CHAIN_PREFIX "%u", c->queue);
	/* A chain of an earlier, crashed run on this queue goes first. */
	remove_family(false, chain, true, NULL, err, errlen);
	if (c->ipv6)
		remove_family(true, chain, true, NULL, err, errlen);

	ret = install_family(c, false, err, errlen);
	if (ret)
		return ret;
	if (c->ipv6) {
		ret = install_family(c, true, err, errlen);
		if (ret) {
			char ignore[256];

			remove_family(false, chain, true, NULL, ignore, sizeof(ignore));
			return ret;
		}
	}
	return 0;
}

int ipt_remove(uint16_t queue, bool ipv6, char *err, size_t errlen)
{
	char chain[64];
	int r4, r6 = 0;

	snprintf(chain, sizeof(chain), IPT_CHAIN_PREFIX "%u", queue);
	r4 = remove_family(false, chain, true, NULL, err, errlen);
	if (ipv6)
		r6 = remove_family(true, chain, true, NULL, err, errlen);
	return r4 ? r4 : r6;
}

int ipt_cleanup(int *removed, char *err, size_t errlen)
{
	int r4, r6;

	*removed = 0;
	r4 = remove_family(false, IPT_CHAIN_PREFIX, false, removed, err, errlen);
	r6 = remove_family(true, IPT_CHAIN_PREFIX, false, removed, err, errlen);
	return r4 ? r4 : r6;
}

bool ipt_legacy(void)
{
	const char *argv[] = { "iptables-restore", "--version", NULL };
	struct strbuf out = { 0 };
	char err[16];
	bool legacy;

	legacy = run(argv, NULL, &out, err, sizeof(err)) == 0 && out.p && strstr(out.p, "legacy");
	strbuf_free(&out);
	return legacy;
}
