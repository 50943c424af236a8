/* SPDX-License-Identifier: MIT */
/*
 * show: `faultline show EVENTS.jsonl [--flow N] [--color]`, a text ladder
 * diagram per TCP connection or other flow of an --events file. Fixed
 * width (100 columns) and no colour unless asked, so output can be
 * compared with a golden file.
 */
#ifndef FL_CLI_SHOW_H
#define FL_CLI_SHOW_H

#include <stdbool.h>
#include <stdio.h>

struct evlog;
struct evlog_conv;

/* The subcommand; argv[0] is its name. Returns the exit code: 0, 1 (bad file), 2 (usage). */
int cmd_show(int argc, char **argv);

/*
 * Read an events file ('-': standard input) into a finished log. A line
 * that is not JSON, or a known event missing what it needs, stops the
 * read with "FILE:LINE: ..." on stderr. Returns the log (caller frees
 * with evlog_free) or NULL after printing why.
 */
struct evlog *show_load(const char *path);

/* The ladder diagram of conversation conv (borrowed) into out. */
void show_conv(FILE *out, const struct evlog *log, const struct evlog_conv *conv, bool color);

#endif
