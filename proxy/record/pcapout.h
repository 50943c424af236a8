/* SPDX-License-Identifier: MIT */
/*
 * pcapout: the --pcap capture file. A pcapng file (written by Wireshark's
 * libwiretap) with two raw-IP interfaces, "in" for packets as captured and
 * "out" for packets as released, nanosecond timestamps and an optional
 * comment per packet. The same calls with the same arguments give the same
 * bytes: nothing host- or time-dependent goes into the file.
 */
#ifndef FL_PCAPOUT_H
#define FL_PCAPOUT_H

#include <stddef.h>
#include <stdint.h>

struct pcapout;

/* Snapshot length written in both interface descriptions (libpcap's). */
#define PCAPOUT_SNAPLEN 262144u

enum pcapout_iface {
	PCAPOUT_IN = 0,		/* as captured */
	PCAPOUT_OUT = 1,	/* as released */
};

/*
 * Why pcapout_open failed beyond errno, in wiretap's own words, for the
 * caller to quote after the file's name: 'lib' is wtap_strerror() of the
 * failure ("" when it was no wiretap call: then strerror(errno) says it),
 * 'info' wiretap's further detail ("" if none).
 */
struct pcapout_error {
	char lib[160];
	char info[256];
};

/*
 * Create (truncate) path and write the section header and both interface
 * descriptions. path is borrowed. Returns NULL with errno set on failure,
 * and the detail in *e (e may be NULL). The first call runs wtap_init() for
 * the process (nothing else may call it again) and mutes wsutil's log output.
 */
struct pcapout *pcapout_open(const char *path, struct pcapout_error *e);

/*
 * Append one packet: data[0..caplen) are the first bytes of a raw IPv4 or
 * IPv6 packet of len bytes, ts_ns its Unix time in nanoseconds. data and
 * comment (UTF-8, may be NULL) are copied. Returns 0, -EINVAL for a bad
 * iface or caplen > len, -EMSGSIZE for caplen above the snapshot length or a
 * comment over 65535 bytes (nothing written), or -errno from the write
 * (-EIO for wiretap's own errors). A write error is final: later writes and
 * pcapout_close() return it again. A pipe, FIFO or device gets the block at
 * once (flushed); a regular file is buffered.
 */
int pcapout_write(struct pcapout *o, enum pcapout_iface iface, uint64_t ts_ns,
		  const uint8_t *data, uint32_t caplen, uint32_t len, const char *comment);

/*
 * Wait up to timeout_ms until the file takes the block of a packet of
 * caplen bytes with comment (borrowed) without blocking: 1 (at once for a
 * regular file, or after a failed write: the write reports it), 0 when
 * the time ran out, or -errno. A pipe or FIFO gets every block in one go
 * (flushed by pcapout_write): if its reader stops, it holds whole blocks
 * (those up to PIPE_BUF bytes, and larger ones that fit the empty pipe).
 */
int pcapout_wait_room(struct pcapout *o, uint32_t caplen, const char *comment, int timeout_ms);

/*
 * Flush, close and free o. NULL-safe. Returns 0 or -errno (the first write
 * error, if there was one); a file that failed is cut back to its last
 * whole block, so that it still reads as a (shorter) capture.
 */
int pcapout_close(struct pcapout *o);

#endif
