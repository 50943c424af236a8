/* SPDX-License-Identifier: MIT */
/*
 * lock: a mutex for the two threads of one queue. The uncontended path is
 * one atomic instruction, inline: the reader thread takes it once per burst,
 * and after an idle spell pthread_mutex_lock() cost it a cold page of libc
 * code. Contended, it spins a little (about 1000 pauses) for a holder
 * that is about to let go, then sleeps in futex(2) (Drepper, "Futexes Are Tricky",
 * mutex 2: 0 free, 1 taken, 2 taken and maybe waited for).
 */
#ifndef FL_LOCK_H
#define FL_LOCK_H

#include <stdatomic.h>

struct lock {
	atomic_int state;
};

void lock__wait(struct lock *l, int seen);
void lock__wake(struct lock *l);

static inline void lock_take(struct lock *l)
{
	int c = 0;

	if (__builtin_expect(atomic_compare_exchange_strong_explicit(&l->state, &c, 1, memory_order_acquire,
								       memory_order_relaxed), 1))
		return;
	lock__wait(l, c);
}

static inline void lock_give(struct lock *l)
{
	if (__builtin_expect(atomic_exchange_explicit(&l->state, 0, memory_order_release) == 2, 0))
		lock__wake(l);
}

#endif
