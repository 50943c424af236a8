// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "file.h"

static ssize_t read_file(void *data, char *buf, size_t size)
{
	FILE *f = data;
	size_t n = fread(buf, 1, size, f);

	/* A short count is the end or an error: errno is read(2)'s. */
	if (!n && ferror(f))
		return -(errno ? errno : EIO);
	return (ssize_t)n;
}

/* An error about the file as a whole (no line): fills err, returns ret. */
static int whole_file_error(struct rule_error *err, const char *path, int ret, const char *msg)
{
	memset(err, 0, sizeof(*err));
	err->file = path;
	snprintf(err->msg, sizeof(err->msg), "%s", msg);
	return ret;
}

int rule_set_load_file(struct rule_set *rs, const char *path, struct rule_error *err)
{
	struct rule_error dummy;
	char msg[sizeof(dummy.msg)];
	struct stat st;
	FILE *f;
	int ret;

	if (!err)
		err = &dummy;
	f = fopen(path, "re");
	if (!f) {
		ret = -errno;
		snprintf(msg, sizeof(msg), "cannot open: %s", strerror(-ret));
		return whole_file_error(err, path, ret, msg);
	}
	/* fopen() opens a directory for reading; only the first read fails. */
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode))
		ret = whole_file_error(err, path, -EISDIR, "is a directory, not a rule file");
	else
		ret = rule_set_load(rs, path, read_file, f, err);
	fclose(f);
	return ret;
}
