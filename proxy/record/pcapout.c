// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <wiretap/wtap.h>
#include <wsutil/wslog.h>

#include "pcapout.h"

#define NSEC_PER_SEC 1000000000ull
/* pcapng option values carry a 16-bit length. */
#define COMMENT_MAX 65535u

static const struct {
	const char *name;
	const char *descr;
} ifaces[] = {
	[PCAPOUT_IN] = { "in", "as captured by faultline" },
	[PCAPOUT_OUT] = { "out", "as released by faultline" },
};

struct pcapout {
	wtap_dumper *wd;
	/*
	 * wiretap borrows the section header and the interface descriptions
	 * until wtap_dump_close(), so they live as long as the dumper.
	 */
	GArray *shb_hdrs;
	wtapng_iface_descriptions_t idb_inf;
	/* One record reused for every packet; it owns a scratch buffer. */
	wtap_rec rec;
	/*
	 * The first failed wtap_dump(). The file may end in a partial block
	 * then, so nothing more is written and close reports it too, after
	 * cutting the file back to its last whole block.
	 */
	int err;
	char *path;
	/*
	 * The file's descriptor (wiretap owns it) and whether it is a stream
	 * (a pipe, a FIFO, a terminal) rather than a regular file: a stream
	 * gets each block in a write of its own, flushed at once.
	 */
	int fd;
	bool stream, fifo;
};

/*
 * wiretap logs through wsutil, and before ws_log_init() every level is
 * enabled: it would print a debug line per packet on stderr. Modules do not
 * print, and every error reaches the caller as a return value anyway.
 */
static void log_discard(const char *domain, enum ws_log_level level, struct timespec timestamp,
			const char *file, long line, const char *func, const char *user_format,
			va_list user_ap, void *user_data)
{
	(void)domain, (void)level, (void)timestamp, (void)file, (void)line, (void)func;
	(void)user_format, (void)user_ap, (void)user_data;
}

/*
 * wtap_init() registers the file types in process-wide tables and asserts if
 * it runs twice; wtap_cleanup() does not undo all of it, so it cannot be
 * paired with each open. Initialize once and leave the tables for the
 * process (they stay reachable, so LeakSanitizer does not report them).
 */
static pthread_once_t wtap_once = PTHREAD_ONCE_INIT;

static void wtap_once_init(void)
{
	ws_log_set_writer(log_discard);
	ws_log_set_level(LOG_LEVEL_CRITICAL);
	wtap_init(FALSE);
}

/* wiretap errors are a positive errno or a negative WTAP_ERR_*. */
static int wtap_to_errno(int err)
{
	if (err > 0)
		return -err;
	if (err == WTAP_ERR_PACKET_TOO_LARGE)
		return -EMSGSIZE;
	return -EIO;
}

static wtap_block_t new_shb(void)
{
	wtap_block_t shb = wtap_block_create(WTAP_BLOCK_SECTION);

	/*
	 * Only a fixed application name: no shb_os or shb_hardware, whose
	 * values depend on the host and would make replays differ.
	 */
	wtap_block_add_string_option(shb, OPT_SHB_USERAPPL, "faultline", strlen("faultline"));
	return shb;
}

static wtap_block_t new_idb(enum pcapout_iface i)
{
	wtap_block_t idb = wtap_block_create(WTAP_BLOCK_IF_ID_AND_INFO);
	wtapng_if_descr_mandatory_t *m = wtap_block_get_mandatory_data(idb);

	m->wtap_encap = WTAP_ENCAP_RAW_IP;
	/*
	 * The writer scales each timestamp by time_units_per_second; readers
	 * learn the unit from if_tsresol, so the two must agree (10^-9 s).
	 */
	m->time_units_per_second = NSEC_PER_SEC;
	m->tsprecision = WTAP_TSPREC_NSEC;
	m->snap_len = PCAPOUT_SNAPLEN;
	m->num_stat_entries = 0;
	m->interface_statistics = NULL;
	wtap_block_add_string_option(idb, OPT_IDB_NAME, ifaces[i].name, strlen(ifaces[i].name));
	wtap_block_add_string_option(idb, OPT_IDB_DESCRIPTION, ifaces[i].descr,
				     strlen(ifaces[i].descr));
	wtap_block_add_uint8_option(idb, OPT_IDB_TSRESOL, 9);
	return idb;
}

