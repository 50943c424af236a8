/* SPDX-License-Identifier: MIT */
/*
 * lock: a mutex for the threads of one queue (its reader, the releasing
 * thread, the loop thread), with priority inheritance: the releasing
 * thread may run SCHED_FIFO, and when it waits for a reader that holds
 * the lock, the kernel runs that reader at the waiter's priority until it
 * lets go, so a reader preempted with the lock held (by a program busy on
 * its CPU) does not hold up a release for a whole scheduler tick. A PI
 * futex (futex(2), FUTEX_LOCK_PI): the word is 0 when free, else the
 * holder's thread id, with FUTEX_WAITERS set by the kernel when someone
 * sleeps on it. The uncontended path is one atomic instruction, inline:
 * the reader thread takes it once per burst, and after an idle spell
 * pthread_mutex_lock() cost it a cold page of libc code. Contended, it
 * spins a little (about 1000 pauses) for a holder that is about to let
 * go, then sleeps in the kernel.
 */
#ifndef FL_LOCK_H
#define FL_LOCK_H

#include <stdatomic.h>

struct lock {
	atomic_int state;
};

/* The calling thread's id, as the futex word holds it: read once per thread (lock__tid_slow). */
extern __thread int lock__tid_cache;
int lock__tid_slow(void);
void lock__wait(struct lock *l);
void lock__wake(struct lock *l);

static inline int lock__tid(void)
{
	int tid = lock__tid_cache;

	return __builtin_expect(tid != 0, 1) ? tid : lock__tid_slow();
}

static inline void lock_take(struct lock *l)
{
	int c = 0;

	if (__builtin_expect(atomic_compare_exchange_strong_explicit(&l->state, &c, lock__tid(),
								       memory_order_acquire, memory_order_relaxed), 1))
		return;
	lock__wait(l);
}

static inline void lock_give(struct lock *l)
{
	int c = lock__tid();

	if (__builtin_expect(atomic_compare_exchange_strong_explicit(&l->state, &c, 0, memory_order_release,
								       memory_order_relaxed), 1))
		return;
	lock__wake(l);
}

#endif
