// SPDX-License-Identifier: MIT
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

#define PPM 1e6
#define MODEL_DIRS 3

struct flow_entry {
	uint64_t hash;
	uint32_t way1;		/* way + 1; 0: the entry is free */
	struct model_flow f;
};

/* The README's figure: 48 bytes a flow direction, 24 MiB at most a rule. */
_Static_assert(sizeof(struct flow_entry) == 48, "a flow direction's entry is 48 bytes");

/* One packet direction's slot schedule. */
struct slot_state {
	uint64_t at_ns;		/* the current slot's boundary; 0: none yet */
	uint64_t k;		/* slots opened: the key of the next gap's draw */
	int64_t packets_left, bytes_left;
};

struct queue_state {
	uint64_t next_free_ns;
	uint64_t *ring;		/* finish times of the packets still queued */
	uint32_t head, len, cap;
};

struct model_rule {
	struct flow_entry *tab;	/* open addressing, linear probing */
	uint32_t cap, used;	/* cap: a power of two, or 0 */
	uint64_t evictions;
	struct slot_state slot[MODEL_DIRS];
	struct queue_state queue[MODEL_DIRS];
};

struct model_rule *model_rule_new(void)
{
	return calloc(1, sizeof(struct model_rule));
}

void model_rule_free(struct model_rule *m)
{
	if (!m)
		return;
	for (unsigned d = 0; d < MODEL_DIRS; d++)
		free(m->queue[d].ring);
	free(m->tab);
	free(m);
}

uint64_t model_rule_evictions(const struct model_rule *m)
{
	return m ? m->evictions : 0;
}

/* ---- per flow direction ------------------------------------------------ */

/* The flow hash is already a good hash; the way only picks its neighbour. */
static uint32_t home(uint64_t hash, uint32_t way, uint32_t cap)
{
	return (uint32_t)(hash ^ ((uint64_t)way * 0x9e3779b97f4a7c15ull)) & (cap - 1);
}

static struct flow_entry *probe(struct flow_entry *tab, uint32_t cap, uint64_t hash, uint32_t way)
{
	for (uint32_t i = home(hash, way, cap);; i = (i + 1) & (cap - 1))
		if (!tab[i].way1 || (tab[i].hash == hash && tab[i].way1 == way + 1))
			return &tab[i];
}

static int grow(struct model_rule *m)
{
	uint32_t cap = m->cap ? m->cap * 2 : 64;
	struct flow_entry *tab = calloc(cap, sizeof(*tab));

	if (!tab)
		return -ENOMEM;
	for (uint32_t i = 0; i < m->cap; i++)
		if (m->tab[i].way1)
			*probe(tab, cap, m->tab[i].hash, m->tab[i].way1 - 1) = m->tab[i];
	free(m->tab);
	m->tab = tab;
	m->cap = cap;
	return 0;
}

struct model_flow *model_rule_flow(struct model_rule *m, uint64_t hash, uint32_t way)
{
	struct flow_entry *e;

	/* At most half full, so a probe always ends at a free entry. */
	if (m->used >= m->cap / 2 && m->cap < 2 * MODEL_MAX_FLOWS && grow(m) < 0)
		return NULL;
	e = probe(m->tab, m->cap, hash, way);
	if (e->way1)
		return &e->f;
	if (m->used >= MODEL_MAX_FLOWS) {
		/*
		 * Full: every flow starts afresh. Rare (a quarter million
		 * flow directions through one rule), simple, and it keeps
		 * the table's probe runs whole.
		 */
		m->evictions += m->used;
		memset(m->tab, 0, (size_t)m->cap * sizeof(*m->tab));
		m->used = 0;
		e = probe(m->tab, m->cap, hash, way);
	}
	m->used++;
	e->hash = hash;
	e->way1 = way + 1;
	memset(&e->f, 0, sizeof(e->f));
	return &e->f;
}

/* ---- loss models --------------------------------------------------------- */

/* Correlated loss: states 1 (last kept) and 2 (last lost). */
enum { CORR_KEPT = 1, CORR_LOST = 2 };
/* Gilbert-Elliott. */
enum { GE_GOOD = 1, GE_BAD = 2 };

static double pr(uint32_t ppm)
{
	return (double)ppm / PPM;
}

/*
 * The 4-state model's limiting distribution from state 1, where netem
 * starts (pi[1..4]), for each case of which transitions exist.
 */
