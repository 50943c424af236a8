// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "inject.h"

#ifndef IPV6_HDRINCL
#define IPV6_HDRINCL 36
#endif

/* Segment size for cutting super-packets: fits a 1500-byte MTU with options. */
#define SEG_PAYLOAD 1400

struct inject {
	int fd4, fd6;
	uint8_t buf[0x10000];
};

static int open_raw(int family, uint32_t mark)
{
	int fd = socket(family, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	int one = 1;

	if (fd < 0)
		return -errno;
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_HDRINCL, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark))) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

struct inject *inject_open(uint32_t mark)
{
	struct inject *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->fd4 = open_raw(AF_INET, mark);
	if (j->fd4 < 0) {
		int e = -j->fd4;

		free(j);
		errno = e;
		return NULL;
	}
	/* A namespace without IPv6 still works for IPv4. */
	j->fd6 = open_raw(AF_INET6, mark);
	return j;
}

void inject_close(struct inject *j)
{
	if (!j)
		return;
	if (j->fd4 >= 0)
		close(j->fd4);
	if (j->fd6 >= 0)
		close(j->fd6);
	free(j);
}

static int send_raw(struct inject *j, const struct pkt_view *v, const uint8_t *data, size_t len)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t sl;
	int fd;

	if (v->family == 4) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, v->daddr, 4);
		sl = sizeof(*s4);
		fd = j->fd4;
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, v->daddr, 16);
		sl = sizeof(*s6);
		fd = j->fd6;
	}
	if (fd < 0)
		return -EAFNOSUPPORT;
	if (sendto(fd, data, len, 0, (struct sockaddr *)&ss, sl) < 0)
		return -errno;
	return 1;
}

static void put16(uint8_t *p, uint16_t x)
{
	p[0] = x >> 8;
	p[1] = x & 0xff;
}

static void put32(uint8_t *p, uint32_t x)
{
	put16(p, x >> 16);
	put16(p + 2, x & 0xffff);
}

/*
 * Cut a TCP super-packet the way the kernel's tcp_gso_segment does: same
 * headers, consecutive sequence numbers, FIN and PSH only on the last piece.
 */
static int send_segmented(struct inject *j, const struct pkt_view *v)
{
	uint32_t hdr = v->payload_off, off = 0;
	int sent = 0;

	while (off < v->payload_len) {
		uint32_t n = v->payload_len - off < SEG_PAYLOAD ? v->payload_len - off : SEG_PAYLOAD;
		bool last = off + n == v->payload_len;
		struct pkt_view sv;
		uint8_t *b = j->buf;
		int ret;

		memcpy(b, v->data, hdr);
		memcpy(b + hdr, v->data + hdr + off, n);
		if (v->family == 4)
			put16(b + 2, (uint16_t)(hdr + n));
		else
			put16(b + 4, (uint16_t)(hdr + n - 40));
		put32(b + v->l4_off + 4, v->seq + off);
		if (!last)
			b[v->l4_off + 13] &= (uint8_t)~(PKT_TCP_FIN | PKT_TCP_PSH);
		if (pkt_parse(&sv, b, hdr + n) || pkt_fix_checksums(b, hdr + n, &sv))
			return sent ? sent : -EBADMSG;
		ret = send_raw(j, &sv, b, hdr + n);
		if (ret < 0)
			return sent ? sent : ret;
		sent++;
		off += n;
	}
	return sent;
}

int inject_send(struct inject *j, const struct pkt_view *v)
{
	int ret;

	if (v->len > sizeof(j->buf))
		return -EMSGSIZE;
	/*
	 * The copy goes out with complete checksums: the original may have had
	 * them left to offload (CHECKSUM_PARTIAL), which a raw send does not do.
	 */
	memcpy(j->buf, v->data, v->len);
	if (!v->fragment) {
		struct pkt_view cv;

		if (pkt_parse(&cv, j->buf, v->len) == 0)
			pkt_fix_checksums(j->buf, v->len, &cv);
	}
	ret = send_raw(j, v, j->buf, v->len);
	if (ret == -EMSGSIZE && v->l4proto == IPPROTO_TCP && v->has_l4 && v->payload_len &&
	    v->payload_off < 200)
		ret = send_segmented(j, v);
	return ret;
}
