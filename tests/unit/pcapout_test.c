// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wiretap/wtap.h>

#include "pcapout.h"

#define TSHARK "/usr/bin/tshark"

/* A fresh, empty file name; the caller unlinks it. */
static void tmp_path(char *buf, size_t size)
{
	int fd;

	snprintf(buf, size, "/tmp/pcapout_test.XXXXXX");
	fd = mkstemp(buf);
	cr_assert(fd >= 0, "mkstemp: %s", strerror(errno));
	close(fd);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void ip4_csum(uint8_t *h)
{
	uint32_t sum = 0;

	put16(h + 10, 0);
	for (int i = 0; i < 20; i += 2)
		sum += (uint32_t)h[i] << 8 | h[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	put16(h + 10, (uint16_t)~sum);
}

/* IPv4 10.0.0.1 -> 10.0.0.2 carrying UDP 1000->2000 or a TCP SYN 1000->2000. */
static uint32_t build_ip4(uint8_t *b, uint8_t proto, uint8_t fill, uint32_t payload)
{
	uint32_t l4 = proto == 17 ? 8 : 20, total = 20 + l4 + payload;

	memset(b, 0, total);
	b[0] = 0x45;
	put16(b + 2, (uint16_t)total);
	b[8] = 64;
	b[9] = proto;
	b[12] = 10, b[15] = 1;
	b[16] = 10, b[19] = 2;
	ip4_csum(b);
	put16(b + 20, 1000);
	put16(b + 22, 2000);
	if (proto == 17) {
		put16(b + 24, (uint16_t)(8 + payload));
	} else {
		b[32] = 5 << 4;		/* data offset */
		b[33] = 0x02;		/* SYN */
		put16(b + 34, 65535);
	}
	memset(b + 20 + l4, fill, payload);
	return total;
}

/* IPv6 fd00::1 -> fd00::2 with the same transport headers. */
static uint32_t build_ip6(uint8_t *b, uint8_t proto, uint8_t fill, uint32_t payload)
{
	uint32_t l4 = proto == 17 ? 8 : 20, total = 40 + l4 + payload;

	memset(b, 0, total);
	b[0] = 0x60;
	put16(b + 4, (uint16_t)(l4 + payload));
	b[6] = proto;
	b[7] = 64;
	b[8] = 0xfd, b[23] = 1;
	b[24] = 0xfd, b[39] = 2;
	put16(b + 40, 1000);
	put16(b + 42, 2000);
	if (proto == 17) {
		put16(b + 44, (uint16_t)(8 + payload));
	} else {
		b[52] = 5 << 4;
		b[53] = 0x02;
		put16(b + 54, 65535);
	}
	memset(b + 40 + l4, fill, payload);
	return total;
}

struct sample {
	enum pcapout_iface iface;
	uint64_t ts_ns;
	uint8_t data[256];
	uint32_t caplen, len;
	const char *comment;
};

#define NSAMPLES 7
static struct sample samples[NSAMPLES];

/*
 * Captured and released copies of a few packets, as the proxy would write
 * them: a corrupted release, a duplicate and one packet without a comment.
 */
static void make_samples(void)
{
	const uint64_t t0 = 1700000000ull * 1000000000ull + 123456789ull;
	struct sample *s = samples;

	memset(samples, 0, sizeof(samples));
	s[0] = (struct sample){ PCAPOUT_IN, t0, { 0 }, 0, 0, "verdict=accept rule=- track=-" };
	s[0].len = s[0].caplen = build_ip4(s[0].data, 17, 'a', 10);
	s[1] = (struct sample){ PCAPOUT_OUT, t0 + 1, { 0 }, 0, 0, "verdict=accept rule=- track=-" };
	s[1].len = s[1].caplen = build_ip4(s[1].data, 17, 'a', 10);

	s[2] = (struct sample){ PCAPOUT_IN, t0 + 1000, { 0 }, 0, 0,
				"verdict=corrupt rule=r1:3 track=syn_sent" };
	s[2].len = s[2].caplen = build_ip4(s[2].data, 6, 0, 0);
	s[3] = s[2];
	s[3].iface = PCAPOUT_OUT;
	s[3].ts_ns = t0 + 1001;
	s[3].data[25] ^= 0xff;	/* a corrupted byte goes out as corrupted */

	s[4] = (struct sample){ PCAPOUT_IN, t0 + 2000000, { 0 }, 0, 0,
				"verdict=duplicate rule=r2:7 track=established, retransmit" };
	s[4].len = s[4].caplen = build_ip6(s[4].data, 17, 'b', 100);
	s[5] = s[4];
	s[5].iface = PCAPOUT_OUT;
	s[5].ts_ns = t0 + 2000001;
	s[5].comment = NULL;
	s[6] = s[5];
	s[6].ts_ns = t0 + 2000002;
	s[6].comment = "duplicate copy 1/1";
}

static void write_samples(const char *path, const struct sample *s, int n)
{
	struct pcapout *o = pcapout_open(path, NULL);

	cr_assert_not_null(o, "pcapout_open: %s", strerror(errno));
	for (int i = 0; i < n; i++) {
		int r = pcapout_write(o, s[i].iface, s[i].ts_ns, s[i].data, s[i].caplen, s[i].len,
				      s[i].comment);

		cr_assert_eq(r, 0, "pcapout_write %d: %s", i, strerror(-r));
	}
	cr_assert_eq(pcapout_close(o), 0);
}

static void *read_file(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	void *buf;
	long n;

	cr_assert_not_null(f);
	cr_assert_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	cr_assert(n > 0);
	rewind(f);
	buf = malloc((size_t)n);
	cr_assert_not_null(buf);
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*size = (size_t)n;
	return buf;
}

/*
 * What a reader gets back. wiretap is the library tshark and Wireshark read
 * with, and unlike libpcap it shows interfaces and comments. It is already
 * initialized: pcapout_open() ran wtap_init(), which must not run twice.
 */
struct readback {
	int n;
	char user_appl[32];
	char ifname[2][8], ifdescr[2][32];
	uint8_t tsresol[2];
	uint32_t iface[NSAMPLES];
	uint64_t ts_ns[NSAMPLES];
	uint32_t caplen[NSAMPLES], len[NSAMPLES];
	uint8_t data[NSAMPLES][256];
	char comment[NSAMPLES][128];	/* "" when the packet has none */
};

static void copy_str(char *dst, size_t size, wtap_block_t b, unsigned opt)
{
	char *v = NULL;

	cr_assert_eq(wtap_block_get_string_option_value(b, opt, &v), WTAP_OPTTYPE_SUCCESS,
		     "option %u missing", opt);
	snprintf(dst, size, "%s", v);
}

static void read_back(const char *path, struct readback *rb)
{
	wtapng_iface_descriptions_t *idb;
	gchar *info = NULL;
	int werr = 0;
	gint64 off;
	wtap_rec rec;
	Buffer buf;
	wtap *w;

	memset(rb, 0, sizeof(*rb));
	w = wtap_open_offline(path, WTAP_TYPE_AUTO, &werr, &info, FALSE);
	cr_assert_not_null(w, "wtap_open_offline: %s", wtap_strerror(werr));
	cr_assert_eq(wtap_file_type_subtype(w), wtap_pcapng_file_type_subtype());
	cr_assert_eq(wtap_file_encap(w), WTAP_ENCAP_RAW_IP);

	copy_str(rb->user_appl, sizeof(rb->user_appl), wtap_file_get_shb(w, 0), OPT_SHB_USERAPPL);
	/* Host-dependent strings would break byte-identical replays. */
	cr_assert_eq(wtap_block_count_option(wtap_file_get_shb(w, 0), OPT_SHB_OS), 0);
	cr_assert_eq(wtap_block_count_option(wtap_file_get_shb(w, 0), OPT_SHB_HARDWARE), 0);

	idb = wtap_file_get_idb_info(w);
	cr_assert_eq(idb->interface_data->len, 2);
	for (unsigned i = 0; i < 2; i++) {
		wtap_block_t b = g_array_index(idb->interface_data, wtap_block_t, i);
		wtapng_if_descr_mandatory_t *m = wtap_block_get_mandatory_data(b);

		cr_assert_eq(m->wtap_encap, WTAP_ENCAP_RAW_IP);
		cr_assert_eq(m->snap_len, PCAPOUT_SNAPLEN);
		cr_assert_eq(m->time_units_per_second, 1000000000u);
		copy_str(rb->ifname[i], sizeof(rb->ifname[i]), b, OPT_IDB_NAME);
		copy_str(rb->ifdescr[i], sizeof(rb->ifdescr[i]), b, OPT_IDB_DESCRIPTION);
		cr_assert_eq(wtap_block_get_uint8_option_value(b, OPT_IDB_TSRESOL, &rb->tsresol[i]),
			     WTAP_OPTTYPE_SUCCESS);
	}
	g_free(idb);	/* the blocks stay the reader's */

	wtap_rec_init(&rec);
	ws_buffer_init(&buf, 1514);
	while (wtap_read(w, &rec, &buf, &werr, &info, &off)) {
		int i = rb->n++;
		char *c = NULL;

		cr_assert(i < NSAMPLES, "too many packets");
		cr_assert_eq(rec.rec_type, REC_TYPE_PACKET);
		cr_assert(rec.presence_flags & WTAP_HAS_INTERFACE_ID);
		cr_assert_eq(rec.rec_header.packet_header.pkt_encap, WTAP_ENCAP_RAW_IP);
		rb->iface[i] = rec.rec_header.packet_header.interface_id;
		rb->ts_ns[i] = (uint64_t)rec.ts.secs * 1000000000u + (uint64_t)rec.ts.nsecs;
		rb->caplen[i] = rec.rec_header.packet_header.caplen;
		rb->len[i] = rec.rec_header.packet_header.len;
		cr_assert(rb->caplen[i] <= sizeof(rb->data[i]));
		memcpy(rb->data[i], ws_buffer_start_ptr(&buf), rb->caplen[i]);
		if (rec.block &&
		    wtap_block_get_nth_string_option_value(rec.block, OPT_COMMENT, 0, &c) ==
			    WTAP_OPTTYPE_SUCCESS)
			snprintf(rb->comment[i], sizeof(rb->comment[i]), "%s", c);
		wtap_rec_reset(&rec);
	}
	cr_assert_eq(werr, 0, "wtap_read: %s (%s)", wtap_strerror(werr), info ? info : "");
	ws_buffer_free(&buf);
	wtap_rec_cleanup(&rec);
	wtap_close(w);
}

Test(pcapout, wiretap_reads_back_interfaces_packets_comments)
{
	struct readback rb;
	char path[64];

	make_samples();
	tmp_path(path, sizeof(path));
	write_samples(path, samples, NSAMPLES);
	read_back(path, &rb);

	cr_assert_str_eq(rb.user_appl, "faultline");
	cr_assert_str_eq(rb.ifname[PCAPOUT_IN], "in");
	cr_assert_str_eq(rb.ifname[PCAPOUT_OUT], "out");
	cr_assert_str_eq(rb.ifdescr[PCAPOUT_IN], "as captured by faultline");
	cr_assert_str_eq(rb.ifdescr[PCAPOUT_OUT], "as released by faultline");
	cr_assert_eq(rb.tsresol[0], 9);
	cr_assert_eq(rb.tsresol[1], 9);
	cr_assert_eq(rb.n, NSAMPLES);
	for (int i = 0; i < NSAMPLES; i++) {
		const struct sample *s = &samples[i];

		cr_assert_eq(rb.iface[i], (uint32_t)s->iface, "packet %d", i);
		cr_assert_eq(rb.ts_ns[i], s->ts_ns, "packet %d", i);
		cr_assert_eq(rb.caplen[i], s->caplen, "packet %d", i);
		cr_assert_eq(rb.len[i], s->len, "packet %d", i);
		cr_assert_arr_eq(rb.data[i], s->data, s->caplen, "packet %d bytes differ", i);
		cr_assert_str_eq(rb.comment[i], s->comment ? s->comment : "", "packet %d", i);
	}
	/* The corrupted copy went out corrupted, the duplicate twice. */
	cr_assert_neq(rb.data[2][25], rb.data[3][25]);
	cr_assert_arr_eq(rb.data[5], rb.data[6], rb.caplen[5]);
	unlink(path);
}

/*
 * libpcap 1.10 (and tcpdump) open the file and report raw IP, but refuse the
 * second interface description: they compare the DLT of the first (DLT_RAW,
 * 12) with the LINKTYPE of the next (LINKTYPE_RAW, 101). Check what works and
 * skip the rest, so the test reads the packets once a libpcap can.
 */
Test(pcapout, libpcap_opens_file)
{
	char path[64], perr[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *d;
	pcap_t *p;
	int i = 0, r;

	make_samples();
	tmp_path(path, sizeof(path));
	write_samples(path, samples, NSAMPLES);

	p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, perr);
	cr_assert_not_null(p, "pcap_open_offline: %s", perr);
	cr_assert_eq(pcap_datalink(p), DLT_RAW);
	cr_assert_eq(pcap_snapshot(p), (int)PCAPOUT_SNAPLEN);
	r = pcap_next_ex(p, &h, &d);
	if (r == PCAP_ERROR && strstr(pcap_geterr(p), "different from the type of the first")) {
		snprintf(perr, sizeof(perr), "%s", pcap_geterr(p));
		pcap_close(p);
		unlink(path);
		cr_skip_test("this libpcap rejects a second raw-IP interface: %s", perr);
	}
	for (; r == 1; r = pcap_next_ex(p, &h, &d), i++) {
		const struct sample *s = &samples[i];

		cr_assert(i < NSAMPLES);
		cr_assert_eq((uint64_t)h->ts.tv_sec * 1000000000u + (uint64_t)h->ts.tv_usec, s->ts_ns);
		cr_assert_eq(h->caplen, s->caplen);
		cr_assert_eq(h->len, s->len);
		cr_assert_arr_eq(d, s->data, s->caplen, "packet %d bytes differ", i);
	}
	cr_assert_eq(r, PCAP_ERROR_BREAK, "pcap_next_ex: %s", pcap_geterr(p));
	cr_assert_eq(i, NSAMPLES);
	pcap_close(p);
	unlink(path);
}

Test(pcapout, snapped_packet_keeps_wire_length)
{
	struct sample s = { PCAPOUT_IN, 42, { 0 }, 60, 0, "snapped" };
	struct readback rb;
	char path[64];

	s.len = build_ip6(s.data, 6, 'c', 100);
	tmp_path(path, sizeof(path));
	write_samples(path, &s, 1);
	read_back(path, &rb);
	cr_assert_eq(rb.n, 1);
	cr_assert_eq(rb.caplen[0], 60);
	cr_assert_eq(rb.len[0], 160);
	cr_assert_eq(rb.ts_ns[0], 42);
	cr_assert_arr_eq(rb.data[0], s.data, 60);
	cr_assert_str_eq(rb.comment[0], "snapped");
	unlink(path);
}

Test(pcapout, empty_file_has_both_interfaces)
{
	struct readback rb;
	char path[64];

	tmp_path(path, sizeof(path));
	write_samples(path, NULL, 0);
	read_back(path, &rb);
	cr_assert_eq(rb.n, 0);
	cr_assert_str_eq(rb.ifname[0], "in");
	cr_assert_str_eq(rb.ifname[1], "out");
	unlink(path);
}

Test(pcapout, same_input_same_bytes)
{
	char a[64], b[64];
	size_t na, nb;
	void *da, *db;

	make_samples();
	tmp_path(a, sizeof(a));
	tmp_path(b, sizeof(b));
	write_samples(a, samples, NSAMPLES);
	/* A second later: nothing time-dependent may reach the file. */
	sleep(1);
	write_samples(b, samples, NSAMPLES);
	da = read_file(a, &na);
	db = read_file(b, &nb);
	cr_assert_eq(na, nb);
	cr_assert_arr_eq(da, db, na, "two writes of the same input differ");
	free(da);
	free(db);
	unlink(a);
	unlink(b);
}

/* Strip the line end; tshark prints one line per frame. */
static void chomp(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
}

Test(pcapout, tshark_sees_interfaces_comments_and_times)
{
	char path[64], cmd[512], line[1024];
	FILE *f;
	int i = 0;

	if (access(TSHARK, X_OK) != 0)
		cr_skip_test("%s not installed", TSHARK);

	make_samples();
	tmp_path(path, sizeof(path));
	write_samples(path, samples, NSAMPLES);

	/*
	 * frame.comment is the 4.0 name (pkt_comment before 3.6); '|' separates
	 * fields since comments may hold commas and spaces.
	 */
	snprintf(cmd, sizeof(cmd),
		 TSHARK " -r %s -n -T fields -E separator='|' -e frame.interface_name "
			"-e frame.interface_description -e frame.time_epoch -e frame.protocols "
			"-e frame.comment 2>/dev/null",
		 path);
	f = popen(cmd, "r");
	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f)) {
		const struct sample *s = &samples[i];
		char want[512], proto[32];
		bool v6 = (s->data[0] >> 4) == 6;
		uint8_t l4 = v6 ? s->data[6] : s->data[9];

		cr_assert(i < NSAMPLES, "extra line: %s", line);
		chomp(line);
		snprintf(proto, sizeof(proto), "raw:%s:%s%s", v6 ? "ipv6" : "ip",
			 l4 == 17 ? "udp" : "tcp", l4 == 17 ? ":data" : "");
		snprintf(want, sizeof(want), "%s|%s|%llu.%09llu|%s|%s",
			 s->iface == PCAPOUT_IN ? "in" : "out",
			 s->iface == PCAPOUT_IN ? "as captured by faultline" : "as released by faultline",
			 (unsigned long long)(s->ts_ns / 1000000000ull),
			 (unsigned long long)(s->ts_ns % 1000000000ull), proto,
			 s->comment ? s->comment : "");
		cr_expect_str_eq(line, want, "frame %d", i + 1);
		i++;
	}
	cr_assert_eq(pclose(f), 0, "tshark failed");
	cr_assert_eq(i, NSAMPLES, "tshark printed %d frames", i);
	unlink(path);
}

