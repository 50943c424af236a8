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
struct bpf_insn;

/*
 * Compile expr (borrowed, non-empty) into a new filter stored in *out.
 * Returns 0, -EINVAL with libpcap's reason copied into msg, or -ENOMEM.
 */
int rule__filter_compile(const char *expr, struct rule_filter **out, char *msg,
			 size_t msg_size);

/* Frees the filter and its BPF program. NULL-safe. */
void rule__filter_free(struct rule_filter *f);

/*
 * Runs the program over the caplen bytes at data (borrowed) of a packet of
 * wirelen bytes.
 */
bool rule__filter_run(const struct rule_filter *f, const uint8_t *data, uint32_t caplen,
		      uint32_t wirelen);

/*
 * How many leading bytes of a packet the program can read: enough to copy
 * so that it decides as it would on the whole packet. UINT32_MAX when a
 * load's offset is not bounded (an index taken from packet data).
 */
uint32_t rule__filter_reach(const struct rule_filter *f);

/* Bytes a BPF load instruction reads. */
uint32_t rule__filter_load_size(uint16_t code);

/* The compiled program (borrowed): *len instructions. */
const struct bpf_insn *rule__filter_insns(const struct rule_filter *f, unsigned *len);

#endif
