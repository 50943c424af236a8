// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <pcap/pcap.h>

#include "filter.h"
#include "hot.h"
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

FL_HOT bool rule__filter_run(const struct rule_filter *f, const uint8_t *data, uint32_t caplen,
			     uint32_t wirelen)
{
	/*
	 * A load past caplen ends the program with "no match"; the copy
	 * range is chosen from rule__filter_reach so that does not happen.
	 */
	return bpf_filter(f->prog.bf_insns, data, wirelen, caplen) != 0;
}

const struct bpf_insn *rule__filter_insns(const struct rule_filter *f, unsigned *len)
{
	*len = f->prog.bf_len;
	return f->prog.bf_insns;
}

uint32_t rule__filter_load_size(uint16_t code)
{
	switch (BPF_SIZE(code)) {
	case BPF_W:
		return 4;
	case BPF_H:
		return 2;
	default:
		return 1;
	}
}

uint32_t rule__filter_reach(const struct rule_filter *f)
{
	const struct bpf_insn *in = f->prog.bf_insns;
	uint64_t abs = 0, ind = 0, xmax = 0;
	bool x_bounded = true, any_ind = false;

	/*
	 * Flow-insensitive and conservative: X may hold any value any LDX
	 * of the program loads. libpcap sets it from 4*([k]&0xf) (an IPv4 or
	 * TCP header length, at most 60) or from a constant; anything else
	 * (X copied from A, or from scratch memory) makes it unbounded.
	 */
	for (u_int i = 0; i < f->prog.bf_len; i++) {
		uint16_t c = in[i].code;
		uint64_t k = in[i].k;

		switch (BPF_CLASS(c)) {
		case BPF_LD:
			if (BPF_MODE(c) == BPF_ABS && k + rule__filter_load_size(c) > abs)
				abs = k + rule__filter_load_size(c);
			if (BPF_MODE(c) == BPF_IND) {
				any_ind = true;
				if (k + rule__filter_load_size(c) > ind)
					ind = k + rule__filter_load_size(c);
			}
			break;
		case BPF_LDX:
			if (BPF_MODE(c) == BPF_MSH) {
				if (k + 1 > abs)
					abs = k + 1;
				if (xmax < 60)
					xmax = 60;
			} else if (BPF_MODE(c) == BPF_IMM) {
				if (k > xmax)
					xmax = k;
			} else if (BPF_MODE(c) != BPF_LEN) {
				x_bounded = false;
			}
			break;
		case BPF_MISC:
			if (BPF_MISCOP(c) == BPF_TAX)
				x_bounded = false;
			break;
		default:
			break;
		}
	}
	if (any_ind) {
		if (!x_bounded)
			return UINT32_MAX;
		if (ind + xmax > abs)
			abs = ind + xmax;
	}
	return abs > UINT32_MAX ? UINT32_MAX : (uint32_t)abs;
}

FL_HOT bool rule_filter_match(const struct rule *r, const struct pkt_view *v)
{
	if (!r->filter)
		return true;
	return rule__filter_run(r->filter, v->data, v->len, pkt_wire_len(v));
}
