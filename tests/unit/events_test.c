// SPDX-License-Identifier: MIT
/*
 * events: the lines the event log writes about a decision, as
 * docs/events.schema.json defines them.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"

/* The text events_verdict writes for decision d about a UDP datagram. */
static char *verdict_line(const struct act_decision *d)
{
	uint8_t p[36] = { 0x45, 0, 0, 36, 0, 0, 0, 0, 64, 17 };
	struct flow_id id = { .hash = 0xab, .way = 1, .ordinal = 7 };
	struct pkt_view v;
	struct events e = { 0 };
	char *text = NULL;
	size_t size = 0;

	p[12] = 10, p[15] = 1, p[16] = 10, p[19] = 2;
	p[20] = 0x30, p[21] = 0x39, p[22] = 0x13, p[23] = 0x88, p[25] = 16;
	cr_assert_eq(pkt_parse(&v, p, sizeof(p)), 0);
	e.out = open_memstream(&text, &size);
	cr_assert_not_null(e.out);
	events_verdict(&e, 1500000, &v, PKT_DIR_IN, &id, d);
	cr_assert_eq(events_flush(&e), 0);
	fclose(e.out);
	return text;
}

Test(events, verdict_line_names_each_action_and_a_rate_drop_reason)
{
	struct act_decision d = { .drop = true, .n_fired = 2 };
	char *s;

	d.fired[0] = (struct act_fired){ .rule = 0, .action = RULE_ACT_RATE };
	d.fired[1] = (struct act_fired){ .rule = 1, .action = RULE_ACT_RATE,
					 .reason = ACT_REASON_QUEUE_FULL };
	s = verdict_line(&d);
	cr_assert_str_eq(s, "{\"t\":0.001500,\"ev\":\"verdict\",\"flow\":\"udp 10.0.0.1:12345 > "
			    "10.0.0.2:5000\",\"flow_hash\":\"00000000000000ab\",\"way\":1,\"dir\":\"in\","
			    "\"ord\":7,\"len\":36,\"verdict\":\"drop\",\"actions\":[{\"rule\":0,"
			    "\"action\":\"rate\"},{\"rule\":1,\"action\":\"rate\",\"reason\":\"queue-full\"}]}\n");
	free(s);
}

Test(events, verdict_line_of_a_plain_drop_has_no_reason)
{
	struct act_decision d = { .drop = true, .n_fired = 1 };
	char *s;

	d.fired[0] = (struct act_fired){ .rule = 3, .action = RULE_ACT_DROP };
	s = verdict_line(&d);
	cr_assert(strstr(s, ",\"actions\":[{\"rule\":3,\"action\":\"drop\"}]}\n"), "%s", s);
	cr_assert_null(strstr(s, "reason"), "%s", s);
	free(s);
}
