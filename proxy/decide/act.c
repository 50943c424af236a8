// SPDX-License-Identifier: MIT
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

#include "act.h"
#include "hot.h"
#include "model.h"
#include "profile.h"
#include "tcpstate.h"

/* A profile's rate queues hold as many packets as 'rate' does by default. */
#define PROFILE_QUEUE_LIMIT 1000

/* Per-rule runtime state of one queue. */
struct rule_state {
	struct act_counters cnt;
	uint64_t since_ns;	/* its 'after'/'for' count from here: the run's start, or its set's */
	uint64_t seen;		/* packets that passed filter and qualifiers but 'every' */
	uint64_t fired;		/* packets the rule fired on */
	/* rate: finish times of the packets still queued, a ring of 'limit'. */
	uint64_t next_free_ns;
	uint64_t *ring;
	uint32_t ring_head, ring_len, ring_cap;
	struct model_rule *model;	/* the models' state, made on first use; owned */
	/*
	 * Rules with the same filter run it once per packet: twin is the
	 * first rule of the set with this rule's filter (NO_TWIN: no other
	 * rule has it), and that rule's fgen/fmatch hold the result for
	 * decision number fgen.
	 */
	uint32_t twin;
	bool fmatch;
	uint64_t fgen;
};

#define NO_TWIN UINT32_MAX

/*
 * What the decision loop reads of every candidate first, packed in rule
 * order: a rule whose window is shut, or that watches the other way, is
 * passed over without a look at its rule or its state. With 50 rules
 * those are 100 cache lines per packet, and the kernel's work on the
 * packet between two decisions (a verdict reinjects it on this thread)
 * pushes them out of L1 every time.
 */
struct rule_hot {
	const struct rule *r;
	/*
	 * window_holds() as times: the window is [open_ns, close_ns) of
	 * now; before open_ns (so also before since_ns, which the elapsed
	 * time does not go below) it holds only without 'after'.
	 */
	uint64_t open_ns, close_ns;
	uint8_t dir_mask;
	bool from_start;
};

struct act_ctx {
	const struct rule_set *rs;
	uint32_t gen;		/* rule sets seen: tells their memos apart */
	struct rule_memo_plan plan[RULE_MEMO_NCLASS];
	/* Rules 16 to 255: their plans, and the table (NULL while the set has 16 or fewer). */
	struct rule_memo_wide wide_plan[RULE_MEMO_NCLASS];
	struct rule_memo_table *wide;
	struct rng rng;
	struct rule_state *st;
	struct rule_hot *hot;	/* n, one per rule of st */
	size_t n;
	uint64_t dgen;		/* decisions made: dates the shared filters' results */
	bool scan_all;		/* the reference: every rule's own filter, then its window */
};

static void states_free(struct rule_state *st, size_t n)
{
	for (size_t i = 0; st && i < n; i++) {
		free(st[i].ring);
		model_rule_free(st[i].model);
	}
	free(st);
}

static struct rule_state *states_new(const struct rule_set *rs, uint64_t now_ns, size_t *n_out)
{
	size_t n = rule_set_count(rs);
	struct rule_state *st = calloc(n ? n : 1, sizeof(*st));

	if (!st)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const struct rule *r = rule_set_get(rs, i);

		st[i].since_ns = now_ns;
		for (unsigned a = 0; a < r->n_actions; a++) {
			if (r->actions[a].type != RULE_ACT_RATE)
				continue;
			st[i].ring_cap = r->actions[a].u.rate.limit ? r->actions[a].u.rate.limit : 1;
			st[i].ring = calloc(st[i].ring_cap, sizeof(uint64_t));
			if (!st[i].ring) {
				states_free(st, n);
				return NULL;
			}
		}
	}
	*n_out = n;
	return st;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* hot[i] for each rule i of rs, from its state st[i] (its since_ns set). */
static void hot_fill(struct rule_hot *hot, const struct rule_set *rs, const struct rule_state *st,
		     size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct rule *r = rule_set_get(rs, i);

		hot[i].r = r;
		hot[i].open_ns = add_sat(st[i].since_ns, r->after_ns);
		hot[i].close_ns = r->for_ns ? add_sat(hot[i].open_ns, r->for_ns) : UINT64_MAX;
		hot[i].dir_mask = r->dir_mask;
		hot[i].from_start = !r->after_ns;
	}
}

/*
 * Which filters of the rule set a connection's memo can answer for. Each
 * rule set gets tags of its own, so a memo filled under the last one is
 * never taken for this one's.
 */
static void plan_memos(struct act_ctx *c)
{
	_Static_assert(RULE_MEMO_NCLASS <= 8, "the class takes bits 2-4 of a tag");
	/* Tags never 0 (an empty memo): past 2^27 rule sets, gen starts again at 1. */
	if (!(++c->gen << 5))
		c->gen = 1;
	for (int cls = 0; cls < RULE_MEMO_NCLASS; cls++) {
		rule_memo_plan(c->rs, cls, &c->plan[cls]);
		c->plan[cls].tag = c->gen << 5 | (uint32_t)cls << 2;
		if (c->wide) {
			const struct rule_memo_wide *made = rule_set_wide_plans(c->rs);

			if (made)
				c->wide_plan[cls] = made[cls];
			else
				rule_memo_wide_plan(c->rs, cls, &c->wide_plan[cls]);
			c->wide_plan[cls].tag = c->plan[cls].tag;
		} else {
			memset(&c->wide_plan[cls], 0, sizeof(c->wide_plan[cls]));
		}
	}
}

/* A set of more than 16 rules has a wide memo: made before anything is committed. */
static int wide_table_for(struct act_ctx *c, size_t n)
{
	if (n > RULE_MEMO_MAX_RULES && !c->wide && !(c->wide = rule_memo_table_new()))
		return -ENOMEM;
	return 0;
}