static void gi_stationary(const uint32_t *param, double pi[5])
{
	double p13 = pr(param[0]), p31 = pr(param[1]), p32 = pr(param[2]);
	double p23 = pr(param[3]), p14 = pr(param[4]), sum = 0;

	memset(pi, 0, 5 * sizeof(*pi));
	if (p13 == 0) {
		/* Never a burst: 1, and an isolated loss (4) now and then. */
		pi[1] = 1;
		pi[4] = p14;
	} else if (p31 == 0) {
		/* Once in a burst, never out of it: only 2 and 3 remain. */
		pi[2] = p32;
		pi[3] = p23;
		if (p23 == 0 && p32 == 0)
			pi[3] = 1;
	} else if (p23 == 0 && p32 > 0) {
		pi[2] = 1;	/* state 2 never leaves */
	} else {
		/* Balance: pi1 p13 = pi3 p31, pi2 p23 = pi3 p32, pi4 = pi1 p14. */
		pi[1] = 1;
		pi[3] = p13 / p31;
		pi[2] = p23 > 0 ? pi[3] * p32 / p23 : 0;
		pi[4] = p14;
	}
	for (int i = 1; i <= 4; i++)
		sum += pi[i];
	for (int i = 1; i <= 4; i++)
		pi[i] /= sum;
}

/* netem's transitions (sch_netem.c, loss_4state), from state s by draw u. */
static uint8_t gi_next(const uint32_t *param, uint8_t s, double u)
{
	double p13 = pr(param[0]), p31 = pr(param[1]), p32 = pr(param[2]);
	double p23 = pr(param[3]), p14 = pr(param[4]);

	switch (s) {
	case 1:
		return u < p14 ? 4 : u < p14 + p13 ? 3 : 1;
	case 2:
		return u < p23 ? 3 : 2;
	case 3:
		return u < p32 ? 2 : u < p32 + p31 ? 1 : 3;
	default:
		return 1;
	}
}

static uint8_t pick(const double *pi, int n, double u)
{
	double acc = 0;

	for (int i = 1; i < n; i++) {
		acc += pi[i];
		if (u < acc)
			return (uint8_t)i;
	}
	return (uint8_t)n;
}

static double ge_bad_share(const uint32_t *param)
{
	double p = pr(param[0]), r = pr(param[1]);

	return p + r > 0 ? p / (p + r) : 0;
}

static bool ge_loss(const uint32_t *param, uint8_t *state, const double u[3])
{
	bool lost;

	if (!*state)
		*state = u[2] < ge_bad_share(param) ? GE_BAD : GE_GOOD;
	/*
	 * As netem: the state the packet finds decides its fate (1-h in
	 * the bad state, 1-k in the good one), then the chain moves on.
	 */
	if (*state == GE_GOOD) {
		lost = u[0] < pr(param[3]);
		if (u[1] < pr(param[0]))
			*state = GE_BAD;
	} else {
		lost = u[0] < pr(param[2]);
		if (u[1] < pr(param[1]))
			*state = GE_GOOD;
	}
	return lost;
}

bool model_loss(const struct rule_action *a, uint8_t *state, const double u[3])
{
	const uint32_t *param = a->u.drop.param;
	double pi[5], p, c, loss;

	switch (a->u.drop.model) {
	case RULE_LOSS_CORRELATED:
		/*
		 * A two-state chain whose stationary loss rate is P and whose
		 * lag-1 correlation is C: lost after a loss with P + C(1-P),
		 * after a kept packet with P(1-C); a flow's first packet P.
		 */
		p = pr(param[0]);
		c = pr(param[1]);
		loss = *state == CORR_LOST ? p + c * (1 - p) : *state == CORR_KEPT ? p * (1 - c) : p;
		*state = u[0] < loss ? CORR_LOST : CORR_KEPT;
		return *state == CORR_LOST;
	case RULE_LOSS_GEMODEL:
		return ge_loss(param, state, u);
	case RULE_LOSS_STATE:
		/* The first packet finds the state the chain has reached by then. */
		if (!*state) {
			gi_stationary(param, pi);
			*state = pick(pi, 4, u[2]);
		}
		/* As netem: the packet is lost when the chain enters 3 or 4. */
		*state = gi_next(param, *state, u[0]);
		return *state >= 3;
	default:
		return u[0] < pr(a->prob_ppm);
	}
}

