// SPDX-License-Identifier: MIT
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "actions.h"
#include "units.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define NS_PER_MS 1000000ull
#define DEFAULT_REORDER_TIMEOUT_NS (100 * NS_PER_MS)
#define DEFAULT_RATE_LIMIT 1000u
#define MAX_REORDER 1024u
#define MAX_COPIES 16u

/* ---- delay D [jitter J [distribution uniform|normal|pareto]] ----------- */

enum { OPT_JITTER, OPT_DISTRIBUTION };

static const char *const dist_names[] = {
	[RULE_DIST_UNIFORM] = "uniform",
	[RULE_DIST_NORMAL] = "normal",
	[RULE_DIST_PARETO] = "pareto",
};

static int delay_args(struct rule_parser *p, const struct rule_tok *kw, struct rule_action *a)
{
	return rule__expect_duration(p, kw, &a->u.delay.delay_ns);
}

static int delay_distribution(struct rule_parser *p, const struct rule_tok *t,
			      struct rule_action *a)
{
	const struct rule_tok *d = rule__peek(p);

	if (rule__ends_args(d) || rule__ends_with_percent(d->s))
		return rule__fail(p, t->col, "'distribution' needs uniform, normal or pareto");
	rule__next(p);
	for (size_t i = 0; i < ARRAY_SIZE(dist_names); i++) {
		if (!strcmp(d->s, dist_names[i])) {
			a->u.delay.dist = i;
			return 0;
		}
	}
	return rule__fail(p, d->col, "unknown distribution '%s' (expected uniform, normal or pareto)",
			  rule__shown(p, d->s));
}

static int delay_option(struct rule_parser *p, const struct rule_tok *t, struct rule_action *a,
			const struct rule_tok **seen)
{
	if (!strcmp(t->s, "jitter")) {
		if (seen[OPT_JITTER])
			return rule__fail(p, t->col, "'jitter' given twice");
		seen[OPT_JITTER] = t;
		return rule__expect_duration(p, t, &a->u.delay.jitter_ns);
	}
	if (!strcmp(t->s, "distribution")) {
		if (seen[OPT_DISTRIBUTION])
			return rule__fail(p, t->col, "'distribution' given twice");
		seen[OPT_DISTRIBUTION] = t;
		return delay_distribution(p, t, a);
	}
	return RULE_ACTION_NOT_OPTION;
}

static int delay_end(struct rule_parser *p, struct rule_action *a,
		     const struct rule_tok *const *seen)
{
	if (seen[OPT_DISTRIBUTION] && !seen[OPT_JITTER])
		return rule__fail(p, seen[OPT_DISTRIBUTION]->col, "'distribution' needs 'jitter'");
	/* Without jitter the distribution means nothing: keep one form. */
	if (a->u.delay.jitter_ns == 0)
		a->u.delay.dist = RULE_DIST_UNIFORM;
	return 0;
}

static void delay_print(struct strbuf_fixed *o, const struct rule_action *a)
{
	units_put_duration(o, " ", a->u.delay.delay_ns);
	if (a->u.delay.jitter_ns || a->u.delay.dist != RULE_DIST_UNIFORM)
		units_put_duration(o, " jitter ", a->u.delay.jitter_ns);
	if (a->u.delay.dist != RULE_DIST_UNIFORM && (unsigned)a->u.delay.dist < ARRAY_SIZE(dist_names))
		strbuf_fixed_printf(o, " distribution %s", dist_names[a->u.delay.dist]);
}

static bool delay_equal(const struct rule_action *a, const struct rule_action *b)
{
	return a->u.delay.delay_ns == b->u.delay.delay_ns &&
	       a->u.delay.jitter_ns == b->u.delay.jitter_ns && a->u.delay.dist == b->u.delay.dist;
}

/* ---- reorder N [timeout T] ------------------------------------------------- */

static int reorder_args(struct rule_parser *p, const struct rule_tok *kw, struct rule_action *a)
{
	uint64_t v;
	int ret = rule__expect_uint(p, kw, 2, MAX_REORDER, &v);

	if (ret < 0)
		return ret;
	a->u.reorder.count = (uint32_t)v;
	a->u.reorder.timeout_ns = DEFAULT_REORDER_TIMEOUT_NS;
	return 0;
}

static int reorder_option(struct rule_parser *p, const struct rule_tok *t, struct rule_action *a,
			  const struct rule_tok **seen)
{
	int ret;

	if (strcmp(t->s, "timeout"))
		return RULE_ACTION_NOT_OPTION;
	if (seen[0])
		return rule__fail(p, t->col, "'timeout' given twice");
	seen[0] = t;
	ret = rule__expect_duration(p, t, &a->u.reorder.timeout_ns);
	if (ret < 0)
		return ret;
	if (a->u.reorder.timeout_ns == 0)
		return rule__fail(p, rule__prev(p)->col, "reorder timeout must be greater than 0");
	return 0;
}

static void reorder_print(struct strbuf_fixed *o, const struct rule_action *a)
{
	strbuf_fixed_printf(o, " %u", a->u.reorder.count);
	if (a->u.reorder.timeout_ns != DEFAULT_REORDER_TIMEOUT_NS)
		units_put_duration(o, " timeout ", a->u.reorder.timeout_ns);
}

static bool reorder_equal(const struct rule_action *a, const struct rule_action *b)
{
	return a->u.reorder.count == b->u.reorder.count &&
	       a->u.reorder.timeout_ns == b->u.reorder.timeout_ns;
}

/* ---- duplicate [COPIES] ------------------------------------------------------ */

