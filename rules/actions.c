// SPDX-License-Identifier: MIT
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "actions.h"
#include "profile.h"
#include "units.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define NS_PER_MS 1000000ull
#define DEFAULT_REORDER_TIMEOUT_NS (100 * NS_PER_MS)
#define DEFAULT_RATE_LIMIT 1000u
#define MAX_REORDER 1024u
#define MAX_COPIES 16u

/* ---- drop [P% [correlation C%]] | drop gemodel ... | drop state ... ------- */

/*
 * A model's rate: a percentage where 0% is allowed (netem's defaults
 * include some), unlike an action's P%.
 */
static int model_percent(struct rule_parser *p, const struct rule_tok *t, const char *what,
			 uint32_t *ppm)
{
	const char *why;

	if (strspn(t->s, "0.") == strlen(t->s) - 1 && t->s[0] == '0' && rule__ends_with_percent(t->s)) {
		*ppm = 0;
		return 0;
	}
	if (units_parse_percent(t->s, ppm, &why) < 0)
		return rule__fail(p, t->col, "bad %s '%s': %s", what, rule__shown(p, t->s), why);
	return 0;
}

/* Canonical, and "100%" written out (a model rate, not a P% that may go). */
static void put_model_percent(struct strbuf_fixed *o, uint32_t ppm)
{
	if (ppm >= RULE_PPM_ALWAYS)
		strbuf_fixed_printf(o, " 100%%");
	else if (!ppm)
		strbuf_fixed_printf(o, " 0%%");
	else
		units_put_percent(o, " ", ppm);
}

struct loss_model_syntax {
	const char *word;
	unsigned n;			/* parameters, the first required */
	const char *names[RULE_LOSS_MAX_PARAMS];
};

static const struct loss_model_syntax loss_models[] = {
	[RULE_LOSS_GEMODEL] = { "gemodel", 4, { "p", "r", "1-h", "1-k" } },
	[RULE_LOSS_STATE] = { "state", 5, { "p13", "p31", "p32", "p23", "p14" } },
};

/* netem's defaults (iproute2 tc/q_netem.c), which depend on the first. */
static void loss_defaults(enum rule_loss_model m, uint32_t first, uint32_t *d)
{
	d[0] = first;
	if (m == RULE_LOSS_GEMODEL) {
		d[1] = RULE_PPM_ALWAYS - first;	/* r = 1 - p: Bernoulli */
		d[2] = RULE_PPM_ALWAYS;		/* 1-h: all lost in the bad state */
		d[3] = 0;			/* 1-k: none lost in the good state */
		d[4] = 0;
	} else {
		d[1] = RULE_PPM_ALWAYS - first;	/* p31 = 1 - p13: Bernoulli */
		d[2] = 0;			/* p32 */
		d[3] = RULE_PPM_ALWAYS;		/* p23 */
		d[4] = 0;			/* p14 */
	}
}

/* 'gemodel' or 'state' after 'drop': its rates, as many as given (netem's order). */
static int loss_model_args(struct rule_parser *p, const struct rule_tok *kw,
			   enum rule_loss_model m, struct rule_action *a)
{
	const struct loss_model_syntax *ms = &loss_models[m];
	uint32_t *param = a->u.drop.param;
	const struct rule_tok *t;
	unsigned n = 0;
	int ret;

	a->u.drop.model = m;
	while (!rule__ends_args(t = rule__peek(p)) && rule__ends_with_percent(t->s)) {
		rule__next(p);
		if (n == ms->n)
			return rule__fail(p, t->col, "'%s' takes at most %u rates (%s %s %s ...)",
					  ms->word, ms->n, ms->names[0], ms->names[1], ms->names[2]);
		ret = model_percent(p, t, ms->names[n], &param[n]);
		if (ret < 0)
			return ret;
		if (!n)
			loss_defaults(m, param[0], param);
		n++;
	}
	if (!n)
		return rule__fail(p, kw->col, "'%s' needs at least %s, e.g. drop %s 1%%", ms->word,
				  ms->names[0], ms->word);
	/* netem reads each state's outgoing chances off one draw: they cannot exceed 1. */
	if (m == RULE_LOSS_STATE && (uint64_t)param[0] + param[4] > RULE_PPM_ALWAYS)
		return rule__fail(p, kw->col, "'state': p13 + p14 exceed 100%%");
	if (m == RULE_LOSS_STATE && (uint64_t)param[1] + param[2] > RULE_PPM_ALWAYS)
		return rule__fail(p, kw->col, "'state': p31 + p32 exceed 100%%");
	return 0;
}

