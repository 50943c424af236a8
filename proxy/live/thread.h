/* SPDX-License-Identifier: MIT */
/*
 * thread: start the helper threads of a run (the queue reader, the event
 * log's and the capture file's writers, the releasing thread). Signals
 * belong to the loop thread, so each starts with every signal blocked; a
 * blocked SIGPIPE also turns a reader that went away into EPIPE instead
 * of death. Threads keep their creator's capabilities: start them after
 * priv_keep_only() (or have the thread give them up itself).
 */
#ifndef FL_THREAD_H
#define FL_THREAD_H

#include <pthread.h>
#include <stdint.h>

/* pthread_create(t, SCHED_OTHER, fn, arg) with every signal blocked in the new thread. Returns 0 or -errno. */
int thread_start(pthread_t *t, void *(*fn)(void *), void *arg);

/*
 * The same, but the new thread runs SCHED_FIFO at prio (1-99): the
 * creator must be allowed to give it that (CAP_SYS_NICE, or an
 * RLIMIT_RTPRIO of at least prio). Returns 0 or -errno (-EPERM: not allowed).
 */
int thread_start_fifo(pthread_t *t, void *(*fn)(void *), void *arg, int prio);

/*
 * Ask the fair scheduler (EEVDF, Linux 6.12 and later) for slices of ns
 * for the calling thread, which stays SCHED_OTHER at its nice value: a
 * thread that runs briefly and asks for a short slice is let onto a busy
 * CPU sooner after it wakes, with the same share of CPU time. No
 * privilege needed; the kernel clamps ns to 0.1-100 ms, and kernels
 * before 6.12 take the call and ignore the slice. Returns 0 or -errno.
 */
int thread_short_slice(uint64_t ns);

#endif