/*
 * Each rule's twin: the first rule whose filter compiles from the same
 * expression, so the same program. Generated rule files repeat a filter
 * with other qualifiers (a scenario's phases, one action per window);
 * those rules then share one run per packet. A hash table of the
 * expressions, not a comparison of every pair: a set of 10,000 rules is
 * planned again at every reload.
 */
static int plan_twins(const struct rule_set *rs, struct rule_state *st, size_t n)
{
	size_t cap = 16;
	uint32_t *slot;

	while (cap < 2 * n)
		cap <<= 1;
	slot = calloc(cap, sizeof(*slot));
	if (!slot)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct rule *r = rule_set_get(rs, i);
		const char *e = rule_filter_source(r);
		uint64_t h = 1469598103934665603ull;

		st[i].twin = NO_TWIN;
		if (!r->filter)
			continue;
		for (const char *p = e; *p; p++)
			h = (h ^ (uint8_t)*p) * 1099511628211ull;
		for (size_t k = h & (cap - 1);; k = (k + 1) & (cap - 1)) {
			if (!slot[k]) {
				slot[k] = (uint32_t)i + 1;
				break;
			}
			if (!strcmp(rule_filter_source(rule_set_get(rs, slot[k] - 1)), e)) {
				st[i].twin = st[slot[k] - 1].twin = slot[k] - 1;
				break;
			}
		}
	}
	free(slot);
	return 0;
}

/*
 * Whether rule ri's filter matches the packet: run once per packet for a
 * filter rules share, but by every rule for itself in the reference
 * (scan_all).
 */
FL_HOT static bool filter_matches(struct act_ctx *c, unsigned ri, const struct rule *r,
				  const struct act_input *in)
{
	struct rule_state *t;

	if (c->st[ri].twin == NO_TWIN || c->scan_all)
		return rule_filter_match(r, in->v);
	t = &c->st[c->st[ri].twin];
	if (t->fgen != c->dgen) {
		t->fgen = c->dgen;
		t->fmatch = rule_filter_match(r, in->v);
	}
	return t->fmatch;
}

struct act_ctx *act_ctx_new(const struct rule_set *rs, uint64_t seed, uint64_t now_ns)
{
	struct act_ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->rs = rs;
	c->rng.seed = seed;
	c->st = states_new(rs, now_ns, &c->n);
	if (!c->st || plan_twins(rs, c->st, c->n) || wide_table_for(c, c->n) ||
	    !(c->hot = calloc(c->n ? c->n : 1, sizeof(*c->hot)))) {
		act_ctx_free(c);
		return NULL;
	}
	hot_fill(c->hot, rs, c->st, c->n);
	plan_memos(c);
	return c;
}

void act_ctx_free(struct act_ctx *c)
{
	if (!c)
		return;
	states_free(c->st, c->n);
	free(c->hot);
	rule_memo_table_free(c->wide);
	free(c);
}

/* The old rule r was rate limited as the new one is: its queue (finish times) carries over. */
static void carry_rate(struct rule_state *to, const struct rule_state *from)
{
	uint32_t skip;

	if (!to->ring || !from->ring)
		return;
	to->next_free_ns = from->next_free_ns;
	/* A smaller limit keeps the latest finish times: the queue's tail. */
	skip = from->ring_len > to->ring_cap ? from->ring_len - to->ring_cap : 0;
	for (uint32_t k = skip; k < from->ring_len; k++)
		to->ring[to->ring_len++] = from->ring[(from->ring_head + k) % from->ring_cap];
}

/*
 * The state of old rule o goes to new rule r (st) when r has o's name, and
 * for an automatic name (rule-N, from a position) only when the rule is the
 * same too: a line inserted above unnamed rules shifts their names, and
 * their counters must not follow the position to another rule.
 */
static void carry_over(const struct act_ctx *c, const struct rule_set *rs, struct rule_state *st,
		       int *map)
{
	for (size_t i = 0; i < c->n; i++) {
		const struct rule *o = rule_set_get(c->rs, i);
		int j = rule_set_find(rs, o->name);
		const struct rule *r = j >= 0 ? rule_set_get(rs, (size_t)j) : NULL;

		if (map)
			map[i] = -1;
		if (!r || r->named != o->named || (!r->named && !rule_equal(r, o)))
			continue;
		st[j].cnt = c->st[i].cnt;
		st[j].since_ns = c->st[i].since_ns;
		st[j].seen = c->st[i].seen;
		st[j].fired = c->st[i].fired;
		carry_rate(&st[j], &c->st[i]);
		/* The models' state (loss chains, slots) goes on only with the very same rule. */
		if (rule_equal(r, o)) {
			st[j].model = c->st[i].model;
			c->st[i].model = NULL;
		}
		if (map)
			map[i] = j;
	}
}

static int swap(struct act_ctx *c, const struct rule_set *rs, uint64_t now_ns, int *map, bool carry)
{
	size_t n;
	struct rule_state *st = states_new(rs, now_ns, &n);
	struct rule_hot *hot;

	if (!st)
		return -ENOMEM;
	/* A table made here and then not needed is harmless: the plans say whether to ask it. */
	if (plan_twins(rs, st, n) || wide_table_for(c, n) ||
	    !(hot = calloc(n ? n : 1, sizeof(*hot)))) {
		states_free(st, n);
		return -ENOMEM;
	}
	if (carry)
		carry_over(c, rs, st, map);
	else
		for (size_t i = 0; map && i < c->n; i++)
			map[i] = -1;
	states_free(c->st, c->n);
	c->st = st;
	/* After carry_over(): a rule's window goes on counting from its old since_ns. */
	hot_fill(hot, rs, st, n);
	free(c->hot);
	c->hot = hot;
	c->n = n;
	c->rs = rs;
	plan_memos(c);
	return 0;
}

int act_ctx_swap(struct act_ctx *c, const struct rule_set *rs, uint64_t now_ns, int *map)
{
	return swap(c, rs, now_ns, map, true);
}

