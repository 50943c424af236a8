// SPDX-License-Identifier: MIT
/*
 * lock: mutual exclusion under contention, and priority inheritance: a
 * SCHED_FIFO thread waiting for the lock lends its priority to the
 * thread that holds it (the kernel's PI futex), as /proc shows.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "lock.h"

#define ROUNDS 200000

struct shared {
	struct lock lock;
	long counter;		/* written only under the lock, not atomic */
	atomic_int holder_tid, state;	/* state: 1 holder has it, 2 waiter is about to wait, 3 let go */
};

static void *add_many(void *arg)
{
	struct shared *s = arg;

	for (int i = 0; i < ROUNDS; i++) {
		lock_take(&s->lock);
		s->counter++;
		lock_give(&s->lock);
	}
	return NULL;
}

Test(lock, excludes_under_contention)
{
	struct shared s = { 0 };
	pthread_t a, b;

	cr_assert_eq(pthread_create(&a, NULL, add_many, &s), 0);
	cr_assert_eq(pthread_create(&b, NULL, add_many, &s), 0);
	add_many(&s);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	cr_assert_eq(s.counter, 3L * ROUNDS);
	cr_assert_eq(atomic_load(&s.lock.state), 0, "the lock is left taken: %d", atomic_load(&s.lock.state));
}

static void *hold_until_told(void *arg)
{
	struct shared *s = arg;

	lock_take(&s->lock);
	atomic_store(&s->holder_tid, (int)syscall(SYS_gettid));
	atomic_store(&s->state, 1);
	while (atomic_load(&s->state) != 3)
		usleep(1000);
	lock_give(&s->lock);
	return NULL;
}

static void *wait_for_it(void *arg)
{
	struct shared *s = arg;

	atomic_store(&s->state, 2);
	lock_take(&s->lock);
	s->counter = 42;
	lock_give(&s->lock);
	return NULL;
}

/* The kernel's prio of a thread (stat field 18): 20 + nice for SCHED_OTHER, -1 - rt_priority for SCHED_FIFO or boosted. */
static int prio_of(int tid)
{
	char path[64], buf[1024], *p;
	FILE *f;
	int prio = 1000;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	f = fopen(path, "r");
	if (!f)
		return prio;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
		sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %d", &prio);
	fclose(f);
	return prio;
}

Test(lock, a_realtime_waiter_lends_its_priority_to_the_holder)
{
	struct shared s = { 0 };
	struct sched_param sp = { .sched_priority = 10 };
	pthread_attr_t attr;
	pthread_t holder, waiter;
	int before, during = 0;

	cr_assert_eq(pthread_create(&holder, NULL, hold_until_told, &s), 0);
	while (atomic_load(&s.state) != 1)
		usleep(1000);
	before = prio_of(atomic_load(&s.holder_tid));
	pthread_attr_init(&attr);
	pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
	pthread_attr_setschedpolicy(&attr, SCHED_FIFO);
	pthread_attr_setschedparam(&attr, &sp);
	if (pthread_create(&waiter, &attr, wait_for_it, &s)) {
		atomic_store(&s.state, 3);
		pthread_join(holder, NULL);
		cr_skip_test("no SCHED_FIFO here (needs CAP_SYS_NICE)");
	}
	/* The waiter spins a little, then sleeps in the kernel: the holder is boosted from then on. */
	for (int i = 0; i < 2000 && during != -11; i++) {
		usleep(1000);
		during = prio_of(atomic_load(&s.holder_tid));
	}
	atomic_store(&s.state, 3);
	pthread_join(holder, NULL);
	pthread_join(waiter, NULL);
	pthread_attr_destroy(&attr);
	cr_assert(before >= 0, "the holder is realtime before: prio %d", before);
	cr_assert_eq(during, -11, "the holder's prio while a SCHED_FIFO 10 thread waited: %d, not -11", during);
	cr_assert_eq(s.counter, 42);
	cr_assert_eq(atomic_load(&s.lock.state), 0);
}
