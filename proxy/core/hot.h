/* SPDX-License-Identifier: MIT */
/*
 * hot: marks the functions every packet runs. GCC puts them together in
 * .text.hot, so a packet that arrives after an idle spell, when code and
 * data have left the caches and TLBs, misses a few pages of code instead
 * of one per module (the cold path of a lone ping, bench/run.sh). Cold
 * marks code the packets pass only when logging or on errors, out of
 * their way.
 */
#ifndef FL_HOT_H
#define FL_HOT_H

#define FL_HOT __attribute__((hot))
#define FL_COLD __attribute__((cold))

#endif