int act_ctx_reset(struct act_ctx *c, const struct rule_set *rs, uint64_t now_ns, int *map)
{
	return swap(c, rs, now_ns, map, false);
}

void act_ctx_scan_all(struct act_ctx *c, bool all)
{
	c->scan_all = all;
}

const struct rng *act_ctx_rng(const struct act_ctx *c)
{
	return &c->rng;
}

const struct act_counters *act_ctx_counters(const struct act_ctx *c, unsigned i)
{
	return i < c->n ? &c->st[i].cnt : NULL;
}

void act_note_corrupted(struct act_ctx *c, uint32_t rule)
{
	if (rule < c->n)
		c->st[rule].cnt.acted[RULE_ACT_CORRUPT]++;
}

const char *act_reason_name(enum act_reason r)
{
	return r == ACT_REASON_QUEUE_FULL ? "queue-full" : NULL;
}

void act_note_released_early(struct act_ctx *c, int rule)
{
	if (rule >= 0 && (size_t)rule < c->n)
		c->st[rule].cnt.released_early++;
}

static bool cond_holds(const struct rule_cond *k, const struct act_input *in)
{
	const struct pkt_view *v = in->v;
	bool tcp = v->has_l4 && v->l4proto == 6;
	uint8_t f = v->tcp_flags;
	bool r;

	switch (k->type) {
	case RULE_COND_SYN:
		r = tcp && (f & PKT_TCP_SYN) && !(f & PKT_TCP_ACK);
		break;
	case RULE_COND_SYN_ACK:
		r = tcp && (f & PKT_TCP_SYN) && (f & PKT_TCP_ACK);
		break;
	case RULE_COND_FIN:
		r = tcp && (f & PKT_TCP_FIN);
		break;
	case RULE_COND_RST:
		r = tcp && (f & PKT_TCP_RST);
		break;
	case RULE_COND_ACK_ONLY:
		r = tcp && (f & PKT_TCP_ACK) && !(f & (PKT_TCP_SYN | PKT_TCP_FIN | PKT_TCP_RST)) &&
		    v->payload_len == 0;
		break;
	case RULE_COND_DATA:
		r = v->has_l4 && v->payload_len > 0;
		break;
	/*
	 * 'state S' reads the endpoint the segment goes to, the one it
	 * "arrives in": the final ACK of a teardown is the segment that
	 * arrives in LAST_ACK. 'peer-state S' reads the sender.
	 */
	case RULE_COND_STATE:
		r = in->tcp && in->tcp->receiver_state == k->state;
		break;
	case RULE_COND_PEER_STATE:
		r = in->tcp && in->tcp->sender_state == k->state;
		break;
	case RULE_COND_FIRST_DATA:
		r = in->tcp && in->tcp->first_data;
		break;
	case RULE_COND_RETRANSMISSION:
		r = in->tcp && in->tcp->retransmission;
		break;
	case RULE_COND_OUT_OF_ORDER:
		r = in->tcp && in->tcp->out_of_order;
		break;
	case RULE_COND_DUP_ACK:
		r = in->tcp && in->tcp->dup_ack;
		break;
	case RULE_COND_STALE:
		r = in->tcp && in->tcp->stale;
		break;
	default:
		r = false;
	}
	return k->negate ? !r : r;
}

/* Keys of one random draw: the packet's identity, then which rule/action asks. */
static uint64_t pkt_key(const struct act_input *in)
{
	return ((uint64_t)in->id.way << 63) ^ in->id.ordinal;
}

static uint64_t purpose(unsigned rule, unsigned action, unsigned what)
{
	return ((uint64_t)rule << 24) | ((uint64_t)action << 8) | what;
}

/*
 * A standard normal deviate z turned into jitter units of distribution
 * dist, through the uniform u = Phi(z) it stands for: so the correlated
 * deviates of 'correlation' keep every distribution's shape, and
 * paretonormal mixes netem's way, a quarter normal and three quarters
 * pareto of one draw (iproute2 netem/paretonormal.c).
 */
static double from_normal(enum rule_dist dist, double z)
{
	double upper = 0.5 * erfc(z / M_SQRT2);	/* 1 - Phi(z), exact in the tail */
	double pareto = pow(upper > 0x1p-53 ? upper : 0x1p-53, -1.0 / 3.0) - 1.5;

	switch (dist) {
	case RULE_DIST_NORMAL:
		return z;
	case RULE_DIST_PARETO:
		return pareto;
	case RULE_DIST_PARETONORMAL:
		return 0.25 * z + 0.75 * pareto;
	default:
		return 1.0 - 2.0 * upper;
	}
}

/* The flow direction's model state for this rule, or NULL without memory. */
static struct model_flow *flow_state(struct rule_state *s, const struct act_input *in)
{
	if (!s->model && !(s->model = model_rule_new()))
		return NULL;
	return model_rule_flow(s->model, in->id.hash, in->id.way);
}

static uint64_t jittered(const struct act_ctx *c, struct rule_state *s, const struct act_input *in,
			 unsigned ri, unsigned ai, const struct rule_action *a)
{
	double d = (double)a->u.delay.delay_ns, j = (double)a->u.delay.jitter_ns, x, z;
	uint64_t k = purpose(ri, ai, 2);
	struct model_flow *f;

	if (!a->u.delay.jitter_ns)
		return a->u.delay.delay_ns;
	if (a->u.delay.corr_ppm || a->u.delay.dist == RULE_DIST_PARETONORMAL) {
		/*
		 * Correlation chains the normal deviates of a flow direction
		 * (an AR(1) process), so each delay keeps the distribution
		 * and consecutive ones are correlated.
		 */
		z = rng_normal(&c->rng, in->id.hash, pkt_key(in), k);
		if (a->u.delay.corr_ppm && (f = flow_state(s, in)))
			z = model_delay_z(f, (double)a->u.delay.corr_ppm / 1e6, z);
		x = d + j * from_normal(a->u.delay.dist, z);
		return x > 0 ? (uint64_t)x : 0;
	}
	/* Without correlation, the draws of the first seeds stay as they were. */
	switch (a->u.delay.dist) {
	case RULE_DIST_NORMAL:
		x = d + j * rng_normal(&c->rng, in->id.hash, pkt_key(in), k);
		break;
	case RULE_DIST_PARETO:
		/*
		 * Pareto with shape 3 and scale 1 has mean 1.5: centre it so the
		 * mean stays at D and the tail is long on the late side.
		 */
		x = d + j * (pow(1.0 - rng_unit(&c->rng, in->id.hash, pkt_key(in), k), -1.0 / 3.0) - 1.5);
		break;
	default:
		x = d + j * (2.0 * rng_unit(&c->rng, in->id.hash, pkt_key(in), k) - 1.0);
	}
	return x > 0 ? (uint64_t)x : 0;
}

