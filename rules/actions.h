/* SPDX-License-Identifier: MIT */
/*
 * actions: the syntax of each rule action, one const entry per action
 * (actions.c), found by its enum rule_action_type, as libnftnl finds an
 * expression's ops. rule.c parses, prints and compares rules through it
 * and knows no action by name. Private to rules/.
 *
 * This is the language half of an action. What an action does to a packet
 * is the decision half, in proxy/decide/act.c (a table indexed by the same
 * enum): rules/ must not know the decision core, which is built on it.
 *
 * Adding an action to the language: its enum constant and its arguments
 * (in the union) in rule.h, one entry here.
 */
#ifndef FL_RULE_ACTIONS_H
#define FL_RULE_ACTIONS_H

#include <stdbool.h>

#include "parser.h"
#include "rule.h"
#include "strbuf.h"

/* Options an action may take after its argument, for "given twice". */
#define RULE_ACTION_MAX_OPTS 4

/* A parse_option answer: the word is none of this action's options. */
#define RULE_ACTION_NOT_OPTION 1

struct rule_action_ops {
	const char *name;	/* the keyword */
	/* One canonical use of every argument and option; tests round-trip it. */
	const char *example;
	const char *follows;	/* what may follow its arguments, for messages */
	bool alone;		/* may not share a rule with another action */
	bool whole_packet;	/* copies or rewrites the packet: needs every byte */
	/*
	 * Decides at once from the packet alone: holds nothing, paces
	 * nothing, so it needs no arrival time. False (the safe side) for
	 * an action that delays, paces or sends later.
	 */
	bool instant;
	/*
	 * The positional argument after the keyword kw, where the action has
	 * one, and the options' defaults. NULL: neither.
	 */
	int (*parse_args)(struct rule_parser *p, const struct rule_tok *kw,
			  struct rule_action *a);
	/*
	 * The option word t (already taken): 0, -EINVAL, or
	 * RULE_ACTION_NOT_OPTION. seen[i] is the token of option i if it was
	 * given, for the action's own bookkeeping. NULL: no options.
	 */
	int (*parse_option)(struct rule_parser *p, const struct rule_tok *t,
			    struct rule_action *a, const struct rule_tok **seen);
	/* Checks once all options are read; NULL: none. */
	int (*parse_end)(struct rule_parser *p, struct rule_action *a,
			 const struct rule_tok *const *seen);
	/* The arguments after the name, canonical; NULL: none. */
	void (*print)(struct strbuf_fixed *o, const struct rule_action *a);
	/* The arguments are equal; NULL: it has none. */
	bool (*equal)(const struct rule_action *a, const struct rule_action *b);
};

/* The entry of action t (static), or NULL if t is out of range. */
const struct rule_action_ops *rule__action_ops(enum rule_action_type t);

#endif
