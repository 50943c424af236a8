// SPDX-License-Identifier: MIT
#include <pcap/pcap.h>
#include <string.h>
#include <uv.h>

#include "fl_gitversion.h"
#include "version.h"

void version_print(FILE *f)
{
	const char *pcap = pcap_lib_version();
	const char *prefix = "libpcap version ";

	fprintf(f, "faultline %s (commit %s)\n", FL_VERSION, FL_GIT_COMMIT);
	/* "libpcap version 1.10.3 (with TPACKET_V3)": keep the part after the name. */
	if (!strncmp(pcap, prefix, strlen(prefix)))
		pcap += strlen(prefix);
	fprintf(f, "libpcap %s (run time)\n", pcap);
	fprintf(f, "libuv %s (run time)\n", uv_version_string());
	/*
	 * Neither library has a call that gives its version, and a shared
	 * object's file name carries its ABI version, not the release: the
	 * release pkg-config reported at build time is the best there is.
	 */
	fprintf(f, "libnetfilter_queue %s (build time, pkg-config; no run-time version call)\n",
		FL_NFQ_BUILD_VERSION);
	fprintf(f, "libmnl %s (build time, pkg-config; no run-time version call)\n", FL_MNL_BUILD_VERSION);
}
