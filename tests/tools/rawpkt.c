// SPDX-License-Identifier: MIT
/*
 * rawpkt: send broken IPv4 packets through a raw socket (IP_HDRINCL), for
 * the integration tests of how faultline treats what it cannot parse.
 *   rawpkt DST_IPV4 COUNT [KIND]
 * KIND (default tcp-short):
 *   tcp-short   protocol TCP, only 8 bytes of TCP header (28 bytes in all)
 *   tcp-doff    protocol TCP, a 20-byte TCP header whose data offset says
 *               15 words (60 bytes) (40 bytes in all)
 *   udp-short   protocol UDP, only 4 bytes of UDP header (24 bytes in all)
 *   udp-len     protocol UDP, a whole UDP header whose length field says
 *               200 while 8 + 8 bytes follow the IP header (36 bytes in all)
 *   ihl15       protocol TCP, IHL 15 (a 60-byte IP header of EOL options)
 *               and nothing after it (60 bytes in all)
 * The kernel fills in source address, id, total length and IP checksum
 * (raw(7)); it refuses an IHL longer than the packet. Prints "sent N LEN"
 * (N packets accepted by sendto, LEN bytes each) and exits 1 if any failed.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static size_t build(const char *kind, uint8_t *p, struct in_addr dst, long i)
{
	size_t ihl = 20, len;

	memset(p, 0, 128);
	if (!strcmp(kind, "tcp-short")) {
		len = 28;
	} else if (!strcmp(kind, "tcp-doff")) {
		len = 40;
	} else if (!strcmp(kind, "udp-short")) {
		len = 24;
	} else if (!strcmp(kind, "udp-len")) {
		len = 36;
	} else if (!strcmp(kind, "ihl15")) {
		ihl = 60;
		len = 60;
	} else {
		return 0;
	}
	p[0] = (uint8_t)(0x40 | (ihl / 4));
	p[8] = 64;					/* TTL */
	p[9] = kind[0] == 'u' ? IPPROTO_UDP : IPPROTO_TCP;
	memcpy(p + 16, &dst, 4);			/* source 0: the kernel fills it in */
	/* Transport ports 40000 > 9 (discard): nobody answers. */
	p[ihl] = 40000 >> 8;
	p[ihl + 1] = 40000 & 0xff;
	if (len >= ihl + 4)
		p[ihl + 3] = 9;
	if (!strcmp(kind, "tcp-short") || !strcmp(kind, "tcp-doff")) {
		/* Sequence number: the packet's index, so copies are told apart in a capture. */
		p[ihl + 4] = (uint8_t)(i >> 24);
		p[ihl + 5] = (uint8_t)(i >> 16);
		p[ihl + 6] = (uint8_t)(i >> 8);
		p[ihl + 7] = (uint8_t)i;
	}
	if (!strcmp(kind, "tcp-doff")) {
		p[ihl + 12] = 15 << 4;		/* data offset 15 words */
		p[ihl + 13] = 0x10;		/* ACK */
		p[ihl + 15] = 0xff;		/* window */
	}
	if (!strcmp(kind, "udp-len")) {
		p[ihl + 5] = 200;		/* UDP length 200 > 16 */
		memcpy(p + ihl + 8, "garbage!", 8);
	}
	return len;
}

int main(int argc, char **argv)
{
	const char *kind = argc > 3 ? argv[3] : "tcp-short";
	struct sockaddr_in sa = { .sin_family = AF_INET };
	long count, sent = 0;
	uint8_t pkt[128];
	size_t len = 0;
	int fd;

	if (argc < 3 || inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1 ||
	    (count = atol(argv[2])) < 0 || !build(kind, pkt, sa.sin_addr, 0)) {
		fprintf(stderr, "usage: rawpkt DST_IPV4 COUNT [tcp-short|tcp-doff|udp-short|udp-len|ihl15]\n");
		return 2;
	}
	/* IPPROTO_RAW implies IP_HDRINCL. */
	fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	if (fd < 0) {
		perror("rawpkt: socket");
		return 1;
	}
	for (long i = 0; i < count; i++) {
		ssize_t n;

		len = build(kind, pkt, sa.sin_addr, i);
		n = sendto(fd, pkt, len, 0, (struct sockaddr *)&sa, sizeof(sa));
		if (n == (ssize_t)len)
			sent++;
		else if (n < 0)
			perror("rawpkt: sendto");
		/* Paced a little: the point is what arrives, not how fast. */
		usleep(200);
	}
	close(fd);
	printf("sent %ld %zu\n", sent, len);
	return sent == count ? 0 : 1;
}
