// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <stdio_ext.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "events.h"

FILE *events_begin(struct events *e)
{
	if (!e->out)
		return NULL;
	if (e->err && !e->counts_own) {
		e->lost++;
		return NULL;
	}
	return e->out;
}

/*
 * A regular file that filled up ends in part of a line: cut it back to its
 * last whole line, so that every reader (show, report, jq) takes all of it.
 * The stream is write-only: read through a descriptor of our own.
 */
void events_cut_fd(int wfd)
{
	char path[64], buf[4096];
	struct stat st;
	int rfd;
	off_t end;

	if (wfd < 0 || fstat(wfd, &st) || !S_ISREG(st.st_mode))
		return;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", wfd);
	rfd = open(path, O_RDONLY | O_CLOEXEC);
	if (rfd < 0)
		return;
	/* Backwards a block at a time to the last newline; none at all: nothing whole. */
	for (end = st.st_size; end > 0;) {
		size_t n = end > (off_t)sizeof(buf) ? sizeof(buf) : (size_t)end;

		if (pread(rfd, buf, n, end - (off_t)n) != (ssize_t)n) {
			end = st.st_size;
			break;
		}
		while (n && buf[n - 1] != '\n')
			n--, end--;
		if (n)
			break;
	}
	close(rfd);
	/* Best effort: the failure is reported whether or not the cut works. */
	if (end < st.st_size && ftruncate(wfd, end) == 0)
		return;
}

static int fail(struct events *e, int err)
{
	e->err = -(err ? err : EIO);
	/* It drops what it cannot write, whole lines, and counts them: go on writing. */
	if (e->counts_own) {
		clearerr(e->out);
		return e->err;
	}
	/*
	 * The rest of the line may wait in the buffer: dropped, or closing
	 * the stream would write it after the cut below.
	 */
	__fpurge(e->out);
	events_cut_fd(fileno(e->out));
	/* The line that failed, or the buffered lines it flushed, did not all get out. */
	e->lost++;
	return e->err;
}

int events_end(struct events *e)
{
	/*
	 * Checked after every line, right after the write that failed:
	 * errno is still the one write(2) left (stdio keeps only a flag).
	 */
	if (e->out && ferror(e->out))
		return e->err && !e->counts_own ? e->err : fail(e, e->err ? -e->err : errno);
	return e->err;
}

int events_flush(struct events *e)
{
	if (e->out && (!e->err || e->counts_own) && (fflush(e->out) || ferror(e->out)))
		return fail(e, e->err ? -e->err : errno);
	return e->err;
}

const char *events_dir_name(enum pkt_dir d)
{
	switch (d) {
	case PKT_DIR_IN:
		return "in";
	case PKT_DIR_OUT:
		return "out";
	default:
		return "fwd";
	}
}

size_t events_json_escape(char *buf, size_t size, const char *s)
{
	size_t n = 0;

	for (; *s; s++) {
		char tmp[8];
		unsigned char c = (unsigned char)*s;
		size_t k;

		if (c == '"' || c == '\\') {
			tmp[0] = '\\';
			tmp[1] = (char)c;
			k = 2;
		} else if (c < 0x20) {
			k = (size_t)snprintf(tmp, sizeof(tmp), "\\u%04x", c);
		} else {
			tmp[0] = (char)c;
			k = 1;
		}
		for (size_t i = 0; i < k; i++, n++)
			if (n + 1 < size)
				buf[n] = tmp[i];
	}
	if (size)
		buf[n < size ? n : size - 1] = 0;
	return n;
}

void events_actions(FILE *f, const struct act_decision *d)
{
	fprintf(f, ",\"actions\":[");
	for (unsigned i = 0; i < d->n_fired; i++) {
		const char *why = act_reason_name((enum act_reason)d->fired[i].reason);

		fprintf(f, "%s{\"rule\":%u,\"action\":\"%s\"", i ? "," : "", d->fired[i].rule,
			rule_action_name((enum rule_action_type)d->fired[i].action));
		if (why)
			fprintf(f, ",\"reason\":\"%s\"", why);
		fprintf(f, "}");
	}
	fprintf(f, "]");
}

static double rel(const struct events *e, uint64_t now_ns)
{
	return now_ns > e->start_ns ? (double)(now_ns - e->start_ns) / 1e9 : 0.0;
}

void events_verdict(struct events *e, uint64_t now_ns, const struct pkt_view *v, enum pkt_dir dir,
		    const struct flow_id *id, const struct act_decision *d)
{
	char flow[160];
	FILE *f = events_begin(e);

	if (!f)
		return;
	pkt_format_flow(v, flow, sizeof(flow));
	fprintf(f, "{\"t\":%.6f,\"ev\":\"verdict\",\"flow\":\"%s\",\"flow_hash\":\"%016llx\","
			"\"way\":%u,\"dir\":\"%s\",\"ord\":%llu,\"len\":%u,\"verdict\":\"%s\"",
		rel(e, now_ns), flow, (unsigned long long)id->hash, id->way, events_dir_name(dir),
		(unsigned long long)id->ordinal, pkt_wire_len(v),
		d->drop ? "drop" : d->reorder || d->delay_ns ? "hold" : "accept");
	if (d->delay_ns)
		fprintf(f, ",\"delay_us\":%.1f", (double)d->delay_ns / 1e3);
	if (d->copies)
		fprintf(f, ",\"copies\":%u", d->copies);
	if (d->corrupt)
		fprintf(f, ",\"corrupt\":true");
	if (d->reorder)
		fprintf(f, ",\"reorder_rule\":%u", d->reorder_rule);
	events_actions(f, d);
	fprintf(f, "}\n");
	events_end(e);
}

void events_malformed(struct events *e, uint64_t now_ns, uint32_t len)
{
	FILE *f = events_begin(e);

	if (!f)
		return;
	fprintf(f, "{\"t\":%.6f,\"ev\":\"malformed\",\"len\":%u,\"verdict\":\"accept\"}\n",
		rel(e, now_ns), len);
	events_end(e);
}

void events_write_raw(struct events *e, const char *json)
{
	FILE *f = events_begin(e);

	if (!f)
		return;
	fputs(json, f);
	fputc('\n', f);
	events_end(e);
}