static int drop_args(struct rule_parser *p, const struct rule_tok *kw, struct rule_action *a)
{
	const struct rule_tok *t = rule__peek(p);

	for (unsigned m = RULE_LOSS_GEMODEL; m <= RULE_LOSS_STATE; m++) {
		if (t->type == RULE_TOK_WORD && !strcmp(t->s, loss_models[m].word)) {
			rule__next(p);
			return loss_model_args(p, t, m, a);
		}
	}
	return 0;
}

static int drop_option(struct rule_parser *p, const struct rule_tok *t, struct rule_action *a,
		       const struct rule_tok **seen)
{
	const struct rule_tok *c;

	for (unsigned m = RULE_LOSS_GEMODEL; m <= RULE_LOSS_STATE; m++)
		if (!strcmp(t->s, loss_models[m].word))
			return rule__fail(p, t->col, "'%s' must come right after 'drop'", t->s);
	if (strcmp(t->s, "correlation"))
		return RULE_ACTION_NOT_OPTION;
	if (a->u.drop.model != RULE_LOSS_BERNOULLI)
		return rule__fail(p, t->col, "'correlation' does not go with '%s' (a model of its own)",
				  loss_models[a->u.drop.model].word);
	if (seen[0])
		return rule__fail(p, t->col, "'correlation' given twice");
	seen[0] = t;
	c = rule__peek(p);
	if (rule__ends_args(c) || !rule__ends_with_percent(c->s))
		return rule__fail(p, t->col, "'correlation' needs a percentage, e.g. correlation 25%%");
	rule__next(p);
	return model_percent(p, c, "correlation", &a->u.drop.param[1]);
}

static int drop_end(struct rule_parser *p, struct rule_action *a, const struct rule_tok *const *seen)
{
	if (a->u.drop.model == RULE_LOSS_BERNOULLI && seen[0]) {
		/*
		 * The loss rate becomes the model's own first parameter: the
		 * model draws for itself, and prints it before 'correlation'.
		 * Correlation 0% is plain 'drop P%' (and draws as it does).
		 */
		if (a->u.drop.param[1]) {
			a->u.drop.model = RULE_LOSS_CORRELATED;
			a->u.drop.param[0] = a->prob_ppm;
			a->prob_ppm = RULE_PPM_ALWAYS;
		}
	}
	return 0;
}

static void drop_print(struct strbuf_fixed *o, const struct rule_action *a)
{
	const uint32_t *param = a->u.drop.param;
	uint32_t d[RULE_LOSS_MAX_PARAMS];
	unsigned last = 0;

	switch (a->u.drop.model) {
	case RULE_LOSS_CORRELATED:
		units_put_percent(o, " ", param[0]);
		strbuf_fixed_printf(o, " correlation");
		put_model_percent(o, param[1]);
		break;
	case RULE_LOSS_GEMODEL:
	case RULE_LOSS_STATE:
		/* Up to the last rate that is not netem's default. */
		loss_defaults(a->u.drop.model, param[0], d);
		for (unsigned i = 1; i < loss_models[a->u.drop.model].n; i++)
			if (param[i] != d[i])
				last = i;
		strbuf_fixed_printf(o, " %s", loss_models[a->u.drop.model].word);
		for (unsigned i = 0; i <= last; i++)
			put_model_percent(o, param[i]);
		break;
	default:
		break;
	}
}

static bool drop_equal(const struct rule_action *a, const struct rule_action *b)
{
	return a->u.drop.model == b->u.drop.model &&
	       !memcmp(a->u.drop.param, b->u.drop.param, sizeof(a->u.drop.param));
}