/*
 * rate: a queue that drains at R bit/s. The packet leaves when everything
 * before it has gone and its own bytes have; past 'limit' waiting packets it
 * is dropped, as a full router queue would.
 */
static bool rate_admit(struct rule_state *s, const struct rule_action *a, uint32_t len,
		       uint64_t now, uint64_t *wait)
{
	uint64_t bps = a->u.rate.bits_per_sec ? a->u.rate.bits_per_sec : 1;
	uint64_t tx = (uint64_t)((double)len * 8.0 * 1e9 / (double)bps);
	uint64_t start, finish;

	while (s->ring_len && s->ring[s->ring_head] <= now) {
		s->ring_head = (s->ring_head + 1) % s->ring_cap;
		s->ring_len--;
	}
	if (s->ring_len >= s->ring_cap)
		return false;
	start = s->next_free_ns > now ? s->next_free_ns : now;
	finish = start + tx;
	s->next_free_ns = finish;
	s->ring[(s->ring_head + s->ring_len) % s->ring_cap] = finish;
	s->ring_len++;
	*wait = finish - now;
	return true;
}

static void fired_why(struct act_decision *d, unsigned rule, enum rule_action_type t,
		      enum act_reason why)
{
	if (d->n_fired < ACT_MAX_FIRED) {
		d->fired[d->n_fired].rule = (uint16_t)rule;
		d->fired[d->n_fired].action = (uint8_t)t;
		d->fired[d->n_fired].reason = (uint8_t)why;
		d->n_fired++;
	}
}

static void fired(struct act_decision *d, unsigned rule, enum rule_action_type t)
{
	fired_why(d, rule, t, ACT_REASON_NONE);
}

static void hold_by(struct act_decision *d, unsigned rule)
{
	if (d->hold_rule < 0)
		d->hold_rule = (int)rule;
}

/* ---- the decision step of each action ---------------------------------- */

/* One action of a rule that fired, as its step sees it. */
struct act_step {
	struct act_ctx *c;
	const struct act_input *in;
	struct act_decision *d;
	struct rule_state *s;	/* the rule's */
	const struct rule *r;
	unsigned rule, action;	/* indexes: keys of the action's random draws */
};

/* What a step did, for apply_rule. 0: nothing (the packet is as it was). */
enum {
	STEP_FIRED = 1 << 0,	/* it altered the packet: listed in the packet's event */
	STEP_COUNT = 1 << 1,	/* ... and counted now, in its action's counter */
	STEP_STOP = 1 << 2,	/* no further action or rule runs */
};

/* The action's own P%: one keyed draw per packet. */
static bool chance_of(struct act_step *x, const struct rule_action *a)
{
	return rng_chance(&x->c->rng, a->prob_ppm, x->in->id.hash, pkt_key(x->in),
			  purpose(x->rule, x->action, 1));
}

/*
 * drop's loss models remember the flow direction's last packets; plain
 * 'drop P%' draws as every action does.
 */
static bool chance_drop(struct act_step *x, const struct rule_action *a)
{
	struct model_flow *f;
	uint8_t fresh = 0;
	double u[3];

	if (a->u.drop.model == RULE_LOSS_BERNOULLI)
		return chance_of(x, a);
	for (unsigned i = 0; i < 3; i++)
		u[i] = rng_unit(&x->c->rng, x->in->id.hash, pkt_key(x->in),
				purpose(x->rule, x->action, 4 + i));
	/* Without memory for its state, the packet is decided as a flow's first. */
	f = flow_state(x->s, x->in);
	return model_loss(a, f ? &f->loss : &fresh, u);
}

/*
 * A drop (or reset) of a 'from-byte N' rule on a segment that starts
 * before byte N cuts it there instead: the receiver gets exactly the
 * stream's first N bytes (the pipeline passes the head).
 */
static void cut_at_byte(struct act_step *x)
{
	const struct act_tcp_info *ti = x->in->tcp;

	if (x->r->from_byte && ti && ti->has_off && ti->off < x->r->from_byte)
		x->d->keep = x->r->from_byte - ti->off;
}

static unsigned step_drop(struct act_step *x, const struct rule_action *a)
{
	x->d->drop = true;
	cut_at_byte(x);
	return STEP_FIRED | STEP_COUNT | STEP_STOP;
}

static unsigned step_delay(struct act_step *x, const struct rule_action *a)
{
	uint64_t ns = jittered(x->c, x->s, x->in, x->rule, x->action, a);

	x->d->delay_ns += ns;
	x->d->asked_ns += ns;
	hold_by(x->d, x->rule);
	return STEP_FIRED | STEP_COUNT;
}

/* The first reorder wins: one packet joins one group. */
static unsigned step_reorder(struct act_step *x, const struct rule_action *a)
{
	struct act_decision *d = x->d;

	if (d->reorder)
		return 0;
	d->reorder = true;
	d->reorder_rule = x->rule;
	d->reorder_n = a->u.reorder.count;
	d->reorder_timeout_ns = a->u.reorder.timeout_ns;
	hold_by(d, x->rule);
	return STEP_FIRED | STEP_COUNT;
}

