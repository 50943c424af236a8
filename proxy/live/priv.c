// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/prctl.h>

#include <cap-ng.h>

#include "priv.h"

int priv_keep_only(const unsigned *keep, size_t n)
{
	uint64_t held = 0;
	bool bounds;

	if (capng_get_caps_process())
		return -EPERM;
	/*
	 * Shrinking the bounding set takes CAP_SETPCAP, which a container
	 * started with --cap-drop ALL --cap-add NET_ADMIN lacks; its runtime
	 * has narrowed the bounding set already, so skip that part there.
	 * The bounding set goes first, while CAP_SETPCAP is still effective
	 * (capng_apply's order).
	 */
	bounds = capng_have_capability(CAPNG_EFFECTIVE, CAP_SETPCAP) == 1;
	/* A capability not held now cannot be kept: asking for it would fail the whole change. */
	for (size_t i = 0; i < n; i++)
		if (keep[i] < 64 && capng_have_capability(CAPNG_PERMITTED, keep[i]) == 1)
			held |= 1ull << keep[i];
	capng_clear(bounds ? CAPNG_SELECT_BOTH : CAPNG_SELECT_CAPS);
	for (unsigned cap = 0; cap < 64; cap++) {
		if (!(held & (1ull << cap)))
			continue;
		/*
		 * Inheritable too: the kernel clears an ambient capability that
		 * is not inheritable, and a caller that gave faultline ambient
		 * capabilities (not root) needs them for iptables-restore.
		 */
		if (capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED | CAPNG_INHERITABLE, cap))
			return -EINVAL;
		if (bounds && capng_update(CAPNG_ADD, CAPNG_BOUNDING_SET, cap))
			return -EINVAL;
	}
	if (capng_apply(bounds ? CAPNG_SELECT_BOTH : CAPNG_SELECT_CAPS))
		return -EPERM;
	/* No later exec (a setuid binary, file capabilities) can get back what was dropped. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -errno;
	return 0;
}

bool priv_has(unsigned cap)
{
	if (capng_get_caps_process())
		return false;
	return capng_have_capability(CAPNG_EFFECTIVE, cap) == 1;
}
