// SPDX-License-Identifier: MIT
#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lock.h"

/*
 * Spins before sleeping: the reader holds the lock for one burst, a few
 * microseconds at low rates, and a futex sleep costs the waiter a wake-up
 * (about 50 us on a VM). Releases that met the reader's burst at their
 * deadline (10 ms delays at 1,000 datagrams/s: deadlines and arrivals
 * coincide) left 31 us late at the median, 13-14 us with this (the event
 * log's release time minus decision time plus delay; --realtime).
 */
#define LOCK_SPINS 1000

static inline void relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

__thread int lock__tid_cache;

int lock__tid_slow(void)
{
	lock__tid_cache = (int)syscall(SYS_gettid);
	return lock__tid_cache;
}

void lock__wait(struct lock *l)
{
	int me = lock__tid();

	for (int i = 0; i < LOCK_SPINS; i++) {
		int c = atomic_load_explicit(&l->state, memory_order_relaxed);

		if (c == 0 && atomic_compare_exchange_strong_explicit(&l->state, &c, me, memory_order_acquire,
								      memory_order_relaxed))
			return;
		relax();
	}
	/*
	 * The kernel queues us by priority, lends it to the holder, and
	 * returns once the lock is ours (restarting itself after a signal).
	 */
	while (syscall(SYS_futex, &l->state, FUTEX_LOCK_PI_PRIVATE, 0, NULL, NULL, 0)) {
		int c = 0;

		if (errno == EAGAIN)	/* the holder is exiting: ask again */
			continue;
		/* No PI futexes here (ENOSYS): take it when it is free, yielding meanwhile. */
		while (!atomic_compare_exchange_weak_explicit(&l->state, &c, me, memory_order_acquire,
							      memory_order_relaxed)) {
			c = 0;
			sched_yield();
		}
		return;
	}
	/* The kernel handed the word over: this orders what the holder wrote before ours (and tells TSan). */
	(void)atomic_load_explicit(&l->state, memory_order_acquire);
}

void lock__wake(struct lock *l)
{
	/* A release for what we wrote under the lock (and for TSan), then the kernel hands it on. */
	atomic_fetch_add_explicit(&l->state, 0, memory_order_release);
	syscall(SYS_futex, &l->state, FUTEX_UNLOCK_PI_PRIVATE, 0, NULL, NULL, 0);
}
