/* SPDX-License-Identifier: MIT */
/*
 * flow: a bounded table of flows (any protocol) that gives each packet its
 * identity for seeded decisions: the flow's hash, which way it goes inside
 * the flow, and its 1-based ordinal among the flow's packets that way.
 * Pure; time comes in as an argument.
 */
#ifndef FL_FLOW_H
#define FL_FLOW_H

#include <stdbool.h>
#include <stdint.h>

#include "packet.h"

struct flow_table;

struct flow_id {
	uint64_t hash;		/* pkt_flow_hash of the canonical key */
	uint32_t way;		/* 0: from the key's first end, 1: the other way */
	uint64_t ordinal;	/* 1-based count of packets this way, this one included */
};

/* A table of up to max flows. NULL + errno. */
struct flow_table *flow_table_new(uint32_t max);
void flow_table_free(struct flow_table *t);

#define FLOW_SLOT_BYTES 16

/*
 * Identify v. When the table is full the flow idle longest among a few
 * probed slots is evicted (counted), so a flow may restart its ordinals
 * after a long silence under pressure. Never fails. Returns
 * FLOW_SLOT_BYTES of the flow's entry that are the caller's: zeroed when
 * the flow enters the table, else left alone (faultline's rules keep
 * their filter memo there); valid until the next call.
 */
void *flow_table_identify(struct flow_table *t, const struct pkt_view *v, uint64_t now_ns,
			  struct flow_id *id);

uint64_t flow_table_evictions(const struct flow_table *t);
uint32_t flow_table_count(const struct flow_table *t);

#endif
