/* SPDX-License-Identifier: MIT */
/*
 * progress: feedback on long work, on standard error. A replay shows where
 * it is on one line rewritten in place (only on a terminal); 'run
 * --progress' prints a summary line of the counters every few seconds.
 */
#ifndef FL_CLI_PROGRESS_H
#define FL_CLI_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "replay.h"

/* Seconds between 'run --progress' lines when none are given. */
#define PROGRESS_RUN_DEFAULT_S 5

/* A replay's progress line: set up by progress_meter_init, fed by replay. */
struct progress_meter {
	FILE *f;		/* borrowed: where the line goes */
	const char *name;	/* borrowed: the input's name */
	struct timespec start, last;
	bool shown;		/* a line is on the screen, to be rewritten */
};

/* Start timing a replay of 'name' (borrowed) for lines on f (borrowed). */
void progress_meter_init(struct progress_meter *m, FILE *f, const char *name);

/*
 * replay_progress_cb for a progress_meter (data): rewrites the line at
 * most four times a second, and ends it, with the totals, when p->done.
 */
void progress_replay(const struct replay_progress *p, void *data);

/*
 * The line 'run --progress' prints, from the counters JSON (borrowed, as
 * proxy_stats_json gives it), into buf (copied, cut to len), without a
 * newline: "N packets, N held now, dropped: NAME N, rule 2 N". 0, or -1
 * when the JSON is not the counters.
 */
int progress_run_line(const char *stats_json, char *buf, size_t len);

#endif
