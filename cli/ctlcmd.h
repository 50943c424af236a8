/* SPDX-License-Identifier: MIT */
/*
 * ctlcmd: `faultline ctl [--control PATH | --queue N [--netns NAME]]
 * [--json] COMMAND ...`, the control socket's client. It sends one JSON
 * request line, prints the reply (a table of rules by default, the raw
 * reply line with --json) and exits 0 on success, 1 when the request was
 * refused or faultline could not be reached (the reason on stderr), 2 on a
 * usage error, CTLCMD_EXIT_TIMEOUT when a wait timed out.
 */
#ifndef FL_CLI_CTLCMD_H
#define FL_CLI_CTLCMD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#define CTLCMD_EXIT_TIMEOUT 3

/*
 * The control socket `faultline run` listens on by default:
 * /run/faultline/queue-N.sock, or /run/faultline/NAME.queue-N.sock for
 * --netns NAME (queue numbers are per namespace).
 */
void ctlcmd_default_path(char *buf, size_t size, const char *netns, unsigned queue);

/*
 * Rule objects (a reply's "rules" array, or one "rule") as a table: index,
 * name, enabled, matched, the other counters that are not 0, the rule.
 */
void ctlcmd_print_rules(FILE *f, json_t *rules);

/* The subcommand; argv[0] is its name. Returns the exit code. */
int cmd_ctl(int argc, char **argv);

#endif
