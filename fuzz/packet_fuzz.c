// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for pkt_parse() and everything that consumes its view.
 * Seeds: fuzz/corpus/packet/. Besides ASan/UBSan it checks the invariants
 * callers rely on, trapping when one breaks.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memo.h"
#include "packet.h"
#include "rule.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                         \
	do {                                \
		if (!(cond))                \
			__builtin_trap();   \
	} while (0)

static void check_view(const struct pkt_view *v, size_t size)
{
	CHECK(v->family == 4 || v->family == 6);
	CHECK(v->l3_hdr_len <= size);
	CHECK(v->l4_off == v->l3_hdr_len);
	CHECK((uint64_t)v->payload_off + v->payload_len <= size);
	CHECK(v->payload_off >= v->l4_off);
	CHECK(!(v->fragment && v->has_l4));
	CHECK(!(v->fragment && v->first_fragment));
	if (!v->has_l4)
		CHECK(v->sport == 0 && v->dport == 0);
}

/*
 * Repair a copy twice: the second pass must change nothing, and must
 * leave the view a re-parse produces the same.
 */
static void check_fix(const struct pkt_view *v, const uint8_t *data,
		      size_t size)
{
	uint8_t *a = malloc(size), *b = malloc(size);
	struct pkt_view va;

	if (!a || !b)
		goto out;
	memcpy(a, data, size);
	if (pkt_fix_checksums(a, size, v) != 0)
		goto out;
	memcpy(b, a, size);
	CHECK(pkt_fix_checksums(b, size, v) == 0);
	CHECK(memcmp(a, b, size) == 0);
	CHECK(pkt_parse(&va, a, size) == 0);
	CHECK(va.payload_off == v->payload_off);
	CHECK(va.payload_len == v->payload_len);
	CHECK(va.sport == v->sport && va.dport == v->dport);
out:
	free(a);
	free(b);
}

/*
 * What the filter memo takes as decided by a packet's class must be what
 * libpcap says on any packet the parser puts in that class.
 */
static const char *const class_filters[] = {
	"tcp", "udp", "icmp", "icmp6", "tcp port 80", "udp port 53", "ip6", "ip",
	"tcp[tcpflags] & tcp-syn != 0", "ip[6] & 0x1f != 0", "ip6[6] = 6", "not ip6",
	"host 10.0.0.1", "icmp[icmptype] = icmp-echo", "ip[0] = 0x45", "ip6[0] & 0xf0 = 0x60",
};

static void check_class(const struct pkt_view *v)
{
	static struct rule_set *rs;
	static struct rule_memo_plan plan[RULE_MEMO_NCLASS];
	int cls = rule_memo_class(v);
	uint32_t direct = 0;

	if (!rs) {
		struct rule_error e;
		char line[128];

		rs = rule_set_new();
		for (size_t i = 0; rs && i < sizeof(class_filters) / sizeof(class_filters[0]); i++) {
			snprintf(line, sizeof(line), "%s => drop", class_filters[i]);
			CHECK(rule_set_add_line(rs, line, "fuzz", (int)i + 1, &e) == 0);
		}
		CHECK(rs);
		for (int c = 0; c < RULE_MEMO_NCLASS; c++)
			rule_memo_plan(rs, c, &plan[c]);
	}
	if (cls < 0)
		return;
	for (size_t i = 0; i < rule_set_count(rs); i++)
		if (rule_filter_match(rule_set_get(rs, i), v))
			direct |= 1u << i;
	CHECK((direct & plan[cls].decided) == plan[cls].matches);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size heap copy, so ASan flags any read past the end. */
	uint8_t *buf = malloc(size ? size : 1);
	struct pkt_flow_key key;
	char str[PKT_FLOW_STRLEN];
	struct pkt_view v;
	bool swapped;
	int n;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	if (pkt_parse(&v, buf, size) != 0)
		goto out;

	check_view(&v, size);
	pkt_flow_key(&v, &key, &swapped);
	(void)pkt_flow_hash(&key);
	n = pkt_format_flow(&v, str, sizeof(str));
	CHECK(n > 0 && n < (int)sizeof(str));
	CHECK(strlen(str) == (size_t)n);
	check_fix(&v, buf, size);
	check_class(&v);
	/*
	 * The same bytes as a copy cut at every tenth of the packet (NFQUEUE
	 * copy range, snap length): never a read past the cut, and what
	 * parses agrees with the whole packet on headers.
	 */
	for (size_t cut = size / 10 ? size / 10 : 1; cut < size; cut += size / 10 ? size / 10 : 1) {
		uint8_t *c = malloc(cut);
		struct pkt_view vc;

		if (!c)
			break;
		memcpy(c, buf, cut);
		if (pkt_parse_cut(&vc, c, cut, size) == 0) {
			CHECK(vc.len == cut && vc.wire_len == size);
			CHECK(vc.family == v.family && vc.l4proto == v.l4proto);
			CHECK(vc.has_l4 == v.has_l4 && vc.sport == v.sport && vc.dport == v.dport);
			CHECK(vc.payload_off == v.payload_off && vc.payload_len == v.payload_len);
		}
		free(c);
	}
out:
	free(buf);
	return 0;
}
