// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <string.h>

#include "flow.h"

static struct pkt_view udp(uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport)
{
	struct pkt_view v = { 0 };

	v.family = 4;
	v.l4proto = 17;
	v.has_l4 = true;
	memcpy(v.saddr, &src, 4);
	memcpy(v.daddr, &dst, 4);
	v.sport = sport;
	v.dport = dport;
	return v;
}

Test(flow, ordinals_per_flow_and_way)
{
	struct flow_table *t = flow_table_new(16);
	struct pkt_view ab = udp(1, 1000, 2, 53), ba = udp(2, 53, 1, 1000), other = udp(3, 1, 2, 53);
	struct flow_id a, b;

	flow_table_identify(t, &ab, 0, &a);
	cr_assert_eq(a.ordinal, 1);
	flow_table_identify(t, &ab, 0, &a);
	cr_assert_eq(a.ordinal, 2);
	flow_table_identify(t, &other, 0, &b);
	cr_assert_eq(b.ordinal, 1);
	flow_table_identify(t, &ba, 0, &b);
	cr_assert_eq(b.ordinal, 1, "the reply way counts on its own");
	cr_assert_eq(b.hash, a.hash, "both ways are one flow");
	cr_assert_neq(b.way, a.way);
	cr_assert_eq(flow_table_count(t), 2);
	flow_table_free(t);
}

Test(flow, eviction_at_the_cap)
{
	struct flow_table *t = flow_table_new(8);
	struct flow_id id;

	for (uint16_t i = 0; i < 100; i++) {
		struct pkt_view v = udp(1, i, 2, 53);

		flow_table_identify(t, &v, i, &id);
		cr_assert_eq(id.ordinal, 1);
	}
	cr_assert_leq(flow_table_count(t), 8);
	cr_assert_eq(flow_table_evictions(t), 92);
	/* The newest flow is still known. */
	struct pkt_view last = udp(1, 99, 2, 53);
	flow_table_identify(t, &last, 100, &id);
	cr_assert_eq(id.ordinal, 2);
	flow_table_free(t);
}

/* The table doubles while it fills; no flow loses its count on the way. */
Test(flow, growth_keeps_every_flow)
{
	struct flow_table *t = flow_table_new(65536);
	struct flow_id id;

	for (uint32_t round = 1; round <= 3; round++)
		for (uint32_t i = 0; i < 20000; i++) {
			struct pkt_view v = udp(i, (uint16_t)(i * 7), 0x0a000001, 53);

			flow_table_identify(t, &v, round, &id);
			cr_assert_eq(id.ordinal, round, "flow %u round %u: ordinal %llu", i, round,
				     (unsigned long long)id.ordinal);
		}
	cr_assert_eq(flow_table_count(t), 20000);
	cr_assert_eq(flow_table_evictions(t), 0);
	flow_table_free(t);
}

/* The caller's bytes: one place per flow (both ways), zeroed when the flow enters, kept after. */
Test(flow, slot_is_the_callers_per_flow)
{
	struct flow_table *t = flow_table_new(1000);
	struct pkt_view ab = udp(1, 1000, 2, 53), ba = udp(2, 53, 1, 1000), other = udp(3, 1, 2, 53);
	struct flow_id id;
	uint8_t *s1, *s2;

	s1 = flow_table_identify(t, &ab, 0, &id);
	for (int i = 0; i < FLOW_SLOT_BYTES; i++)
		cr_assert_eq(s1[i], 0);
	memset(s1, 0x5a, FLOW_SLOT_BYTES);
	s2 = flow_table_identify(t, &other, 0, &id);
	cr_assert_eq(s2[0], 0, "a new flow starts zeroed");
	s1 = flow_table_identify(t, &ba, 0, &id);
	cr_assert_eq(s1[FLOW_SLOT_BYTES - 1], 0x5a, "the reply way finds the flow's bytes");
	/* Growing the table (64 slots first) moves the bytes with their flow. */
	for (uint16_t p = 0; p < 100; p++) {
		struct pkt_view v = udp(100u + p, p, 2, 53);

		flow_table_identify(t, &v, 0, &id);
	}
	cr_assert_eq(flow_table_count(t), 102);
	s1 = flow_table_identify(t, &ab, 1, &id);
	cr_assert_eq(s1[0], 0x5a);
	flow_table_free(t);
}
