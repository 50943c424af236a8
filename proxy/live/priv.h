/* SPDX-License-Identifier: MIT */
/*
 * priv: give up, once set up, every capability the packet path does not
 * need (libcap-ng). Capabilities are a property of each thread, and new
 * threads inherit their creator's: call this before starting any thread.
 * faultline stays uid 0; what limits it is the capability sets and
 * no_new_privs, so a program it runs (iptables-restore, at exit) gets no
 * more than the bounding set that is left.
 */
#ifndef FL_PRIV_H
#define FL_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Keep only the n capabilities in keep (CAP_* numbers, borrowed) that the
 * calling thread holds now, in its effective, permitted and inheritable
 * sets; drop every other one from the bounding set as well when
 * CAP_SETPCAP allows it (without CAP_SETPCAP the bounding set stays as it
 * was given, e.g. by a container runtime); then set no_new_privs.
 * Returns 0 or -errno.
 */
int priv_keep_only(const unsigned *keep, size_t n);

/* Does the calling thread hold capability cap (a CAP_* number) in its effective set? */
bool priv_has(unsigned cap);

#endif
