// SPDX-License-Identifier: MIT
/*
 * Runs a libFuzzer harness once over given files and directories, without
 * libFuzzer: the ordinary (sanitizer) build links each harness with this
 * main so that every seed and every input that once failed (fuzz/regress/)
 * is a ctest. A crash, a sanitizer report or a failed CHECK aborts the
 * process and fails the test; a path that cannot be read fails it too.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0, n;
	int ret = 0;

	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	for (;;) {
		if (len == cap) {
			uint8_t *b = realloc(buf, cap ? cap * 2 : 4096);

			if (!b) {
				fprintf(stderr, "%s: out of memory\n", path);
				ret = -1;
				goto out;
			}
			buf = b;
			cap = cap ? cap * 2 : 4096;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		fprintf(stderr, "%s: read error\n", path);
		ret = -1;
		goto out;
	}
	/* An exact-size copy, as libFuzzer hands its inputs in. */
	{
		uint8_t *exact = malloc(len ? len : 1);

		if (!exact) {
			ret = -1;
			goto out;
		}
		memcpy(exact, buf, len);
		LLVMFuzzerTestOneInput(exact, len);
		free(exact);
	}
out:
	free(buf);
	fclose(f);
	return ret;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The files of a directory in name order (dot files skipped), or the path itself. */
static int run_path(const char *path, unsigned *count)
{
	struct dirent *e;
	struct stat st;
	char **names = NULL;
	size_t n = 0;
	int ret = 0;
	DIR *d;

	if (stat(path, &st)) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		(*count)++;
		return run_file(path);
	}
	d = opendir(path);
	if (!d) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	while ((e = readdir(d))) {
		char **nn;

		if (e->d_name[0] == '.')
			continue;
		nn = realloc(names, (n + 1) * sizeof(*names));
		if (!nn || asprintf(&nn[n], "%s/%s", path, e->d_name) < 0) {
			names = nn ? nn : names;
			ret = -1;
			break;
		}
		names = nn;
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), by_name);
	for (size_t i = 0; i < n; i++) {
		if (!ret) {
			printf("%s\n", names[i]);
			fflush(stdout);
			(*count)++;
			ret = run_file(names[i]);
		}
		free(names[i]);
	}
	free(names);
	return ret;
}

int main(int argc, char **argv)
{
	unsigned count = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++)
		if (run_path(argv[i], &count))
			return 1;
	if (!count) {
		fprintf(stderr, "no inputs\n");
		return 1;
	}
	printf("%u inputs ran\n", count);
	return 0;
}
