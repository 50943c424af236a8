/* SPDX-License-Identifier: MIT */
/*
 * filter: the libpcap half of the rules module, private to rules/.
 * Compiles a tcpdump expression for raw IP (DLT_RAW: IPv4 and IPv6, data
 * starting at the IP header) and runs it over packet bytes.
 */
#ifndef FL_RULES_FILTER_H
#define FL_RULES_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rule_filter;

/*
 * Compile expr (borrowed, non-empty) into a new filter stored in *out.
 * Returns 0, -EINVAL with libpcap's reason copied into msg, or -ENOMEM.
 */
int rule__filter_compile(const char *expr, struct rule_filter **out, char *msg,
			 size_t msg_size);

/* Frees the filter and its BPF program. NULL-safe. */
void rule__filter_free(struct rule_filter *f);

/* Runs the program over len bytes at data (borrowed). */
bool rule__filter_run(const struct rule_filter *f, const uint8_t *data, uint32_t len);

#endif
