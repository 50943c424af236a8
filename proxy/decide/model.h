/* SPDX-License-Identifier: MIT */
/*
 * model: faultline's random models that remember, with netem's vocabulary:
 * correlated loss, the Gilbert-Elliott and 4-state loss models, correlated
 * delay, slotted delivery and a profile's rate queues. The transition rules
 * are pure functions of the state and of uniform draws the caller makes
 * (keyed by the packet, so seeded); this module keeps the state.
 *
 * State is kept per rule (struct model_rule, created by act for a rule that
 * needs it) and, for the loss and delay models, per flow direction inside
 * it, so a decision depends on the seed and on the flow's own packets only:
 * other flows interleaving do not change it. Pure: no clock, no socket.
 */
#ifndef FL_MODEL_H
#define FL_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "rng.h"
#include "rule.h"

/*
 * Flows (directions) one rule remembers: past it, a new flow takes the
 * place of one already known (counted), which then starts afresh, as the
 * flow table does with its ordinals under pressure.
 */
#define MODEL_MAX_FLOWS (1u << 18)

/* What one flow direction remembers for one rule. */
struct model_flow {
	uint8_t loss;		/* the loss model's state; 0: no packet yet */
	bool has_z;		/* z holds the last delay's normal deviate */
	double z;
	uint64_t pieces_until;	/* 'segment N gap D': when its next segment may start */
	uint64_t first_ns;	/* 'conn-after': when the rule first saw it; 0: not yet */
};

struct model_rule;

/* Empty state for one rule. NULL + errno. */
struct model_rule *model_rule_new(void);
void model_rule_free(struct model_rule *m);	/* NULL-safe */

/*
 * The state of flow direction (hash, way), zeroed the first time it is
 * seen (borrowed, valid until the next call). NULL when memory ran out.
 */
struct model_flow *model_rule_flow(struct model_rule *m, uint64_t hash, uint32_t way);
/* Flow directions forgotten to make room (MODEL_MAX_FLOWS). */
uint64_t model_rule_evictions(const struct model_rule *m);

/*
 * One step of the loss model of drop action a for one packet of a flow
 * direction whose state is *state: true if the packet is lost. u[0..3) are
 * independent uniform draws in [0,1) for this packet. A flow's first
 * packet starts from the model's stationary distribution, so every packet
 * is lost with the stationary rate. (RULE_LOSS_BERNOULLI: u[0] < P%.)
 */
bool model_loss(const struct rule_action *a, uint8_t *state, const double u[3]);

/*
 * The stationary loss rate of drop action a's model and its mean burst
 * length (consecutive losses), for the tests and the README's formulas.
 * *burst is 0 when the rate is 0 and INFINITY when bursts never end.
 */
void model_loss_figures(const struct rule_action *a, double *rate, double *burst);

/*
 * The next normal deviate of a correlated delay: the AR(1) process
 * z' = c z + sqrt(1 - c^2) e, e the fresh standard normal deviate, so
 * every z is standard normal and consecutive ones have correlation c.
 * Updates f.
 */
double model_delay_z(struct model_flow *f, double c, double e);

/*
 * Slotted delivery (action a, 'slot'): a packet ready at ready_ns with len
 * bytes leaves at the returned time, the first slot boundary at or after
 * it with room left; dir (0..2) keeps one schedule per packet direction.
 * The gap before slot k is drawn from rng with keys (key, dir, k).
 */
uint64_t model_slot(struct model_rule *m, unsigned dir, const struct rule_action *a,
		    uint64_t ready_ns, uint32_t len, const struct rng *rng, uint64_t key);

/*
 * A queue draining at bps bit/s holding at most limit packets, one per
 * packet direction dir (0..2): the packet of len bytes arriving at now
 * leaves after *wait ns. Returns 0, -ENOBUFS when the queue is full (drop
 * it) or -ENOMEM. limit must be the same at every call for one dir.
 */
int model_queue(struct model_rule *m, unsigned dir, uint64_t bps, uint32_t limit, uint32_t len,
		uint64_t now, uint64_t *wait);

#endif