Test(pcapout, bad_arguments)
{
	struct pcapout_error e;
	char path[64];
	uint8_t pkt[64];
	uint32_t n = build_ip4(pkt, 17, 0, 4);
	struct pcapout *o;
	char *big;

	errno = 0;
	o = pcapout_open("/nonexistent-dir/x.pcapng", &e);
	cr_assert_null(o);
	cr_assert_eq(errno, ENOENT);
	/* Wiretap's words for the caller to quote after the name; no name, no wording of ours. */
	cr_assert_str_eq(e.lib, strerror(ENOENT));
	cr_assert_str_eq(e.info, "");

	tmp_path(path, sizeof(path));
	o = pcapout_open(path, &e);
	cr_assert_not_null(o, "%s", strerror(errno));
	cr_assert_eq(pcapout_write(o, 2, 0, pkt, n, n, NULL), -EINVAL);
	cr_assert_eq(pcapout_write(o, PCAPOUT_IN, 0, pkt, n, n - 1, NULL), -EINVAL);
	cr_assert_eq(pcapout_write(o, PCAPOUT_IN, 0, NULL, n, n, NULL), -EINVAL);
	cr_assert_eq(pcapout_write(o, PCAPOUT_IN, 0, pkt, PCAPOUT_SNAPLEN + 1,
				   PCAPOUT_SNAPLEN + 1, NULL), -EMSGSIZE);
	big = malloc(70000);
	cr_assert_not_null(big);
	memset(big, 'x', 69999);
	big[69999] = '\0';
	cr_assert_eq(pcapout_write(o, PCAPOUT_IN, 0, pkt, n, n, big), -EMSGSIZE);
	free(big);
	cr_assert_eq(pcapout_write(o, PCAPOUT_OUT, 0, pkt, n, n, ""), 0);
	cr_assert_eq(pcapout_close(o), 0);
	cr_assert_eq(pcapout_close(NULL), 0);
	unlink(path);
}

Test(pcapout, write_error_is_reported_and_final)
{
	static uint8_t pkt[1500];
	struct pcapout *o;
	int r = 0, i;

	if (access("/dev/full", W_OK) != 0)
		cr_skip_test("no /dev/full");
	o = pcapout_open("/dev/full", NULL);
	cr_assert_not_null(o, "%s", strerror(errno));
	build_ip4(pkt, 17, 'f', 1500 - 28);
	/* stdio buffers a few packets before the first write reaches the device. */
	for (i = 0; i < 1000 && r == 0; i++)
		r = pcapout_write(o, PCAPOUT_IN, 1, pkt, sizeof(pkt), sizeof(pkt), "full");
	cr_assert_eq(r, -ENOSPC);
	cr_assert_eq(pcapout_write(o, PCAPOUT_OUT, 2, pkt, 20, 20, NULL), -ENOSPC);
	cr_assert_eq(pcapout_close(o), -ENOSPC);
}