static unsigned step_duplicate(struct act_step *x, const struct rule_action *a)
{
	x->d->copies += a->u.duplicate.copies;
	return STEP_FIRED | STEP_COUNT;
}

/* Counted by act_note_corrupted: not every packet can be corrupted. */
static unsigned step_corrupt(struct act_step *x, const struct rule_action *a)
{
	if (!x->d->corrupt)
		x->d->corrupt_rule = x->rule;
	x->d->corrupt = true;
	return STEP_FIRED;
}

static unsigned step_rate(struct act_step *x, const struct rule_action *a)
{
	uint64_t wait;

	if (!rate_admit(x->s, a, pkt_wire_len(x->in->v), x->in->now_ns, &wait)) {
		/*
		 * A full queue drops: counted as a drop of this rule, and
		 * listed as the rate action's with its reason, not as a drop
		 * action.
		 */
		x->d->drop = true;
		x->s->cnt.rate_dropped++;
		x->s->cnt.acted[RULE_ACT_DROP]++;
		fired_why(x->d, x->rule, RULE_ACT_RATE, ACT_REASON_QUEUE_FULL);
		return STEP_STOP;
	}
	if (!wait)
		return 0;
	x->d->delay_ns += wait;
	hold_by(x->d, x->rule);
	return STEP_FIRED | STEP_COUNT;
}

/*
 * A drop that also resets the connection: the pipeline sends the RSTs.
 * Only a TCP segment has a connection to reset; anything else passes.
 */
static unsigned step_reset(struct act_step *x, const struct rule_action *a)
{
	const struct pkt_view *v = x->in->v;

	if (!v->has_l4 || v->l4proto != 6)
		return 0;
	x->d->drop = true;
	x->d->reset = true;
	cut_at_byte(x);
	return STEP_FIRED | STEP_COUNT | STEP_STOP;
}

/*
 * 'gap D': the pieces leave D apart, and a flow direction's next segment
 * not before its last piece plus D, or it would overtake that piece. The
 * segment waits for that (held, like a delay): the flow's state says when
 * its pieces run out. Without memory for it the segment does not wait.
 */
static void space_pieces(struct act_step *x, const struct rule_action *a, uint32_t count)
{
	uint64_t ready = x->in->now_ns + x->d->delay_ns;
	struct model_flow *f = flow_state(x->s, x->in);

	x->d->segment_gap_ns = a->u.segment.gap_ns;
	if (!f)
		return;
	if (f->pieces_until > ready) {
		x->d->delay_ns += f->pieces_until - ready;
		hold_by(x->d, x->rule);
		ready = f->pieces_until;
	}
	f->pieces_until = ready + (uint64_t)count * a->u.segment.gap_ns;
}

uint32_t act_piece_len(uint32_t n, uint32_t vary, uint64_t key, uint32_t i)
{
	if (!vary)
		return n;
	return n - vary + (uint32_t)(rng_mix(key, i) % (2 * (uint64_t)vary + 1));
}

uint32_t act_piece_count(uint32_t len, uint32_t n, uint32_t vary, uint64_t key)
{
	uint32_t count = 0;

	if (!vary)
		return (len + n - 1) / n;
	for (uint64_t off = 0; off < len; count++)
		off += act_piece_len(n, vary, key, count);
	return count;
}

/* The first segment that fires decides the piece sizes (and the gap). */
static unsigned step_segment(struct act_step *x, const struct rule_action *a)
{
	const struct pkt_view *v = x->in->v;
	uint32_t n = a->u.segment.size, vary = a->u.segment.vary;
	uint64_t key;

	if (!v->has_l4 || v->l4proto != 6 || x->d->segment)
		return 0;
	/* One keyed draw per packet, as every action's: its pieces are the seed's. */
	key = vary ? rng_draw(&x->c->rng, x->in->id.hash, pkt_key(x->in), purpose(x->rule, x->action, 10)) : 0;
	if (v->payload_len <= act_piece_len(n, vary, key, 0))
		return 0;
	x->d->segment = n;
	x->d->segment_vary = vary;
	x->d->segment_key = key;
	if (a->u.segment.gap_ns)
		space_pieces(x, a, act_piece_count(v->payload_len, n, vary, key));
	return STEP_FIRED | STEP_COUNT;
}

static unsigned step_accept(struct act_step *x, const struct rule_action *a)
{
	return STEP_STOP;
}

/*
 * slot: the packet leaves with the next slot that has room, once the
 * delays before it are over. Packets of one slot share its deadline, so
 * the scheduler lets them go together, in their order.
 */
static unsigned step_slot(struct act_step *x, const struct rule_action *a)
{
	uint64_t ready = x->in->now_ns + x->d->delay_ns, at;

	if (!x->s->model && !(x->s->model = model_rule_new()))
		return 0;
	at = model_slot(x->s->model, x->in->dir, a, ready, pkt_wire_len(x->in->v), &x->c->rng,
			purpose(x->rule, x->action, 3));
	x->d->delay_ns = at - x->in->now_ns;
	/* The slot's time is absolute: nothing of it is a delay from the arrival. */
	x->d->asked_ns = 0;
	hold_by(x->d, x->rule);
	return STEP_FIRED | STEP_COUNT;
}

/*
 * profile: the direction's loss, then its delay with uniform jitter, then
 * its rate queue (rules/profile.c has the figures). A loss or a full queue
 * counts as a drop of the rule, listed as the profile's.
 */
