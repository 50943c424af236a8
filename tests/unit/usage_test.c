// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "ctl.h"
#include "ctlcmd.h"
#include "sock.h"
#include "pipeline.h"
#include "proxy.h"
#include "track.h"
#include "http.h"
#include "usage.h"

static char *usage_text(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	cr_assert_not_null(f);
	usage_print(f);
	cr_assert_eq(fclose(f), 0);
	return text;
}

/* The line of the usage text that starts with 'start' (after blanks) must contain 'want'. */
static void line_says(const char *text, const char *start, const char *want)
{
	const char *p = text;

	while (p && *p) {
		const char *nl = strchr(p, '\n'), *s = p + strspn(p, " ");
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		if (!strncmp(s, start, strlen(start))) {
			char *line = strndup(p, len);

			cr_assert(strstr(line, want), "'%s' does not say '%s'", line, want);
			free(line);
			return;
		}
		p = nl ? nl + 1 : NULL;
	}
	cr_assert_fail("no line starts with '%s'", start);
}

static void line_says_u(const char *text, const char *start, const char *fmt, unsigned long long v)
{
	char want[64];

	snprintf(want, sizeof(want), fmt, v);
	line_says(text, start, want);
}

/* The same for options whose default is said on the line after theirs. */
static void next_line_says(const char *text, const char *opt, const char *fmt, unsigned long long v)
{
	const char *at = strstr(text, opt), *next;
	char want[64];

	cr_assert_not_null(at, "no '%s' in the usage text", opt);
	next = strchr(at, '\n');
	cr_assert_not_null(next);
	snprintf(want, sizeof(want), fmt, v);
	line_says(next + 1, "(default", want);
}

Test(usage, every_default_is_the_constant_the_code_uses)
{
	char *t = usage_text();

	line_says_u(t, "-q, --queue N", "(default %llu)", PROXY_DEFAULT_QUEUE);
	line_says_u(t, "--max-held N", "(default %llu)", PIPELINE_DEFAULT_MAX_HELD);
	/* "--max-held-bytes N" ends its line; the default is on the next one. */
	next_line_says(t, "--max-held-bytes N", "(default %lluM)", PROXY_DEFAULT_MAX_HELD_BYTES >> 20);
	line_says_u(t, "--queue-maxlen N", "(default %llu)", CAPTURE_DEFAULT_QUEUE_MAXLEN);
	line_says_u(t, "--max-flows N", "(default %llu)", PIPELINE_DEFAULT_MAX_FLOWS);
	line_says_u(t, "--mark N", "(default %#llx)", PROXY_DEFAULT_MARK);
	line_says_u(t, "--time-wait DUR", "default %llus)", TRACK_DEFAULT_TIME_WAIT_NS / 1000000000ull);
	line_says_u(t, "--track-idle DUR", "(default %llus)", TRACK_DEFAULT_IDLE_NS / 1000000000ull);
	line_says_u(t, "--max-conns N", "(default %llu)", TRACK_DEFAULT_MAX_CONNS);
	next_line_says(t, "--events-backlog N", "(default %llu);", PROXY_DEFAULT_EVENTS_BACKLOG);
	next_line_says(t, "--pcap-backlog N", "(default %llu);", PROXY_DEFAULT_PCAP_BACKLOG);
	free(t);
}

/* The tracker's defaults are the constants the usage text prints. */
Test(usage, tracker_defaults_are_the_constants)
{
	struct track_config c;

	track_config_default(&c);
	cr_assert_eq(c.time_wait_ns, TRACK_DEFAULT_TIME_WAIT_NS);
	cr_assert_eq(c.idle_ns, TRACK_DEFAULT_IDLE_NS);
	cr_assert_eq(c.max_conns, TRACK_DEFAULT_MAX_CONNS);
}

/* The control socket's defaults and ctl's exit codes are the code's. */
Test(usage, ctl_says_the_paths_limits_and_exit_codes)
{
	char *t = usage_text();
	char path[128];

	ctlcmd_default_path(path, sizeof(path), NULL, 7);
	cr_assert_str_eq(path, CTL_SOCK_DIR "/queue-7.sock");
	ctlcmd_default_path(path, sizeof(path), "app", 7);
	cr_assert_str_eq(path, CTL_SOCK_DIR "/app.queue-7.sock");
	line_says(t, "--control PATH", CTL_SOCK_DIR "/queue-N.sock");
	line_says(t, CTL_SOCK_DIR "/NAME.queue-N.sock", "--netns NAME");
	line_says(t, "ctl [--control PATH", "--queue N [--netns NAME]");
	line_says_u(t, "exit status: 0 done", "%llu wait timed out", CTLCMD_EXIT_TIMEOUT);
	line_says_u(t, "requests: one JSON line", "at most %llu MiB", CTL_MAX_REQUEST >> 20);
	cr_assert_eq(CTL_MAX_REQUEST % (1u << 20), 0);
	for (const char *c = "list\0get NAME\0add 'LINE'\0del NAME\0enable NAME\0replace FILE\0stats\0reset\0"
			     "reload\0events\0wait COND\0"; *c; c += strlen(c) + 1)
		line_says(t, c, " ");
	free(t);
}

/* The HTTP API's limits are the server's defaults. */
Test(usage, http_says_its_defaults)
{
	char *t = usage_text();
	char want[128];

	line_says_u(t, "--http-timeout DUR", "(default %llus)", HTTP_DEFAULT_TIMEOUT_S);
	snprintf(want, sizeof(want), "at most\n                         %u clients at once, bodies of at most %u MiB\n",
		 HTTP_DEFAULT_MAX_CLIENTS, HTTP_DEFAULT_MAX_BODY >> 20);
	cr_assert(strstr(t, want), "the usage text does not say '%s'", want);
	cr_assert_eq(HTTP_DEFAULT_MAX_BODY % (1u << 20), 0);
	/* The API takes what the socket takes. */
	cr_assert_eq(HTTP_DEFAULT_MAX_BODY, CTL_MAX_REQUEST);
	free(t);
}
