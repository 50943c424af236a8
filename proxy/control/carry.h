/* SPDX-License-Identifier: MIT */
/*
 * carry: the counters of the runs that came before, added to this run's.
 * A run that follows a restarted container (--container) starts over as a
 * new process in the new namespace; the old one's last counters JSON
 * (proxy_stats_json's) is carried over, and every counter the new one
 * shows is the sum, so that one faultline has one set of counters. Pure
 * (jansson only): JSON text in, JSON text out.
 *
 * What is added: every integer member that counts (top level, each rule
 * matched by name, each queue by its number, the tracker's "tcp"), not
 * what describes the run now or who it is: seed, queue, copy_range,
 * held_now, held_bytes_now, flows, queue_programs, queue_sets, queue_reasons_total,
 * netns_follows (the caller's own), a rule's index and line, a queue's
 * held_now, the tracker's active and records_in_use. The connections
 * list is not carried: those connections were in the old namespace. A
 * rule or queue the earlier run did not have starts from its own counts;
 * one it had that is gone now is not shown.
 */
#ifndef FL_CARRY_H
#define FL_CARRY_H

#include <stdint.h>

struct carry;

/*
 * The earlier run's counters, from its counters JSON text (copied). NULL
 * with errno EINVAL (not a JSON object) or ENOMEM.
 */
struct carry *carry_new(const char *json);

/* NULL-safe. */
void carry_free(struct carry *c);

/* The earlier run's seed, into *seed: 0, or -ENOENT (it has none). */
int carry_seed(const struct carry *c, uint64_t *seed);

/*
 * now (a counters JSON text, borrowed) with c's counts added, as new JSON
 * text (caller frees); c NULL: a copy of now. NULL with errno EINVAL (now
 * is not a JSON object) or ENOMEM.
 */
char *carry_add(const struct carry *c, const char *now);

#endif
