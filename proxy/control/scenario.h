/* SPDX-License-Identifier: MIT */
/*
 * scenario: the timeline file of `faultline run --scenario FILE`, parsed
 * (pure: text in, steps or a located error out; the file is read by the
 * caller). One step a line; blank lines and '#' comments are skipped:
 *
 *   at TIME STEP               at TIME after the run started (0s, 1.5s, 250ms, 2m)
 *   on CONDITION STEP          once, the first time CONDITION holds (wait.h)
 *   every CONDITION STEP       each time one of CONDITION's counts grows while it holds
 *                              (each connection entering a state, each retransmission)
 *
 *   STEP := add [NAME: ]RULE   add a rule at the end of the set
 *         | del NAME | enable NAME | disable NAME
 *         | replace FILE        the whole set from a rules file (relative to the scenario's folder)
 *         | end                 stop faultline, as SIGTERM does
 *
 * Rule text is checked here as the rule parser takes it, and each error
 * is located in the scenario file (FILE:LINE:COL). What a step does is the
 * control API's operation of the same name.
 */
#ifndef FL_SCENARIO_H
#define FL_SCENARIO_H

#include <stddef.h>
#include <stdint.h>

/* Bytes in one scenario file; steps in one. */
#define SCENARIO_MAX_FILE (1u << 20)
#define SCENARIO_MAX_STEPS 10000u

enum scenario_when {
	SCENARIO_AT,		/* at a time */
	SCENARIO_ON,		/* once, when the condition first holds */
	SCENARIO_EVERY,		/* each time the condition's counts grow while it holds */
};

enum scenario_op {
	SCENARIO_ADD,
	SCENARIO_DEL,
	SCENARIO_ENABLE,
	SCENARIO_DISABLE,
	SCENARIO_REPLACE,
	SCENARIO_END,
};

struct scenario_step {
	int line;			/* in the file, from 1 */
	enum scenario_when when;
	uint64_t at_ns;			/* SCENARIO_AT */
	char *condition;		/* SCENARIO_ON, SCENARIO_EVERY: as wait_parse() takes it */
	enum scenario_op op;
	char *name;			/* add (NULL: unnamed), del, enable, disable */
	char *rule;			/* add: the rule's text without its name */
	char *path;			/* replace: the rules file, resolved against the scenario's folder */
	char *text;			/* the line, trimmed: what the event log shows */
};

/* All strings owned by the scenario. */
struct scenario {
	struct scenario_step *steps;	/* in file order */
	size_t n;
};

/* A located error, printed "file:line:col: msg" (file borrowed from the caller). */
struct scenario_error {
	const char *file;
	int line;		/* 0: about the file as a whole */
	int col;		/* 1-based; 0: about the line */
	char msg[600];
};

/*
 * Parse len bytes of a scenario file's text; file names it in errors and
 * resolves replace paths (borrowed). NULL with errno EINVAL (err says
 * where and why: a bad step, time, condition, name or rule, a file over
 * SCENARIO_MAX_FILE or with more than SCENARIO_MAX_STEPS steps, no step at
 * all) or ENOMEM.
 */
struct scenario *scenario_parse(const char *text, size_t len, const char *file,
				struct scenario_error *err);

/* The step's operation as the control API names it ("add", "del", ...). Static. */
const char *scenario_op_name(enum scenario_op op);

/* NULL-safe. */
void scenario_free(struct scenario *s);

#endif
