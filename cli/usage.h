/* SPDX-License-Identifier: MIT */
/*
 * usage: the --help text. Every default it names is printed from the
 * constant the code uses (PROXY_DEFAULT_*, PIPELINE_DEFAULT_*, ...), so
 * the text cannot drift from what a run does.
 */
#ifndef FL_CLI_USAGE_H
#define FL_CLI_USAGE_H

#include <stdio.h>

/* Print the usage text to f (borrowed). */
void usage_print(FILE *f);

#endif