/* ---- delay D [jitter J] [correlation C%] [distribution ...] ------------- */

enum { OPT_JITTER, OPT_DISTRIBUTION, OPT_CORRELATION };

static const char *const dist_names[] = {
	[RULE_DIST_UNIFORM] = "uniform",
	[RULE_DIST_NORMAL] = "normal",
	[RULE_DIST_PARETO] = "pareto",
	[RULE_DIST_PARETONORMAL] = "paretonormal",
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
		return rule__fail(p, t->col,
				  "'distribution' needs uniform, normal, pareto or paretonormal");
	rule__next(p);
	for (size_t i = 0; i < ARRAY_SIZE(dist_names); i++) {
		if (!strcmp(d->s, dist_names[i])) {
			a->u.delay.dist = i;
			return 0;
		}
	}
	return rule__fail(p, d->col,
			  "unknown distribution '%s' (expected uniform, normal, pareto or paretonormal)",
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
	if (!strcmp(t->s, "correlation")) {
		const struct rule_tok *c = rule__peek(p);

		if (seen[OPT_CORRELATION])
			return rule__fail(p, t->col, "'correlation' given twice");
		seen[OPT_CORRELATION] = t;
		if (rule__ends_args(c) || !rule__ends_with_percent(c->s))
			return rule__fail(p, t->col,
					  "'correlation' needs a percentage, e.g. correlation 25%%");
		rule__next(p);
		return model_percent(p, c, "correlation", &a->u.delay.corr_ppm);
	}
	return RULE_ACTION_NOT_OPTION;
}

static int delay_end(struct rule_parser *p, struct rule_action *a,
		     const struct rule_tok *const *seen)
{
	if (seen[OPT_DISTRIBUTION] && !seen[OPT_JITTER])
		return rule__fail(p, seen[OPT_DISTRIBUTION]->col, "'distribution' needs 'jitter'");
	if (seen[OPT_CORRELATION] && !seen[OPT_JITTER])
		return rule__fail(p, seen[OPT_CORRELATION]->col, "'correlation' needs 'jitter'");
	/* Without jitter the distribution and correlation mean nothing: keep one form. */
	if (a->u.delay.jitter_ns == 0) {
		a->u.delay.dist = RULE_DIST_UNIFORM;
		a->u.delay.corr_ppm = 0;
	}
	return 0;
}

static void delay_print(struct strbuf_fixed *o, const struct rule_action *a)
{
	units_put_duration(o, " ", a->u.delay.delay_ns);
	if (a->u.delay.jitter_ns || a->u.delay.dist != RULE_DIST_UNIFORM)
		units_put_duration(o, " jitter ", a->u.delay.jitter_ns);
	if (a->u.delay.corr_ppm) {
		strbuf_fixed_printf(o, " correlation");
		put_model_percent(o, a->u.delay.corr_ppm);
	}
	if (a->u.delay.dist != RULE_DIST_UNIFORM && (unsigned)a->u.delay.dist < ARRAY_SIZE(dist_names))
		strbuf_fixed_printf(o, " distribution %s", dist_names[a->u.delay.dist]);
}

static bool delay_equal(const struct rule_action *a, const struct rule_action *b)
{
	return a->u.delay.delay_ns == b->u.delay.delay_ns &&
	       a->u.delay.jitter_ns == b->u.delay.jitter_ns && a->u.delay.dist == b->u.delay.dist &&
	       a->u.delay.corr_ppm == b->u.delay.corr_ppm;
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

/* ---- slot MIN [MAX] [packets N] [bytes B] ------------------------------------ */

enum { OPT_PACKETS, OPT_BYTES };

static int slot_args(struct rule_parser *p, const struct rule_tok *kw, struct rule_action *a)
{
	const struct rule_tok *t;
	uint64_t max;
	int ret = rule__expect_duration(p, kw, &a->u.slot.min_ns);

	if (ret < 0)
		return ret;
	a->u.slot.max_ns = a->u.slot.min_ns;
	t = rule__peek(p);
	/* An optional second duration: the longest gap. */
	if (!rule__ends_args(t) && isdigit((unsigned char)t->s[0]) && !rule__ends_with_percent(t->s) &&
	    units_parse_duration(t->s, &max, NULL) == 0) {
		rule__next(p);
		if (max < a->u.slot.min_ns)
			return rule__fail(p, t->col, "slot MAX '%s' is shorter than MIN",
					  rule__shown(p, t->s));
		a->u.slot.max_ns = max;
	}
	if (!a->u.slot.max_ns)
		return rule__fail(p, kw->col, "'slot' needs a gap greater than 0");
	return 0;
}

static int slot_option(struct rule_parser *p, const struct rule_tok *t, struct rule_action *a,
		       const struct rule_tok **seen)
{
	uint64_t v;
	int ret;

	if (!strcmp(t->s, "packets")) {
		if (seen[OPT_PACKETS])
			return rule__fail(p, t->col, "'packets' given twice");
		seen[OPT_PACKETS] = t;
		ret = rule__expect_uint(p, t, 1, UINT32_MAX, &v);
		a->u.slot.packets = (uint32_t)v;
		return ret;
	}
	if (!strcmp(t->s, "bytes")) {
		if (seen[OPT_BYTES])
			return rule__fail(p, t->col, "'bytes' given twice");
		seen[OPT_BYTES] = t;
		return rule__expect_uint(p, t, 1, UINT32_MAX, &a->u.slot.bytes);
	}
	return RULE_ACTION_NOT_OPTION;
}

static void slot_print(struct strbuf_fixed *o, const struct rule_action *a)
{
	units_put_duration(o, " ", a->u.slot.min_ns);
	if (a->u.slot.max_ns != a->u.slot.min_ns)
		units_put_duration(o, " ", a->u.slot.max_ns);
	if (a->u.slot.packets)
		strbuf_fixed_printf(o, " packets %u", a->u.slot.packets);
	if (a->u.slot.bytes)
		strbuf_fixed_printf(o, " bytes %llu", (unsigned long long)a->u.slot.bytes);
}

static bool slot_equal(const struct rule_action *a, const struct rule_action *b)
{
	return a->u.slot.min_ns == b->u.slot.min_ns && a->u.slot.max_ns == b->u.slot.max_ns &&
	       a->u.slot.packets == b->u.slot.packets && a->u.slot.bytes == b->u.slot.bytes;
}

/* ---- profile NAME ---------------------------------------------------------------- */

static int profile_args(struct rule_parser *p, const struct rule_tok *kw, struct rule_action *a)
{
	const struct rule_tok *t = rule__peek(p);
	char names[256];
	struct strbuf_fixed o = { .buf = names, .size = sizeof(names) };
	int id;

	rule_profile_names(&o);
	if (rule__ends_args(t) || rule__ends_with_percent(t->s))
		return rule__fail(p, kw->col, "'profile' needs a name (%s)", names);
	rule__next(p);
	id = rule_profile_lookup(t->s);
	if (id < 0)
		return rule__fail(p, t->col, "unknown profile '%s' (expected %s)", rule__shown(p, t->s),
				  names);
	a->u.profile.id = (unsigned)id;
	return 0;
}

static void profile_print(struct strbuf_fixed *o, const struct rule_action *a)
{
	const struct rule_profile *pr = rule_profile_get(a->u.profile.id);

	strbuf_fixed_printf(o, " %s", pr ? pr->name : "?");
}

static bool profile_equal(const struct rule_action *a, const struct rule_action *b)
{
	return a->u.profile.id == b->u.profile.id;
}

/* ---- segment N [vary V] [gap D] -------------------------------------------------- */

/* A piece's payload fits an IP packet (65535 bytes with the headers). */
#define MAX_SEGMENT 65000u

static int segment_args(struct rule_parser *p, const struct rule_tok *kw, struct rule_action *a)
{
	uint64_t v;
	int ret = rule__expect_uint(p, kw, 1, MAX_SEGMENT, &v);

	if (ret < 0)
		return ret;
	a->u.segment.size = (uint32_t)v;
	return 0;
}

static int segment_option(struct rule_parser *p, const struct rule_tok *t, struct rule_action *a,
			  const struct rule_tok **seen)
{
	uint64_t v;
	int ret;

	if (!strcmp(t->s, "gap")) {
		if (seen[0])
			return rule__fail(p, t->col, "'gap' given twice");
		seen[0] = t;
		return rule__expect_duration(p, t, &a->u.segment.gap_ns);
	}
	if (strcmp(t->s, "vary"))
		return RULE_ACTION_NOT_OPTION;
	if (seen[1])
		return rule__fail(p, t->col, "'vary' given twice");
	seen[1] = t;
	/* Every piece keeps at least one byte: V below N. */
	ret = rule__expect_uint(p, t, 1, a->u.segment.size - 1, &v);
	if (ret < 0)
		return ret;
	a->u.segment.vary = (uint32_t)v;
	return 0;
}

static void segment_print(struct strbuf_fixed *o, const struct rule_action *a)
{
	strbuf_fixed_printf(o, " %u", a->u.segment.size);
	if (a->u.segment.vary)
		strbuf_fixed_printf(o, " vary %u", a->u.segment.vary);
	if (a->u.segment.gap_ns)
		units_put_duration(o, " gap ", a->u.segment.gap_ns);
}

static bool segment_equal(const struct rule_action *a, const struct rule_action *b)
{
	return a->u.segment.size == b->u.segment.size && a->u.segment.vary == b->u.segment.vary &&
	       a->u.segment.gap_ns == b->u.segment.gap_ns;
}

/* ---- the table ------------------------------------------------------------------ */

/*
 * In enum order, which is also the order the messages list the actions in
 * and the report's columns.
 */
static const struct rule_action_ops actions[RULE_ACT__COUNT] = {
	[RULE_ACT_DROP] = {
		.name = "drop",
		.instant = true,
		.example = "drop 30% correlation 25%",
		.follows = "correlation, P%, 'if' or ','",
		.parse_args = drop_args,
		.parse_option = drop_option,
		.parse_end = drop_end,
		.print = drop_print,
		.equal = drop_equal,
	},
	[RULE_ACT_DELAY] = {
		.name = "delay",
		.example = "delay 10ms jitter 2ms correlation 25% distribution normal 50%",
		.follows = "jitter, correlation, distribution, P%, 'if' or ','",
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
		.instant = true,
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
		.instant = true,
		.example = "accept",
		.follows = "P%, 'if' or ','",
		.alone = true,
	},
	[RULE_ACT_SLOT] = {
		.name = "slot",
		.example = "slot 5ms 10ms packets 8 bytes 12000",
		.follows = "MAX, packets, bytes, P%, 'if' or ','",
		.parse_args = slot_args,
		.parse_option = slot_option,
		.print = slot_print,
		.equal = slot_equal,
	},
	[RULE_ACT_PROFILE] = {
		.name = "profile",
		.example = "profile 3g",
		.follows = "P%, 'if' or ','",
		.parse_args = profile_args,
		.print = profile_print,
		.equal = profile_equal,
	},
	/* TCP only: other packets pass (proxy/decide/act.c). */
	[RULE_ACT_RESET] = {
		.name = "reset",
		.example = "reset 5%",
		.follows = "P%, 'if' or ','",
	},
	/*
	 * TCP data segments only; the pieces are sent after the first
	 * (pipeline), 'gap' apart (toxiproxy slicer's delay), each of
	 * N +- 'vary' bytes drawn from the seed (its size_variation).
	 */
	[RULE_ACT_SEGMENT] = {
		.name = "segment",
		.example = "segment 4 vary 2 gap 1ms 50%",
		.follows = "vary, gap, P%, 'if' or ','",
		.whole_packet = true,
		.parse_args = segment_args,
		.parse_option = segment_option,
		.print = segment_print,
		.equal = segment_equal,
	},
};

const struct rule_action_ops *rule__action_ops(enum rule_action_type t)
{
	return (unsigned)t < RULE_ACT__COUNT ? &actions[t] : NULL;
}
