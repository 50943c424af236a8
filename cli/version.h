/* SPDX-License-Identifier: MIT */
#ifndef FL_CLI_VERSION_H
#define FL_CLI_VERSION_H

#include <stdio.h>

/*
 * 'faultline --version': "faultline X.Y.Z (commit C)" then one line per
 * library faultline runs with (libpcap, libuv, libnetfilter_queue, libmnl),
 * each saying whether the version is the one loaded (run time) or the one
 * built against. Write errors are left in f's error flag for the caller.
 */
void version_print(FILE *f);

#endif
