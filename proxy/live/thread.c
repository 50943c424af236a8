// SPDX-License-Identifier: MIT
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "thread.h"

/* Create the thread with every signal blocked. */
static int start(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	int ret;

	/* The new thread inherits the mask in force when it is created. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(t, attr, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -ret;
}

/* pthread_create(t, policy at prio, fn, arg), never inheriting the creator's class. */
static int start_as(pthread_t *t, int policy, int prio, void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	struct sched_param sp = { .sched_priority = prio };
	int ret;

	ret = pthread_attr_init(&attr);
	if (ret)
		return -ret;
	pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
	pthread_attr_setschedpolicy(&attr, policy);
	pthread_attr_setschedparam(&attr, &sp);
	ret = start(t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return ret;
}

int thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
	/* A reader busy with a flood must not starve the host (nor softirq work in ksoftirqd) of a CPU. */
	return start_as(t, SCHED_OTHER, 0, fn, arg);
}

int thread_start_fifo(pthread_t *t, void *(*fn)(void *), void *arg, int prio)
{
	return start_as(t, SCHED_FIFO, prio, fn, arg);
}

/*
 * The kernel's struct sched_attr as of its first version (48 bytes,
 * SCHED_ATTR_SIZE_VER0): glibc before 2.41 has no sched_setattr, and
 * <linux/sched/types.h> clashes with glibc's struct sched_param.
 */
struct slice_attr {
	uint32_t size, sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime, sched_deadline, sched_period;
};

int thread_short_slice(uint64_t ns)
{
	/* For SCHED_OTHER, sched_runtime is the slice asked for. */
	struct slice_attr a = {
		.size = sizeof(a),
		.sched_policy = SCHED_OTHER,
		.sched_nice = getpriority(PRIO_PROCESS, 0),
		.sched_runtime = ns,
	};

	return syscall(SYS_sched_setattr, 0, &a, 0) ? -errno : 0;
}
