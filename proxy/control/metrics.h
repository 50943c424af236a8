/* SPDX-License-Identifier: MIT */
/*
 * metrics: faultline's counters in the Prometheus text exposition format
 * (version 0.0.4), for GET /metrics. Pure formatting: the input is the
 * statistics JSON of proxy_stats_json (SIGUSR1's line), the output text.
 *   totals        faultline_packets_total, faultline_dropped_total, ...
 *   held now      faultline_held_packets, faultline_held_bytes (gauges)
 *   per rule      faultline_rule_matched_total{rule="NAME"}, ..._dropped_total, ...
 *                 one family per counter of the stats' rule objects
 *   tracker       faultline_tcp_connections_total, ..._active, ...
 * A key the stats lack is left out; a rule without a "name" is labelled
 * rule-N after its "index".
 */
#ifndef FL_METRICS_H
#define FL_METRICS_H

#include <jansson.h>

/* The Content-Type of the text. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/*
 * The exposition of stats (borrowed: the statistics object). Returns
 * malloc'd text (caller frees), or NULL with errno EINVAL (stats is not an
 * object) or ENOMEM.
 */
char *metrics_format(const json_t *stats);

#endif
