/* SPDX-License-Identifier: MIT */
/*
 * wake: when to arm the release timer, and whether to spin the last
 * stretch to a deadline. A sleeping thread on this kind of VM wakes about
 * 50 us after its timerfd's deadline, whatever its timer slack or
 * scheduling class (measured: the guest's timer interrupt is late), so the
 * timer is armed early_ns before the deadline and the thread finishes
 * with a spin on the clock. Spinning costs CPU, so it draws on a budget
 * that refills at share_ppm of the time passing (parts per million), up
 * to early_ns * WAKE_BUDGET_SPINS; when the budget is out, the timer is
 * armed at the deadline itself. Everything is in nanoseconds of one
 * clock (CLOCK_MONOTONIC), never rounded to milliseconds.
 *
 * Pure: time is passed in. The struct is embedded in its owner; its fields
 * are private. No allocation, no failure.
 */
#ifndef FL_WAKE_H
#define FL_WAKE_H

#include <stdbool.h>
#include <stdint.h>

/* The budget holds this many full spins at most. */
#define WAKE_BUDGET_SPINS 32
/*
 * Deadlines closer together than this are a busy spell: the thread is
 * woken that often anyway, and a spin would only take the CPU that the
 * packets' own path needs (a SCHED_FIFO spin starved the sender's side
 * at 20,000 datagrams/s on 2 vCPUs). Then the timer is armed at the
 * deadline itself.
 */
#define WAKE_BUSY_GAP_NS 250000ull

struct wake {
	uint64_t early_ns;	/* how long before a deadline to wake; 0 = at it, never spin */
	uint32_t share_ppm;	/* refill rate of the spin budget */
	uint64_t budget_ns;	/* spin time left */
	uint64_t refilled_ns;	/* when the budget was last refilled */
	uint64_t spun_ns;	/* spin time used, in total */
	uint64_t spins;		/* spins done */
	uint64_t cur_ns, prev_ns;	/* the deadline armed for, and the one before it */
};

/* Start with a full budget at 'now'. early_ns 0 turns waking early off. */
void wake_init(struct wake *w, uint64_t early_ns, uint32_t share_ppm, uint64_t now);

/*
 * The absolute time to arm the timer for a deadline (0 = nothing held, 0
 * back): deadline - early_ns while the budget holds a full spin and the
 * deadline comes WAKE_BUSY_GAP_NS or more after the one armed for before
 * it, else the deadline. Never before 'now' by more than the spin it allows.
 */
uint64_t wake_arm_at(struct wake *w, uint64_t deadline, uint64_t now);

/*
 * Woken at 'now' with 'deadline' the earliest held: true when the caller
 * should spin on the clock until the deadline (it is in the future, no
 * further than early_ns, and the budget holds the wait), false when it is
 * due already or the timer must wait for it.
 */
bool wake_should_spin(struct wake *w, uint64_t deadline, uint64_t now);

/* Charge a spin that took ns to the budget. */
void wake_spent(struct wake *w, uint64_t ns);

#endif
