// SPDX-License-Identifier: MIT
/*
 * thread: a started thread has every signal blocked, and its creator's
 * mask is as it was.
 */
#include <criterion/criterion.h>
#include <signal.h>

#include "thread.h"

static void *blocked_mask(void *arg)
{
	sigset_t *m = arg;

	pthread_sigmask(SIG_SETMASK, NULL, m);
	return NULL;
}

Test(thread, new_thread_blocks_every_signal_and_caller_keeps_its_mask)
{
	sigset_t before, after, in_thread;
	pthread_t t;

	sigemptyset(&before);
	sigaddset(&before, SIGUSR2);
	pthread_sigmask(SIG_SETMASK, &before, NULL);
	sigemptyset(&in_thread);
	cr_assert_eq(thread_start(&t, blocked_mask, &in_thread), 0);
	cr_assert_eq(pthread_join(t, NULL), 0);
	/* SIGKILL and SIGSTOP cannot be blocked; every signal a run handles or may get is. */
	static const int sigs[] = { SIGINT, SIGTERM, SIGUSR1, SIGUSR2, SIGPIPE, SIGHUP, SIGCHLD, SIGALRM };

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		cr_assert(sigismember(&in_thread, sigs[i]) == 1, "signal %d not blocked in the thread", sigs[i]);
	pthread_sigmask(SIG_SETMASK, NULL, &after);
	cr_assert(sigismember(&after, SIGUSR2) == 1);
	cr_assert(sigismember(&after, SIGTERM) == 0);
	cr_assert(sigismember(&after, SIGPIPE) == 0);
}
