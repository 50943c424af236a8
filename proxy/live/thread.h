/* SPDX-License-Identifier: MIT */
/*
 * thread: start the helper threads of a run (the queue reader, the event
 * log's and the capture file's writers). Signals belong to the loop
 * thread, so each starts with every signal blocked; a blocked SIGPIPE
 * also turns a reader that went away into EPIPE instead of death. Threads
 * keep their creator's capabilities: start them after priv_keep_only().
 * They run SCHED_OTHER whatever their creator's scheduling class.
 */
#ifndef FL_THREAD_H
#define FL_THREAD_H

#include <pthread.h>

/* pthread_create(t, SCHED_OTHER, fn, arg) with every signal blocked in the new thread. Returns 0 or -errno. */
int thread_start(pthread_t *t, void *(*fn)(void *), void *arg);

#endif
