// SPDX-License-Identifier: MIT
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lock.h"

void lock__wait(struct lock *l, int seen)
{
	int c = seen;

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