static int duplicate_args(struct rule_parser *p, const struct rule_tok *kw, struct rule_action *a)
{
	a->u.duplicate.copies = 1;
	return 0;
}

/* The count is an option, not an argument: "duplicate 50% 3" is allowed. */
static int duplicate_option(struct rule_parser *p, const struct rule_tok *t,
			    struct rule_action *a, const struct rule_tok **seen)
{
	uint64_t v;
	int ret;

	if (!isdigit((unsigned char)t->s[0]))
		return RULE_ACTION_NOT_OPTION;
	if (seen[0])
		return rule__fail(p, t->col, "duplicate copies given twice");
	seen[0] = t;
	ret = units_parse_uint(t->s, MAX_COPIES, &v);
	if (ret == -EINVAL)
		return rule__fail(p, t->col, "bad copy count '%s' (1 to %u)", rule__shown(p, t->s),
				  MAX_COPIES);
	if (ret < 0 || v < 1)
		return rule__fail(p, t->col, "'duplicate %s' out of range (1 to %u copies)",
				  rule__shown(p, t->s), MAX_COPIES);
	a->u.duplicate.copies = (uint32_t)v;
	return 0;
}

static void duplicate_print(struct strbuf_fixed *o, const struct rule_action *a)
{
	if (a->u.duplicate.copies != 1)
		strbuf_fixed_printf(o, " %u", a->u.duplicate.copies);
}

static bool duplicate_equal(const struct rule_action *a, const struct rule_action *b)
{
	return a->u.duplicate.copies == b->u.duplicate.copies;
}

/* ---- rate R [limit N] ---------------------------------------------------------- */

static int rate_args(struct rule_parser *p, const struct rule_tok *kw, struct rule_action *a)
{
	const struct rule_tok *t = rule__peek(p);
	const char *why;

	if (rule__ends_args(t) || rule__ends_with_percent(t->s))
		return rule__fail(p, kw->col, "'rate' needs a rate, e.g. rate 1mbit");
	rule__next(p);
	if (units_parse_rate(t->s, &a->u.rate.bits_per_sec, &why) < 0)
		return rule__fail(p, t->col, "bad rate '%s': %s", rule__shown(p, t->s), why);
	a->u.rate.limit = DEFAULT_RATE_LIMIT;
	return 0;
}

static int rate_option(struct rule_parser *p, const struct rule_tok *t, struct rule_action *a,
		       const struct rule_tok **seen)
{
	uint64_t v;
	int ret;

	if (strcmp(t->s, "limit"))
		return RULE_ACTION_NOT_OPTION;
	if (seen[0])
		return rule__fail(p, t->col, "'limit' given twice");
	seen[0] = t;
	ret = rule__expect_uint(p, t, 1, UINT32_MAX, &v);
	if (ret < 0)
		return ret;
	a->u.rate.limit = (uint32_t)v;
	return 0;
}

static void rate_print(struct strbuf_fixed *o, const struct rule_action *a)
{
	units_put_rate(o, " ", a->u.rate.bits_per_sec);
	if (a->u.rate.limit != DEFAULT_RATE_LIMIT)
		strbuf_fixed_printf(o, " limit %u", a->u.rate.limit);
}

static bool rate_equal(const struct rule_action *a, const struct rule_action *b)
{
	return a->u.rate.bits_per_sec == b->u.rate.bits_per_sec &&
	       a->u.rate.limit == b->u.rate.limit;
}

/* ---- the table ------------------------------------------------------------------ */

/*
 * In enum order, which is also the order the messages list the actions in
 * and the report's columns.
 */
static const struct rule_action_ops actions[RULE_ACT__COUNT] = {
	[RULE_ACT_DROP] = {
		.name = "drop",
		.example = "drop 30%",
		.follows = "P%, 'if' or ','",
	},
	[RULE_ACT_DELAY] = {
		.name = "delay",
		.example = "delay 10ms jitter 2ms distribution normal 50%",
		.follows = "jitter, distribution, P%, 'if' or ','",
		.parse_args = delay_args,
		.parse_option = delay_option,
		.parse_end = delay_end,
		.print = delay_print,
		.equal = delay_equal,
	},
	[RULE_ACT_REORDER] = {
		.name = "reorder",
		.example = "reorder 3 timeout 20ms",
		.follows = "timeout, P%, 'if' or ','",
		.parse_args = reorder_args,
		.parse_option = reorder_option,
		.print = reorder_print,
		.equal = reorder_equal,
	},
	[RULE_ACT_DUPLICATE] = {
		.name = "duplicate",
		.example = "duplicate 2 0.5%",
		.follows = "COPIES, P%, 'if' or ','",
		.whole_packet = true,
		.parse_args = duplicate_args,
		.parse_option = duplicate_option,
		.print = duplicate_print,
		.equal = duplicate_equal,
	},
	[RULE_ACT_CORRUPT] = {
		.name = "corrupt",
		.example = "corrupt 1%",
		.follows = "P%, 'if' or ','",
		.whole_packet = true,
	},
	[RULE_ACT_RATE] = {
		.name = "rate",
		.example = "rate 1mbit limit 50",
		.follows = "limit, P%, 'if' or ','",
		.parse_args = rate_args,
		.parse_option = rate_option,
		.print = rate_print,
		.equal = rate_equal,
	},
	[RULE_ACT_ACCEPT] = {
		.name = "accept",
		.example = "accept",
		.follows = "P%, 'if' or ','",
		.alone = true,
	},
};

const struct rule_action_ops *rule__action_ops(enum rule_action_type t)
{
	return (unsigned)t < RULE_ACT__COUNT ? &actions[t] : NULL;
}
