// SPDX-License-Identifier: MIT
#include <signal.h>

#include "thread.h"

int thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	struct sched_param none = { .sched_priority = 0 };
	sigset_t all, old;
	int ret;

	/*
	 * The loop thread may run SCHED_FIFO (--realtime) for its releases;
	 * the helpers do not inherit that: a reader busy with a flood must
	 * not starve the host (nor softirq work in ksoftirqd) of a CPU.
	 */
	ret = pthread_attr_init(&attr);
	if (ret)
		return -ret;
	pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
	pthread_attr_setschedpolicy(&attr, SCHED_OTHER);
	pthread_attr_setschedparam(&attr, &none);

	/* The new thread inherits the mask in force when it is created. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(t, &attr, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	return -ret;
}
