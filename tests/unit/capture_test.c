// SPDX-License-Identifier: MIT
/*
 * capture against the real kernel, without traffic: each test binds a
 * queue in a network namespace of its own (Criterion runs every test in a
 * process of its own) and sends verdicts for ids the queue never held.
 * The kernel answers each with ENOENT, so counting the answers proves that
 * every verdict reached it. Needs root; skipped without.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "capture.h"

static struct capture *open_alone(uint32_t sndbuf)
{
	struct capture_config cfg = { .queue = 7, .sndbuf = sndbuf };
	struct capture *c;

	if (geteuid() != 0)
		cr_skip_test("needs root (a namespace and an NFQUEUE queue of its own)");
	if (unshare(CLONE_NEWNET))
		cr_skip_test("unshare(CLONE_NEWNET): %s", strerror(errno));
	c = capture_open(&cfg);
	cr_assert_not_null(c, "capture_open: %s", strerror(errno));
	return c;
}

static void no_packet(void *data, struct capture_pkt *p)
{
	(void)data;
	cr_assert_fail("a packet (id %u) in a namespace without traffic", p->id);
}

/* Read the kernel's answers until none is left; the refused count. */
static uint64_t answers(struct capture *c)
{
	struct capture_stats st;
	uint64_t before;

	do {
		capture_get_stats(c, &st);
		before = st.refused + st.config_errors;
		cr_assert_geq(capture_read(c, 1 << 20, no_packet, NULL), 0);
		capture_get_stats(c, &st);
	} while (st.refused + st.config_errors > before);
	cr_assert_eq(st.config_errors, 0);
	return st.refused;
}

static void queue_verdicts(struct capture *c, uint32_t n)
{
	for (uint32_t id = 1; id <= n; id++)
		cr_assert_eq(capture_verdict(c, id, CAPTURE_ACCEPT, NULL, 0), 0);
}

Test(capture, a_burst_larger_than_one_send_reaches_the_kernel_whole)
{
	/* A send buffer of 8 KiB carries about 250 verdicts: 20,000 take some 80 sends. */
	struct capture *c = open_alone(4096);
	struct capture_stats st;

	queue_verdicts(c, 20000);
	cr_assert_eq(capture_flush(c), 0);
	capture_get_stats(c, &st);
	cr_assert_eq(st.lost, 0);
	cr_assert_eq(st.verdicts, 20000);
	cr_assert_geq(st.sends, 20000 * 32 / 8192, "%llu sends", (unsigned long long)st.sends);
	cr_assert_eq(answers(c), 20000);
	capture_close(c);
}

Test(capture, default_send_buffer_carries_a_shutdown_burst)
{
	/* 100,000 verdicts, as a shutdown with that many held sends them. */
	struct capture *c = open_alone(0);
	struct capture_stats st;

	queue_verdicts(c, 100000);
	cr_assert_eq(capture_flush(c), 0);
	capture_get_stats(c, &st);
	cr_assert_eq(st.lost, 0);
	cr_assert_eq(answers(c), 100000);
	capture_close(c);
}

Test(capture, a_send_buffer_shrunk_after_open_splits_the_flush)
{
	struct capture *c = open_alone(0);
	struct capture_stats st;
	int small = 4096;

	queue_verdicts(c, 5000);
	/* 160,000 bytes queued for one send; now the socket takes 8 KiB at most (EMSGSIZE). */
	cr_assert_eq(setsockopt(capture_fd(c), SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	cr_assert_eq(capture_flush(c), 0);
	capture_get_stats(c, &st);
	cr_assert_eq(st.lost, 0);
	cr_assert_gt(st.sends, 1);
	cr_assert_eq(answers(c), 5000);
	/* What comes next is sized for the smaller buffer from the start. */
	queue_verdicts(c, 1000);
	cr_assert_eq(capture_flush(c), 0);
	cr_assert_eq(answers(c), 6000);
	capture_close(c);
}

Test(capture, a_verdict_no_send_can_carry_is_counted_lost)
{
	struct capture *c = open_alone(0);
	struct capture_stats st;
	static uint8_t payload[60000];
	int small = 4096;

	cr_assert_eq(capture_verdict(c, 1, CAPTURE_ACCEPT, NULL, 0), 0);
	cr_assert_eq(capture_verdict(c, 2, CAPTURE_ACCEPT, payload, sizeof(payload)), 0);
	cr_assert_eq(capture_verdict(c, 3, CAPTURE_ACCEPT, NULL, 0), 0);
	cr_assert_eq(setsockopt(capture_fd(c), SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	/* The two small ones still go; the large one alone cannot, and says so. */
	cr_assert_eq(capture_flush(c), -EMSGSIZE);
	capture_get_stats(c, &st);
	cr_assert_eq(st.lost, 1);
	cr_assert_eq(answers(c), 2);
	capture_close(c);
}

Test(capture, a_payload_larger_than_any_send_is_refused_when_queued)
{
	struct capture *c = open_alone(4096);
	struct capture_stats st;
	static uint8_t payload[20000];

	cr_assert_eq(capture_verdict(c, 1, CAPTURE_ACCEPT, payload, sizeof(payload)), -EMSGSIZE);
	capture_get_stats(c, &st);
	cr_assert_eq(st.verdicts, 0);
	cr_assert_eq(capture_flush(c), 0);
	capture_close(c);
}

Test(capture, batch_verdict_errors_count_as_refused)
{
	struct capture *c = open_alone(0);

	/* Nothing is queued: "accept up to 10" finds nothing and the kernel says ENOENT. */
	cr_assert_eq(capture_accept_upto(c, 10), 0);
	cr_assert_eq(capture_flush(c), 0);
	cr_assert_eq(answers(c), 1);
	capture_close(c);
}
