/* SPDX-License-Identifier: MIT */
/*
 * container: find a container's network namespace by its name, and watch a
 * namespace for its end. Not pure: it runs the engines' clients (`docker
 * inspect`, then `podman inspect`, whichever knows the name) and reads /proc.
 * Returns 0/-errno or a value; never prints.
 */
#ifndef FL_CONTAINER_H
#define FL_CONTAINER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * The PID of running container name's first process, asking `docker` and
 * then `podman` on PATH; the engine that answered is copied to engine (NULL:
 * not wanted). -ENOENT: no engine knows the name; -ESRCH: it exists but is
 * not running; -ENOEXEC: neither client is installed; other -errno.
 */
pid_t container_pid(const char *name, char *engine, size_t engine_len);

/*
 * What '@name' stands for in a filter, as libpcap takes it after "host":
 * "(A or B ...)" over every
 * address (IPv4 and IPv6, every network) of container name, written to out.
 * 0, -ENOENT (no engine knows it, or it has no address), -ENAMETOOLONG, -errno.
 */
int container_addrs(const char *name, char *out, size_t size);

/* A pidfd for pid (pidfd_open): readable once pid exits. fd or -errno. */
int container_pidfd(pid_t pid);

/*
 * The network namespace file path names, as (device, inode): 0 or -errno.
 * Two reads giving different pairs mean a different namespace.
 */
int container_ns_id(const char *path, unsigned long long *dev, unsigned long long *ino);

/* Interfaces of the calling thread's namespace other than loopback: a count or -errno. */
int container_links(void);

#endif
