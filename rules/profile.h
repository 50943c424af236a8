/* SPDX-License-Identifier: MIT */
/*
 * profile: named link profiles ('profile 3g'), each a bundle of delay,
 * jitter, loss and rate for each direction, with the source of its figures.
 * A static table; the decision core reads the figures, 'faultline check'
 * prints what a profile expands to.
 */
#ifndef FL_RULE_PROFILE_H
#define FL_RULE_PROFILE_H

#include <stdint.h>

#include "strbuf.h"

struct rule_profile_dir {
	uint64_t delay_ns;
	uint64_t jitter_ns;	/* uniform, +- */
	uint32_t loss_ppm;	/* 0: none */
	uint64_t rate_bps;	/* 0: no limit */
};

struct rule_profile {
	const char *name;
	const char *source;	/* where the figures come from */
	/* up: packets a local socket sends (out); down: the others (in, fwd). */
	struct rule_profile_dir up, down;
};

/* Profile id (static), or NULL past the last. */
const struct rule_profile *rule_profile_get(unsigned id);
/* The id of the profile called name, or -1. */
int rule_profile_lookup(const char *name);
/* The names, ", "-separated, for messages. */
void rule_profile_names(struct strbuf_fixed *o);
/*
 * What profile id does each way, in the rules' words:
 * "out: delay 125ms, drop 1.5%, rate 750kbit; in, fwd: ...".
 */
void rule_profile_expand(struct strbuf_fixed *o, unsigned id);

#endif