static unsigned step_profile(struct act_step *x, const struct rule_action *a)
{
	const struct rule_profile *p = rule_profile_get(a->u.profile.id);
	const struct rule_profile_dir *pd;
	const struct act_input *in = x->in;
	uint64_t pk = pkt_key(in), wait = 0, asked;
	double j;
	int ret;

	if (!p)
		return 0;
	pd = in->dir == PKT_DIR_OUT ? &p->up : &p->down;
	if (rng_chance(&x->c->rng, pd->loss_ppm, in->id.hash, pk, purpose(x->rule, x->action, 8))) {
		x->d->drop = true;
		x->s->cnt.acted[RULE_ACT_DROP]++;
		return STEP_FIRED | STEP_COUNT | STEP_STOP;
	}
	j = (2.0 * rng_unit(&x->c->rng, in->id.hash, pk, purpose(x->rule, x->action, 9)) - 1.0) *
	    (double)pd->jitter_ns;
	asked = (uint64_t)((double)pd->delay_ns + j > 0 ? (double)pd->delay_ns + j : 0);
	x->d->delay_ns += asked;
	x->d->asked_ns += asked;
	if (pd->rate_bps) {
		if (!x->s->model && !(x->s->model = model_rule_new()))
			ret = -ENOMEM;
		else
			ret = model_queue(x->s->model, in->dir, pd->rate_bps, PROFILE_QUEUE_LIMIT,
					  pkt_wire_len(in->v), in->now_ns, &wait);
		if (ret == -ENOBUFS) {
			x->d->drop = true;
			x->s->cnt.rate_dropped++;
			x->s->cnt.acted[RULE_ACT_DROP]++;
			fired_why(x->d, x->rule, RULE_ACT_PROFILE, ACT_REASON_QUEUE_FULL);
			return STEP_STOP;
		}
		x->d->delay_ns += wait;
	}
	hold_by(x->d, x->rule);
	return STEP_FIRED | STEP_COUNT;
}

/*
 * The decision half of every action, indexed like the syntax half in
 * rules/actions.c. The counter names are the keys of the per-rule stats,
 * in this order; the event names are what packet events list.
 */
static const struct act_ops ops[RULE_ACT__COUNT] = {
	[RULE_ACT_DROP] = { .step = step_drop, .chance = chance_drop, .counter = "dropped",
			    .event = "drop" },
	[RULE_ACT_DELAY] = { .step = step_delay, .counter = "delayed", .event = "delay" },
	[RULE_ACT_REORDER] = { .step = step_reorder, .counter = "reordered", .event = "reorder" },
	[RULE_ACT_DUPLICATE] = { .step = step_duplicate, .counter = "duplicated",
				 .event = "duplicate", .sends = true },
	[RULE_ACT_CORRUPT] = { .step = step_corrupt, .counter = "corrupted", .event = "corrupt" },
	[RULE_ACT_RATE] = { .step = step_rate, .counter = "rate_queued", .event = "rate" },
	/* accept stops evaluation whatever its P%: the chance was never drawn for it. */
	[RULE_ACT_ACCEPT] = { .step = step_accept, .event = "accept", .undrawn = true },
	[RULE_ACT_SLOT] = { .step = step_slot, .counter = "slotted", .event = "slot" },
	[RULE_ACT_PROFILE] = { .step = step_profile, .counter = "profiled", .event = "profile" },
	[RULE_ACT_RESET] = { .step = step_reset, .counter = "reset", .event = "reset", .sends = true },
	/* Every piece after the first leaves as a packet of its own. */
	[RULE_ACT_SEGMENT] = { .step = step_segment, .counter = "segmented", .event = "segment",
			       .sends = true },
};

const struct act_ops *act_ops(enum rule_action_type t)
{
	return (unsigned)t < RULE_ACT__COUNT ? &ops[t] : NULL;
}

const struct rule *act_sending_rule(const struct rule_set *rules, enum rule_action_type *action)
{
	for (size_t i = 0; i < rule_set_count(rules); i++) {
		const struct rule *r = rule_set_get(rules, i);

		for (unsigned a = 0; a < r->n_actions; a++) {
			if (!ops[r->actions[a].type].sends)
				continue;
			if (action)
				*action = r->actions[a].type;
			return r;
		}
	}
	return NULL;
}

const char *act_event_name(unsigned action)
{
	return action < RULE_ACT__COUNT ? ops[action].event : "?";
}

int act_event_lookup(const char *name)
{
	for (int t = 0; t < RULE_ACT__COUNT; t++)
		if (name && !strcmp(name, ops[t].event))
			return t;
	return -1;
}

void act_counters_json(const struct act_counters *c, struct strbuf *b)
{
	strbuf_printf(b, "\"matched\":%llu", (unsigned long long)c->matched);
	for (int t = 0; t < RULE_ACT__COUNT; t++)
		if (ops[t].counter)
			strbuf_printf(b, ",\"%s\":%llu", ops[t].counter,
				      (unsigned long long)c->acted[t]);
	strbuf_printf(b, ",\"rate_dropped\":%llu,\"released_early\":%llu",
		      (unsigned long long)c->rate_dropped, (unsigned long long)c->released_early);
}

void act_counters_add(struct act_counters *to, const struct act_counters *c)
{
	to->matched += c->matched;
	for (int t = 0; t < RULE_ACT__COUNT; t++)
		to->acted[t] += c->acted[t];
	to->rate_dropped += c->rate_dropped;
	to->released_early += c->released_early;
}

/*
 * Each action of the rule in order: its chance, then its step, one
 * indirect call per action that passed its chance. Returns false when
 * evaluation must stop (drop or accept).
 */
FL_HOT static bool apply_rule(struct act_ctx *c, unsigned ri, const struct rule *r,
			      const struct act_input *in, struct act_decision *d)
{
	struct act_step x = { .c = c, .in = in, .d = d, .s = &c->st[ri], .r = r, .rule = ri };

	for (unsigned ai = 0; ai < r->n_actions; ai++) {
		const struct rule_action *a = &r->actions[ai];
		const struct act_ops *o = &ops[a->type];
		unsigned did;

		x.action = ai;
		if (!o->undrawn && !(o->chance ? o->chance(&x, a) : chance_of(&x, a)))
			continue;
		did = o->step(&x, a);
		if (did & STEP_COUNT)
			x.s->cnt.acted[a->type]++;
		if (did & STEP_FIRED)
			fired(d, ri, a->type);
		if (did & STEP_STOP)
			return false;
	}
	return true;
}

