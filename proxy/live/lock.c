// SPDX-License-Identifier: MIT
#include <linux/futex.h>
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

void lock__wait(struct lock *l, int seen)
{
	int c = seen;

	for (int i = 0; i < LOCK_SPINS && c == 1; i++) {
		relax();
		c = atomic_load_explicit(&l->state, memory_order_relaxed);
		if (c == 0) {
			if (atomic_compare_exchange_strong_explicit(&l->state, &c, 1, memory_order_acquire,
								    memory_order_relaxed))
				return;
		}
	}

	/* Say a waiter may sleep (2), then sleep until the holder lets go and wakes us. */
	if (c != 2)
		c = atomic_exchange_explicit(&l->state, 2, memory_order_acquire);
	while (c != 0) {
		syscall(SYS_futex, &l->state, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
		c = atomic_exchange_explicit(&l->state, 2, memory_order_acquire);
	}
}

void lock__wake(struct lock *l)
{
	syscall(SYS_futex, &l->state, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}
