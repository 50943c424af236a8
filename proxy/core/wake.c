// SPDX-License-Identifier: MIT
#include "wake.h"

void wake_init(struct wake *w, uint64_t early_ns, uint32_t share_ppm, uint64_t now)
{
	*w = (struct wake){
		.early_ns = early_ns,
		.share_ppm = share_ppm,
		.budget_ns = early_ns * WAKE_BUDGET_SPINS,
		.refilled_ns = now,
	};
}

/* Time passing earns share_ppm of itself in spin time, up to the cap. */
static void refill(struct wake *w, uint64_t now)
{
	uint64_t cap = w->early_ns * WAKE_BUDGET_SPINS, dt;

	if (now <= w->refilled_ns || !w->share_ppm)
		return;
	dt = now - w->refilled_ns;
	w->refilled_ns = now;
	/* Long enough to fill it: said without dt * share_ppm, which could overflow. */
	if (dt >= (cap / w->share_ppm + 1) * 1000000) {
		w->budget_ns = cap;
		return;
	}
	w->budget_ns += dt * w->share_ppm / 1000000;
	if (w->budget_ns > cap)
		w->budget_ns = cap;
}

uint64_t wake_arm_at(struct wake *w, uint64_t deadline, uint64_t now)
{
	if (!deadline || !w->early_ns)
		return deadline;
	if (deadline != w->cur_ns) {
		w->prev_ns = w->cur_ns;
		w->cur_ns = deadline;
	}
	/* A busy spell (WAKE_BUSY_GAP_NS): later deadlines than the last, close behind it. */
	if (w->prev_ns && deadline > w->prev_ns && deadline - w->prev_ns < WAKE_BUSY_GAP_NS)
		return deadline;
	refill(w, now);
	/*
	 * Only early when a whole spin is paid for: a partial budget would
	 * wake the thread early and then make it sleep again.
	 */
	if (w->budget_ns < w->early_ns || deadline <= w->early_ns)
		return deadline;
	return deadline - w->early_ns;
}

bool wake_should_spin(struct wake *w, uint64_t deadline, uint64_t now)
{
	if (!deadline || deadline <= now || !w->early_ns)
		return false;
	refill(w, now);
	return deadline - now <= w->early_ns && deadline - now <= w->budget_ns;
}

void wake_spent(struct wake *w, uint64_t ns)
{
	w->budget_ns = ns < w->budget_ns ? w->budget_ns - ns : 0;
	w->spun_ns += ns;
	w->spins++;
}
