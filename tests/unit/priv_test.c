// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "priv.h"

/* A field of the calling thread's /proc status (Criterion runs each test in a process of its own). */
static uint64_t status_hex(const char *field)
{
	FILE *f = fopen("/proc/thread-self/status", "r");
	char line[256];
	uint64_t v = UINT64_MAX;
	size_t n = strlen(field);

	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, n) && line[n] == ':')
			sscanf(line + n + 1, "%" SCNx64, &v);
	fclose(f);
	return v;
}

static void need_root(void)
{
	if (geteuid() != 0 || !(status_hex("CapEff") & (1ull << CAP_SETPCAP)))
		cr_skip_test("needs root with CAP_SETPCAP");
}

Test(priv, keeps_exactly_what_it_is_asked_to)
{
	unsigned keep[] = { CAP_NET_ADMIN };

	need_root();
	cr_assert_eq(priv_keep_only(keep, 1), 0);
	cr_assert_eq(status_hex("CapEff"), 1ull << CAP_NET_ADMIN);
	cr_assert_eq(status_hex("CapPrm"), 1ull << CAP_NET_ADMIN);
	cr_assert_eq(status_hex("CapBnd"), 1ull << CAP_NET_ADMIN);
	cr_assert_eq(status_hex("NoNewPrivs"), 1);
}

Test(priv, a_capability_not_held_is_not_asked_for)
{
	unsigned first[] = { CAP_NET_ADMIN }, again[] = { CAP_NET_ADMIN, CAP_NET_RAW };

	need_root();
	cr_assert_eq(priv_keep_only(first, 1), 0);
	/* CAP_NET_RAW is gone: asking to keep it too must not fail the change. */
	cr_assert_eq(priv_keep_only(again, 2), 0);
	cr_assert_eq(status_hex("CapEff"), 1ull << CAP_NET_ADMIN);
}

Test(priv, keeping_nothing_drops_everything)
{
	need_root();
	cr_assert_eq(priv_keep_only(NULL, 0), 0);
	cr_assert_eq(status_hex("CapEff"), 0);
	cr_assert_eq(status_hex("CapPrm"), 0);
	cr_assert_eq(status_hex("CapBnd"), 0);
}

/* Without CAP_SETPCAP the bounding set cannot shrink: the rest still goes. */
Test(priv, without_setpcap_the_bounding_set_stays)
{
	unsigned first[] = { CAP_NET_ADMIN, CAP_NET_RAW }, then[] = { CAP_NET_ADMIN };

	need_root();
	cr_assert_eq(priv_keep_only(first, 2), 0);
	cr_assert_eq(priv_keep_only(then, 1), 0);
	cr_assert_eq(status_hex("CapEff"), 1ull << CAP_NET_ADMIN);
	cr_assert_eq(status_hex("CapBnd"), (1ull << CAP_NET_ADMIN) | (1ull << CAP_NET_RAW));
}