void model_loss_figures(const struct rule_action *a, double *rate, double *burst)
{
	const uint32_t *param = a->u.drop.param;
	double pi[5], ends, p, c, b, lg, lb, pgb, pbg;

	switch (a->u.drop.model) {
	case RULE_LOSS_CORRELATED:
		p = pr(param[0]);
		c = pr(param[1]);
		*rate = p;
		ends = (1 - p) * (1 - c);	/* a loss followed by a kept packet, given a loss */
		*burst = p == 0 ? 0 : ends > 0 ? 1 / ends : INFINITY;
		return;
	case RULE_LOSS_GEMODEL:
		b = ge_bad_share(param);
		pgb = pr(param[0]);
		pbg = pr(param[1]);
		lb = pr(param[2]);
		lg = pr(param[3]);
		*rate = (1 - b) * lg + b * lb;
		/* P(lost, next kept): the loss and the move are independent draws. */
		ends = (1 - b) * lg * ((1 - pgb) * (1 - lg) + pgb * (1 - lb)) +
		       b * lb * (pbg * (1 - lg) + (1 - pbg) * (1 - lb));
		break;
	case RULE_LOSS_STATE:
		gi_stationary(param, pi);
		*rate = pi[3] + pi[4];
		ends = pi[3] * (pr(param[1]) + pr(param[2])) + pi[4];
		break;
	default:
		*rate = pr(a->prob_ppm);
		ends = *rate * (1 - *rate);
	}
	*burst = *rate == 0 ? 0 : ends > 0 ? *rate / ends : INFINITY;
}

/* ---- delay --------------------------------------------------------------- */

double model_delay_z(struct model_flow *f, double c, double e)
{
	f->z = f->has_z ? c * f->z + sqrt(1 - c * c) * e : e;
	f->has_z = true;
	return f->z;
}

/* ---- slots ------------------------------------------------------------- */

static void slot_open(struct slot_state *s, const struct rule_action *a, uint64_t from,
		      const struct rng *rng, uint64_t key, unsigned dir)
{
	uint64_t span = a->u.slot.max_ns - a->u.slot.min_ns;
	double u = rng_unit(rng, key, dir, s->k++);

	/* netem: min + a uniform part of max - min, drawn anew for each slot. */
	s->at_ns = from + a->u.slot.min_ns + (uint64_t)(u * (double)span);
	s->packets_left = a->u.slot.packets;
	s->bytes_left = (int64_t)a->u.slot.bytes;
}

uint64_t model_slot(struct model_rule *m, unsigned dir, const struct rule_action *a,
		    uint64_t ready_ns, uint32_t len, const struct rng *rng, uint64_t key)
{
	struct slot_state *s = &m->slot[dir % MODEL_DIRS];
	uint64_t at;

	/*
	 * A slot that opened before the packet was ready has gone (netem
	 * reschedules it from now when its head packet is later than it):
	 * the packet waits for a new one.
	 */
	if (!s->at_ns || s->at_ns < ready_ns)
		slot_open(s, a, ready_ns, rng, key, dir);
	at = s->at_ns;
	s->packets_left--;
	s->bytes_left -= len;
	/*
	 * As netem, a packet goes in a slot that has any room left, even if
	 * its bytes overrun it; the next packet waits for the next slot.
	 */
	if ((a->u.slot.packets && s->packets_left <= 0) || (a->u.slot.bytes && s->bytes_left <= 0))
		slot_open(s, a, at, rng, key, dir);
	return at;
}

/* ---- queues ------------------------------------------------------------ */

int model_queue(struct model_rule *m, unsigned dir, uint64_t bps, uint32_t limit, uint32_t len,
		uint64_t now, uint64_t *wait)
{
	struct queue_state *q = &m->queue[dir % MODEL_DIRS];
	uint64_t tx = (uint64_t)((double)len * 8.0 * 1e9 / (double)(bps ? bps : 1));
	uint64_t start;

	if (!q->ring) {
		q->cap = limit ? limit : 1;
		q->ring = calloc(q->cap, sizeof(*q->ring));
		if (!q->ring)
			return -ENOMEM;
	}
	while (q->len && q->ring[q->head] <= now) {
		q->head = (q->head + 1) % q->cap;
		q->len--;
	}
	if (q->len >= q->cap)
		return -ENOBUFS;
	start = q->next_free_ns > now ? q->next_free_ns : now;
	q->next_free_ns = start + tx;
	q->ring[(q->head + q->len) % q->cap] = q->next_free_ns;
	q->len++;
	*wait = q->next_free_ns - now;
	return 0;
}
