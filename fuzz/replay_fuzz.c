// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for `faultline replay`: the input is a capture file
 * (pcap or pcapng, any byte order, precision or link type) and goes through
 * replay_run() exactly as the CLI calls it, every output on: the rewritten
 * capture, the annotated pcapng and the events file. Seeds:
 * fuzz/corpus/replay/, dictionary fuzz/replay.dict.
 *
 * replay_run() takes a path and opens it twice (once to peek at the first
 * timestamp), so the bytes go into a memfd named by /proc/self/fd/N: the
 * replay code runs unchanged.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "msg.h"
#include "replay.h"
#include "rule.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                         \
	do {                                \
		if (!(cond))                \
			__builtin_trap();   \
	} while (0)

/* Every kind of action, so held, dropped, copied and rewritten packets all reach the writers. */
static const char *const rule_lines[] = {
	"tcp => drop 10%",
	"tcp => delay 3ms if retransmission",
	"tcp => duplicate 20%, if syn-ack",
	"=> reorder 3 timeout 5ms 30%",
	"udp => corrupt 50%",
	"udp or icmp or icmp6 => delay 1ms jitter 1ms 30%",
	"=> rate 10mbit limit 5",
};

struct state {
	int fd;
	char path[64];
	struct rule_set *rules;
	FILE *events;
	struct replay_local local;
};

static struct state *state_get(void)
{
	static struct state *s;
	struct rule_error e;

	if (s)
		return s;
	s = calloc(1, sizeof(*s));
	CHECK(s);
	s->fd = memfd_create("replay_fuzz", 0);
	CHECK(s->fd >= 0);
	snprintf(s->path, sizeof(s->path), "/proc/self/fd/%d", s->fd);
	s->rules = rule_set_new();
	CHECK(s->rules);
	for (size_t i = 0; i < sizeof(rule_lines) / sizeof(rule_lines[0]); i++)
		CHECK(rule_set_add_line(s->rules, rule_lines[i], "fuzz", (int)i + 1, &e) == 0);
	/* The events writer formats every field; where it goes does not matter. */
	s->events = fopen("/dev/null", "w");
	CHECK(s->events);
	CHECK(replay_parse_local("10.0.0.0/8", &s->local) == 0);
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct state *s = state_get();
	struct replay_config cfg = {
		.in_path = s->path,
		.out_path = "/dev/null",
		.pcap_path = "/dev/null",
		.seed = 1,
		.events = s->events,
		.locals = &s->local,
		.n_locals = 1,
		.time_wait_ns = 50000000,
		.max_held = 64,
	};
	struct replay_stats st;
	struct replay_error e;
	char err[512] = "", *json = NULL;
	int ret;

	CHECK(ftruncate(s->fd, 0) == 0);
	CHECK(pwrite(s->fd, data, size, 0) == (ssize_t)size);
	ret = replay_run(&cfg, s->rules, &st, &json, &e);
	if (ret)
		msg_replay(&e, &cfg, &st, err, sizeof(err));
	/* A bad or cut file is an error with a message, never a silent success. */
	if (ret)
		CHECK(ret < 0 && err[0]);
	CHECK(strnlen(err, sizeof(err)) < sizeof(err));
	CHECK(st.in_err == 0 || st.in_err == ret);
	/* /dev/null takes every write: nothing may be lost or failed on the way out. */
	CHECK(!st.out_err && !st.pcap_err && !st.events_err);
	CHECK(st.unwritten == 0);
	CHECK(st.skipped <= st.read);
	if (!ret)
		CHECK(json && json[0] == '{');
	free(json);
	return 0;
}