/*
 * 'from-byte N': the segment carries byte N of its direction's stream or a
 * later one; without data (a FIN, an ACK), it starts at N or later: the
 * direction has carried N bytes. In sequence space, so a retransmission
 * counts once. A SYN is before the stream; without the tracker's offset
 * nothing holds.
 */
static bool from_byte_holds(uint32_t n, const struct act_input *in)
{
	const struct pkt_view *v = in->v;
	uint32_t len = v->payload_len ? v->payload_len : 1;

	if (!in->tcp || !in->tcp->has_off || (v->tcp_flags & PKT_TCP_SYN))
		return false;
	return (uint64_t)in->tcp->off + len > n;
}

/*
 * 'conn-after D': the flow direction's clock starts at the first packet
 * of it the rule is asked about (before its conditions, so a connection's
 * starts at its handshake), as toxiproxy's timeout counts from the
 * connection's start, or from the toxic's arrival for one already open.
 * Without memory for the state it does not hold: nothing fires early.
 */
static bool conn_after_holds(struct rule_state *s, uint64_t d, const struct act_input *in)
{
	struct model_flow *f = flow_state(s, in);

	if (!f)
		return false;
	if (!f->first_ns)
		f->first_ns = in->now_ns ? in->now_ns : 1;
	return in->now_ns >= f->first_ns && in->now_ns - f->first_ns >= d;
}

/*
 * The qualifiers that read only the packet's direction and the rule's
 * clock. They change no state whichever way they go, so act_decide asks
 * them before the filter (as hot_holds(), from the packed copy): a rule
 * whose window is shut, or that watches the other direction, costs no
 * filter run (a scenario's later phases, rules added for later). Counts
 * and verdicts are as if they came after it, where the reference
 * (scan_all) asks this definition.
 */
static bool window_holds(const struct act_ctx *c, unsigned ri, const struct rule *r,
				const struct act_input *in)
{
	uint64_t since = c->st[ri].since_ns;
	uint64_t el = in->now_ns > since ? in->now_ns - since : 0;

	if (r->dir_mask && !(r->dir_mask & (1u << in->dir)))
		return false;
	if (el < r->after_ns)
		return false;
	return !r->for_ns || el < r->after_ns + r->for_ns;
}

/* window_holds() from the packed copy: what the loop asks first. */
static inline bool hot_holds(const struct rule_hot *h, const struct act_input *in)
{
	if (h->dir_mask && !(h->dir_mask & (1u << in->dir)))
		return false;
	return in->now_ns < h->open_ns ? h->from_start : in->now_ns < h->close_ns;
}

/* The other qualifiers, for a packet the filter and window_holds let through. */
FL_HOT static bool qualifiers_hold(struct act_ctx *c, unsigned ri, const struct rule *r,
				   const struct act_input *in)
{
	struct rule_state *s = &c->st[ri];

	if (r->conn_after_ns && !conn_after_holds(s, r->conn_after_ns, in))
		return false;
	for (unsigned k = 0; k < r->n_conds; k++)
		if (!cond_holds(&r->conds[k], in))
			return false;
	if (r->from_byte && !from_byte_holds(r->from_byte, in))
		return false;
	/*
	 * 'conn P%': one draw per flow and key, never per packet, so a
	 * connection is in or out for its whole life, as toxiproxy's toxicity.
	 */
	if (r->has_conn && !rng_chance(&c->rng, r->conn_ppm, in->id.hash, 0xc044c044c044ull,
				       ((uint64_t)r->conn_key << 8) | 0x5c))
		return false;
	/* Only now is it a candidate: the every/first counters count these. */
	s->seen++;
	if (r->every > 1 && s->seen % r->every)
		return false;
	if (r->first && s->fired >= r->first)
		return false;
	s->fired++;
	return true;
}

/* The packet's candidate rules, found when first needed. */
struct cands {
	struct rule_cands c;
	bool have;
};

/* Bit i for each candidate i among the rules the memo may answer for. */
static uint32_t cands_memo_mask(const struct act_ctx *c, const struct act_input *in,
				struct cands *cs)
{
	struct rule_cands t;
	uint32_t m = 0;
	int i;

	if (c->scan_all)
		return UINT32_MAX;
	if (!cs->have) {
		rule_set_cands(c->rs, in->v, &cs->c);
		cs->have = true;
	}
	t = cs->c;
	while ((i = rule_cands_next(&t)) >= 0 && i < RULE_MEMO_MAX_RULES)
		m |= 1u << i;
	return m;
}

/*
 * The filter results known without running them (bit i of *bits for each
 * rule i in the returned mask): those the packet's class decides, and
 * those the connection's memo holds, running libpcap on the remembered
 * filters first when it holds none yet: only those of candidates, the
 * others are known not to match.
 */
FL_HOT static uint32_t known_results(const struct act_ctx *c, const struct act_input *in,
				     struct cands *cs, uint32_t *bits)
{
	const struct rule_memo_plan *plan;
	int cls = rule_memo_class(in->v), got;
	uint32_t memo;

	if (cls < 0)
		return 0;
	plan = &c->plan[cls];
	*bits = plan->matches;
	if (!in->memo || !plan->rules)
		return plan->decided;
	got = rule_memo_get(in->memo, plan, in->v, in->id.way, &memo);
	if (got < 0)
		return plan->decided;
	if (!got) {
		uint32_t cands = cands_memo_mask(c, in, cs);

		memo = 0;
		for (unsigned i = 0; i < RULE_MEMO_MAX_RULES; i++)
			if ((plan->rules & cands) >> i & 1 &&
			    rule_filter_match(rule_set_get(c->rs, i), in->v))
				memo |= 1u << i;
		rule_memo_fill(in->memo, plan, in->v, in->id.way, memo);
	}
	*bits |= memo & plan->rules;
	return plan->decided | plan->rules;
}