/*
 * A file that filled up ends in part of a block, which readers call "cut
 * short" and may refuse. Walk the blocks from the start (each says its
 * length at offset 4, in the section's byte order) and cut the file after
 * the last whole one. Best effort, on regular files only: the error is
 * reported either way. Only after wtap_dump_close(): nothing writes then.
 */
static void cut_to_last_block(const char *path)
{
	uint8_t h[12];
	struct stat st;
	off_t pos = 0;
	bool swap = false;
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode))
		goto out;
	while (pos + (off_t)sizeof(h) <= st.st_size) {
		uint32_t len;

		if (pread(fd, h, sizeof(h), pos) != (ssize_t)sizeof(h))
			goto out;
		/* The section header's byte-order magic tells how lengths are written. */
		if (pos == 0)
			swap = h[8] == 0x1a;
		memcpy(&len, h + 4, 4);
		if (swap)
			len = __builtin_bswap32(len);
		if (len < 12 || len % 4 || pos + (off_t)len > st.st_size)
			break;
		pos += len;
	}
	if (pos < st.st_size && ftruncate(fd, pos))
		goto out;
out:
	close(fd);
}

static void free_blocks(struct pcapout *o)
{
	if (o->shb_hdrs)
		wtap_block_array_free(o->shb_hdrs);
	if (o->idb_inf.interface_data)
		wtap_block_array_free(o->idb_inf.interface_data);
	wtap_rec_cleanup(&o->rec);
}

struct pcapout *pcapout_open(const char *path, struct pcapout_error *e)
{
	wtap_dump_params params = WTAP_DUMP_PARAMS_INIT;
	struct pcapout *o;
	struct stat st;
	wtap_block_t b;
	gchar *info = NULL;
	int werr = 0, ret;

	pthread_once(&wtap_once, wtap_once_init);
	if (e)
		memset(e, 0, sizeof(*e));
	o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	o->path = strdup(path);
	if (!o->path) {
		free(o);
		errno = ENOMEM;
		return NULL;
	}
	wtap_rec_init(&o->rec);

	o->shb_hdrs = g_array_new(FALSE, FALSE, sizeof(wtap_block_t));
	b = new_shb();
	g_array_append_val(o->shb_hdrs, b);

	/* The array index is the pcapng interface id, so PCAPOUT_IN is 0. */
	o->idb_inf.interface_data = g_array_new(FALSE, FALSE, sizeof(wtap_block_t));
	for (size_t i = 0; i < sizeof(ifaces) / sizeof(ifaces[0]); i++) {
		b = new_idb(i);
		g_array_append_val(o->idb_inf.interface_data, b);
	}

	params.encap = WTAP_ENCAP_RAW_IP;
	params.snaplen = PCAPOUT_SNAPLEN;
	params.tsprec = WTAP_TSPREC_NSEC;
	params.shb_hdrs = o->shb_hdrs;
	params.idb_inf = &o->idb_inf;

	/* Opened here, not by wiretap: pcapout_wait_room() polls the descriptor. */
	o->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (o->fd < 0) {
		werr = errno;
		goto err_dump;
	}
	o->stream = !fstat(o->fd, &st) && !S_ISREG(st.st_mode);
	o->fifo = o->stream && S_ISFIFO(st.st_mode);
	o->wd = wtap_dump_fdopen(o->fd, wtap_pcapng_file_type_subtype(), WTAP_UNCOMPRESSED, &params,
				 &werr, &info);
	if (!o->wd) {
		close(o->fd);
		goto err_dump;
	}
	return o;

err_dump:
	ret = -wtap_to_errno(werr);
	if (e) {
		snprintf(e->lib, sizeof(e->lib), "%s", wtap_strerror(werr));
		snprintf(e->info, sizeof(e->info), "%s", info ? info : "");
	}
	g_free(info);
	free_blocks(o);
	free(o->path);
	free(o);
	errno = ret;
	return NULL;
}

