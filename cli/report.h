/* SPDX-License-Identifier: MIT */
/*
 * report: `faultline report EVENTS.jsonl [-o FILE] [--flow N]`, one
 * self-contained HTML file (inline SVG and CSS; no script, nothing
 * fetched) with a ladder diagram per flow and tables of counters.
 */
#ifndef FL_CLI_REPORT_H
#define FL_CLI_REPORT_H

#include <stdio.h>

struct evlog;

/* The subcommand; argv[0] is its name. Returns the exit code: 0, 1 (bad file), 2 (usage). */
int cmd_report(int argc, char **argv);

/*
 * Write the report of log (borrowed, finished) to out. source names the
 * events file in the text. only: a conversation id (--flow), or 0 for
 * all. Every packet drawn is one SVG element of class "pkt". Returns 0
 * or -EIO.
 */
int report_write(FILE *out, const struct evlog *log, const char *source, unsigned only);

#endif