/* The wide memo's answer for one rule. */
struct wide_known {
	const struct rule_memo_wide *plan;	/* NULL: none */
	const uint64_t *bits;			/* NULL: only what the class decides */
};

/*
 * Rules 16 to 255 in the wide memo's plan: what it knows of the packet,
 * filling the flow's entry first when it holds none yet. Only the
 * filters of candidates run (the others are known not to match), all of
 * them: the list is asked again here, as the loop has used up its own
 * by now, and a fill is rare next to the packets it saves a copy on.
 */
FL_HOT static void wide_results(struct act_ctx *c, const struct act_input *in,
				struct wide_known *w)
{
	int cls = rule_memo_class(in->v), i;
	struct rule_cands t;
	uint64_t *fill;

	w->plan = NULL;
	w->bits = NULL;
	if (cls < 0 || !c->wide)
		return;
	w->plan = &c->wide_plan[cls];
	if (!in->memo || !w->plan->any)
		return;
	w->bits = rule_memo_table_get(c->wide, w->plan, in->v, in->id.hash, in->id.way);
	if (w->bits)
		return;
	fill = rule_memo_table_put(c->wide, w->plan, in->v, in->id.hash, in->id.way);
	if (!fill)
		return;
	if (c->scan_all)
		rule_cands_all(&t, c->n);
	else
		rule_set_cands(c->rs, in->v, &t);
	while ((i = rule_cands_next(&t)) >= 0 && i < RULE_MEMO_WIDE_RULES) {
		unsigned ri = (unsigned)i;
		uint64_t bit = 1ull << (ri % 64);

		if (w->plan->rules[ri / 64] & bit &&
		    filter_matches(c, ri, rule_set_get(c->rs, ri), in))
			fill[ri / 64] |= bit;
	}
	w->bits = fill;
}

/* 1 or 0: rule ri's filter result as the wide memo knows it; -1: unknown. */
static inline int wide_result(const struct wide_known *w, unsigned ri)
{
	uint64_t bit = 1ull << (ri % 64);
	unsigned k = ri / 64;

	if (!w->plan || ri >= RULE_MEMO_WIDE_RULES)
		return -1;
	if (w->plan->decided[k] & bit)
		return !!(w->plan->matches[k] & bit);
	if (w->bits && w->plan->rules[k] & bit)
		return !!(w->bits[k] & bit);
	return -1;
}

FL_HOT void act_decide(struct act_ctx *c, const struct act_input *in, struct act_decision *d)
{
	uint32_t known = 0, bits = 0;
	struct cands cs;	/* not zeroed: 150 bytes, filled only when needed */
	/* The wide memo, asked when the first rule past the 16th gets that far. */
	struct wide_known wk = { 0 };
	bool wide_asked = !c->wide;
	int next;

	/* fired[] is read only up to n_fired: clearing it cost a third of this function. */
	memset(d, 0, offsetof(struct act_decision, fired));
	d->hold_rule = -1;
	cs.have = false;
	c->dgen++;
	/*
	 * Only the rules the index cannot rule out, in rule order: any other
	 * rule's filter would not match, so skipping it changes nothing (its
	 * qualifiers and every/first counts are not reached either). A set
	 * the memo answers whole needs no index (a memo being filled asks it
	 * which filters to run).
	 */
	if (!c->scan_all && c->n > RULE_MEMO_MAX_RULES) {
		rule_set_cands(c->rs, in->v, &cs.c);
		cs.have = true;
	}
	known = known_results(c, in, &cs, &bits);
	if (!cs.have) {
		if (c->scan_all || known == (1u << c->n) - 1)
			rule_cands_all(&cs.c, c->n);
		else
			rule_set_cands(c->rs, in->v, &cs.c);
	}
	while ((next = rule_cands_next(&cs.c)) >= 0) {
		unsigned ri = (unsigned)next;
		const struct rule *r;

		if (!c->scan_all && !hot_holds(&c->hot[ri], in))
			continue;
		r = c->hot[ri].r;
		/* Disabled: as if absent, but its counters and every/first counts stay. */
		if (r->disabled)
			continue;
		if (ri < RULE_MEMO_MAX_RULES) {
			if (known >> ri & 1 ? !(bits >> ri & 1) : !filter_matches(c, ri, r, in))
				continue;
		} else {
			int w;

			if (!wide_asked) {
				wide_results(c, in, &wk);
				wide_asked = true;
			}
			w = wide_result(&wk, ri);
			if (w < 0 ? !filter_matches(c, ri, r, in) : !w)
				continue;
		}
		/* The reference order (scan_all): the window after the filter, as the rule reads. */
		if (c->scan_all && !window_holds(c, ri, r, in))
			continue;
		if (!qualifiers_hold(c, ri, r, in))
			continue;
		c->st[ri].cnt.matched++;
		if (!apply_rule(c, ri, r, in, d))
			break;
	}
	if (d->drop) {
		/* A dropped packet is not held, copied or corrupted. */
		d->delay_ns = 0;
		d->copies = 0;
		d->corrupt = false;
		d->reorder = false;
		d->hold_rule = -1;
		d->segment = 0;
		d->segment_gap_ns = 0;
		d->segment_vary = 0;
	}
}

int act_corrupt(const struct act_ctx *c, const struct act_input *in, uint8_t *data, size_t len)
{
	const struct pkt_view *v = in->v;
	uint64_t draw = rng_draw(&c->rng, in->id.hash, pkt_key(in), 0xc0441u);
	size_t off, span;

	if (v->has_l4) {
		/* Headers stay intact: a bare ACK or SYN has nothing to corrupt. */
		if (!v->payload_len)
			return -ENODATA;
		off = v->payload_off;
		span = v->payload_len;
	} else {
		off = v->l3_hdr_len;
		span = len > off ? len - off : 0;
	}
	if (!span || off + span > len)
		return -EBADMSG;
	data[off + (draw % span)] ^= (uint8_t)(1u << ((draw >> 32) & 7));
	return pkt_fix_checksums(data, len, v);
}