int pcapout_write(struct pcapout *o, enum pcapout_iface iface, uint64_t ts_ns,
		  const uint8_t *data, uint32_t caplen, uint32_t len, const char *comment)
{
	wtap_rec *rec = &o->rec;
	gchar *info = NULL;
	int werr = 0, ret = 0;

	if ((unsigned)iface >= sizeof(ifaces) / sizeof(ifaces[0]) || caplen > len ||
	    (caplen && !data))
		return -EINVAL;
	if (caplen > PCAPOUT_SNAPLEN || (comment && strlen(comment) > COMMENT_MAX))
		return -EMSGSIZE;
	if (o->err)
		return o->err;

	rec->rec_type = REC_TYPE_PACKET;
	rec->presence_flags = WTAP_HAS_TS | WTAP_HAS_CAP_LEN | WTAP_HAS_INTERFACE_ID;
	rec->section_number = 0;
	rec->ts.secs = (time_t)(ts_ns / NSEC_PER_SEC);
	rec->ts.nsecs = (int)(ts_ns % NSEC_PER_SEC);
	rec->tsprec = WTAP_TSPREC_NSEC;
	memset(&rec->rec_header.packet_header, 0, sizeof(rec->rec_header.packet_header));
	rec->rec_header.packet_header.caplen = caplen;
	rec->rec_header.packet_header.len = len;
	rec->rec_header.packet_header.pkt_encap = WTAP_ENCAP_RAW_IP;
	rec->rec_header.packet_header.interface_id = iface;

	/* The comment travels as an option of the packet's block (EPB opt_comment). */
	rec->block = NULL;
	if (comment) {
		rec->block = wtap_block_create(WTAP_BLOCK_PACKET);
		wtap_block_add_string_option(rec->block, OPT_COMMENT, comment, strlen(comment));
	}

	/*
	 * A stream gets the block at once, in one write when it fits in a
	 * pipe's atomic size: a reader that stops then holds whole blocks.
	 */
	if (!wtap_dump(o->wd, rec, data, &werr, &info) ||
	    (o->stream && !wtap_dump_flush(o->wd, &werr)))
		ret = o->err = wtap_to_errno(werr);
	g_free(info);
	if (rec->block) {
		wtap_block_unref(rec->block);
		rec->block = NULL;
	}
	return ret;
}

/* An upper bound on the bytes of an Enhanced Packet Block with this data and comment. */
static size_t block_bound(uint32_t caplen, const char *comment)
{
	size_t n = 32 + ((size_t)caplen + 3) / 4 * 4 + 4;

	if (comment)
		n += 4 + (strlen(comment) + 3) / 4 * 4;
	return n;
}

int pcapout_wait_room(struct pcapout *o, uint32_t caplen, const char *comment, int timeout_ms)
{
	struct pollfd pfd = { .fd = o->fd, .events = POLLOUT };
	int r, queued = 0;

	if (!o->stream || o->err)
		return 1;
	r = poll(&pfd, 1, timeout_ms);
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	if (r == 0)
		return 0;
	if (pfd.revents & (POLLERR | POLLHUP | POLLNVAL))
		return 1; /* the write says what is wrong */
	/*
	 * A pipe with a free page takes PIPE_BUF bytes whole; a bigger block
	 * waits for an empty pipe, which takes a block of its size (64 KiB by
	 * default) without blocking.
	 */
	if (!o->fifo || block_bound(caplen, comment) <= PIPE_BUF)
		return 1;
	if (ioctl(o->fd, FIONREAD, &queued) == 0 && queued > 0) {
		struct timespec ts = { 0, 10 * 1000000L };

		if (timeout_ms < 10)
			ts.tv_nsec = (long)timeout_ms * 1000000L;
		nanosleep(&ts, NULL);
		return 0;
	}
	return 1;
}

int pcapout_close(struct pcapout *o)
{
	gchar *info = NULL;
	int werr = 0, ret = 0;

	if (!o)
		return 0;
	if (!wtap_dump_close(o->wd, NULL, &werr, &info))
		ret = wtap_to_errno(werr);
	g_free(info);
	if (o->err)
		ret = o->err;
	if (ret)
		cut_to_last_block(o->path);
	free_blocks(o);
	free(o->path);
	free(o);
	return ret;
}
