// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <pcap/pcap.h>

#include "filter.h"
#include "rule.h"

/* Same snap length as tcpdump: large enough that no length test is cut. */
#define FILTER_SNAPLEN 262144

struct rule_filter {
	struct bpf_program prog;
};

int rule__filter_compile(const char *expr, struct rule_filter **out, char *msg,
			 size_t msg_size)
{
	struct rule_filter *f;
	pcap_t *pcap;
	int ret;

	*out = NULL;
	f = calloc(1, sizeof(*f));
	if (!f) {
		snprintf(msg, msg_size, "out of memory");
		return -ENOMEM;
	}

	/*
	 * A dead handle is enough to compile: it only tells libpcap the link
	 * type. DLT_RAW makes the program look at the IP version nibble, so
	 * "udp" matches UDP over IPv4 and IPv6 alike.
	 */
	pcap = pcap_open_dead(DLT_RAW, FILTER_SNAPLEN);
	if (!pcap) {
		snprintf(msg, msg_size, "out of memory");
		ret = -ENOMEM;
		goto err_free;
	}

	/*
	 * No netmask is known: the proxy sees packets of a namespace, not of
	 * one interface, so "ip broadcast" is rejected by libpcap rather than
	 * silently compiled against a guessed mask.
	 */
	if (pcap_compile(pcap, &f->prog, expr, 1, PCAP_NETMASK_UNKNOWN) < 0) {
		snprintf(msg, msg_size, "%s", pcap_geterr(pcap));
		ret = -EINVAL;
		goto err_close;
	}
	pcap_close(pcap);
	*out = f;
	return 0;

err_close:
	pcap_close(pcap);
err_free:
	free(f);
	return ret;
}

void rule__filter_free(struct rule_filter *f)
{
	if (!f)
		return;
	pcap_freecode(&f->prog);
	free(f);
}

bool rule__filter_run(const struct rule_filter *f, const uint8_t *data, uint32_t len)
{
	/*
	 * wirelen == buflen: NFQUEUE hands over the whole packet (GSO
	 * super-packets included), so nothing is truncated.
	 */
	return bpf_filter(f->prog.bf_insns, data, len, len) != 0;
}

bool rule_filter_match(const struct rule *r, const struct pkt_view *v)
{
	if (!r->filter)
		return true;
	return rule__filter_run(r->filter, v->data, v->len);
}
