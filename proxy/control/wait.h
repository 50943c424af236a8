/* SPDX-License-Identifier: MIT */
/*
 * wait: the conditions of `faultline ctl wait` and POST /wait, and of a
 * scenario's triggers: a parser and an evaluator, pure (text in, a yes or
 * no out; no clock, no socket), so that the unit tests and the fuzzer
 * drive them as the live run does.
 *
 *   CONDITION := TERM { "and" TERM }
 *   TERM      := COUNTER OP NUMBER
 *              | [ "conn" SELECTOR ] "state" STATE
 *              | [ "conn" SELECTOR ] SEGMENTS OP NUMBER
 *   COUNTER   := RULE "." KEY        a rule's counter: slow-db.dropped, rule-2.matched
 *              | "total." KEY        a run total: total.dropped, total.packets, total.held_now
 *              | "held"              packets held now (total.held_now)
 *   SELECTOR  := { "host" ADDRESS | "port" NUMBER }   each must hold for one endpoint
 *   STATE     := ESTABLISHED, TIME_WAIT, ... (either endpoint enters it)
 *   SEGMENTS  := "retransmissions" | "out-of-order" | "dup-acks"
 *   OP        := ">=" | ">" | "==" | "!=" | "<=" | "<"
 *
 * Counters are the stats' (GET /stats), read afresh each time the caller
 * feeds them (wait_feed_stats). Tracker terms never miss a transient
 * state: they start from the counters' connection summaries at the
 * instant the wait starts (every state each endpoint reached, its counts)
 * and add every event line fed after it (transitions, segment classes),
 * so a connection that passed through a state and left it counts.
 * The condition holds when every term holds at once.
 */
#ifndef FL_WAIT_H
#define FL_WAIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest condition text, in bytes. */
#define WAIT_MAX_TEXT 4096
/* Most terms in one condition. */
#define WAIT_MAX_TERMS 16

/* Why a condition was refused: the column (from 1) of the offending word and why. */
struct wait_error {
	int col;		/* 0: not about one place (a rule missing at the start) */
	char msg[256];
};

struct wait;

/*
 * Parse the whole of text. NULL with errno EINVAL (err says where and
 * why) or ENOMEM.
 */
struct wait *wait_parse(const char *text, struct wait_error *err);

/*
 * Parse a condition at the start of text and stop before the first word
 * that cannot continue it (a scenario step after an 'on' trigger):
 * *used is the bytes taken, trailing blanks included. As wait_parse.
 */
struct wait *wait_parse_prefix(const char *text, size_t *used, struct wait_error *err);

/*
 * Start evaluating from the counters JSON (as proxy_stats_json, len bytes)
 * of the instant the event lines fed later follow. Returns 0, -ENOENT
 * (a rule the condition names is not in the set: err says which) or
 * -EINVAL (a counter key the rule or the totals lack, or text that is not
 * the counters JSON).
 */
int wait_start(struct wait *w, const char *stats, size_t len, struct wait_error *err);

/* Newer counters (for counter terms; tracker terms ignore them). 0 or -EINVAL. */
int wait_feed_stats(struct wait *w, const char *stats, size_t len);

/* Event lines that followed (whole lines, len bytes); lines that do not parse are skipped. */
void wait_feed_lines(struct wait *w, const char *lines, size_t len);

/* Every term holds. */
bool wait_met(const struct wait *w);

/* Has counter terms: the caller should feed fresh counters as events come. */
bool wait_wants_stats(const struct wait *w);

/* Has tracker terms: the caller should feed event lines (wait_feed_lines). */
bool wait_wants_events(const struct wait *w);

/* The terms: how many, each's text as written (borrowed), its value now and whether it holds. */
unsigned wait_terms(const struct wait *w);
const char *wait_term_text(const struct wait *w, unsigned i);
/* A counter's value; a count of segments; for a state, how many times an endpoint entered it. */
uint64_t wait_term_value(const struct wait *w, unsigned i);
bool wait_term_holds(const struct wait *w, unsigned i);

/* NULL-safe. */
void wait_free(struct wait *w);

#endif
