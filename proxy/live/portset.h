/* SPDX-License-Identifier: MIT */
/*
 * portset: the ipset sets behind a kfilter plan's port sets (kfilter.h),
 * made and destroyed with the ipset tool (ipset restore takes a script, as
 * iptables-restore does). One bitmap:port set (range 0-65535: 8 KiB,
 * family-less, so iptables and ip6tables share it) per hook, protocol and
 * side, named FAULTLINE-<queue>-<gen>-<hook><t|u><s|d>, e.g.
 * FAULTLINE-4242-1-inud: the chain's prefix and queue, so that the queue's
 * owner and 'faultline cleanup' know them, and a generation, so that a
 * reload fills the new sets beside the old ones the jumps still use.
 * Sets belong to the network namespace, like the chains. Runs in the
 * calling thread's namespace.
 */
#ifndef FL_PORTSET_H
#define FL_PORTSET_H

#include <stdbool.h>
#include <stdint.h>

#include "ipt.h"
#include "kfilter.h"
#include "strbuf.h"

/* ipset's limit on a set's name, with its NUL (IPSET_MAXNAMELEN). */
#define PORTSET_NAME_LEN 32
/* Generations wrap below this, so that every name fits. */
#define PORTSET_MAX_GEN 1000000000u

/* Does the plan have a set that needs ipset (not a protocol queued whole)? Pure. */
bool portset_needed(const struct kfilter *k);

/* The name of set s (borrowed) of hook h, queue and gen, into name. Pure. */
void portset_name(uint16_t queue, uint32_t gen, enum pkt_dir h, const struct kfilter_portset *s,
		  char name[static PORTSET_NAME_LEN]);

/*
 * Append to *script the 'ipset restore' lines creating and filling the
 * plan's sets under queue and gen. Returns how many sets, or -ENOMEM. Pure.
 */
int portset_create_script(const struct kfilter *k, uint16_t queue, uint32_t gen, struct strbuf *script);

/*
 * Is name (len bytes) a set of faultline: FAULTLINE-<queue>-<gen>-...?
 * Fills *queue and *gen. Pure.
 */
bool portset_parse_name(const char *name, size_t len, uint16_t *queue, uint32_t *gen);

/*
 * Create and fill k's sets (borrowed) for queue under gen. On failure
 * none of them stays. Returns 0 or -errno (-ENOENT: ipset is not
 * installed), the detail in *e (tool "ipset").
 */
int portset_create(const struct kfilter *k, uint16_t queue, uint32_t gen, struct ipt_error *e);

/* Keep-all-but argument of portset_destroy: no generation is kept. */
#define PORTSET_NONE_KEPT UINT32_MAX

/*
 * Destroy the sets of queue, but those of generation 'keep' (or none:
 * PORTSET_NONE_KEPT). A set a rule still uses cannot be destroyed: call
 * after its jumps are gone. Without ipset installed there is nothing to
 * destroy. Returns how many went, or -errno (detail in *e).
 */
int portset_destroy(uint16_t queue, uint32_t keep, struct ipt_error *e);

/*
 * Destroy the sets of every queue that nobody holds (ipt_queue_owner):
 * those of crashed runs. Returns how many went, or -errno.
 */
int portset_cleanup(struct ipt_error *e);

/*
 * Both at once, with one listing of the sets: queue's (every generation)
 * and those of every queue nobody holds. Returns how many went, or -errno.
 */
int portset_sweep(uint16_t queue, struct ipt_error *e);

#endif
