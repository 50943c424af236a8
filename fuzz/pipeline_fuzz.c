// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the whole decision path: a stream of untrusted
 * packets through parse -> flow -> TCP tracker -> rules -> act -> hold and
 * release, as the proxy and replay drive it. Input format: repeated
 * [u16 length][u8 flags][length bytes]; flags pick the direction and how
 * far the virtual clock moves before the packet. Seeds: fuzz/corpus/packet/
 * files work as single packets.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"
#include "rule.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const rules[] = {
	"tcp => drop 10%",
	"tcp => delay 3ms if retransmission",
	"tcp => drop if state LAST_ACK, first 3",
	"tcp => duplicate 20%, if syn-ack",
	"=> reorder 3 timeout 5ms 30%",
	"udp => corrupt 50%",
	"udp or icmp => delay 1ms jitter 1ms distribution pareto 30%",
	"=> rate 10mbit limit 5",
};

static void on_verdict(void *d, uint32_t id, bool accept, bool held, const uint8_t *payload,
		       uint32_t len, uint32_t wire_len, const uint8_t *bytes, uint64_t now)
{
	/* Touch what we are given: ASan checks it is still valid. */
	volatile uint8_t sink = 0;

	/* A cut copy is shorter than its packet, never longer. */
	if (wire_len < len)
		__builtin_trap();
	if (payload && len)
		sink ^= payload[len - 1];
	if (bytes && len)
		sink ^= bytes[0];
	(void)sink;
}

static void on_duplicate(void *d, const uint8_t *bytes, uint32_t len, uint32_t copies, uint64_t now)
{
	volatile uint8_t sink = len ? bytes[len - 1] : 0;

	(void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct pipeline_ops ops = { .verdict = on_verdict, .duplicate = on_duplicate };
	struct pipeline_config pc = { .seed = 1, .max_held = 16, .max_flows = 8, .max_conns = 8,
				      .keep_bytes = true, .time_wait_ns = 50000000 };
	struct rule_set *rs = rule_set_new();
	struct rule_error err;
	struct pipeline *pl;
	uint64_t now = 1;
	uint32_t id = 0;

	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (rule_set_add_line(rs, rules[i], "fuzz", (int)i + 1, &err))
			__builtin_trap();
	pl = pipeline_new(&pc, rs, &ops, NULL);
	if (!pl)
		__builtin_trap();
	while (size >= 3) {
		size_t len = (size_t)(data[0] & 0x7f) << 8 | data[1];
		/* The top bit: a copy cut short (copy range), the packet longer. */
		bool cut = data[0] & 0x80;
		uint8_t flags = data[2];
		struct pipeline_pkt pk = { 0 };

		data += 3;
		size -= 3;
		if (len > size)
			len = size;
		/* Copy to an exact-size buffer so ASan sees any overread. */
		uint8_t *buf = malloc(len ? len : 1);

		memcpy(buf, data, len);
		now += (uint64_t)(flags >> 2) * 250000;
		pipeline_release_due(pl, now);
		pipeline_expire(pl, now);
		pk.id = ++id;
		pk.dir = (enum pkt_dir)(flags & 3) % 3;
		pk.data = buf;
		pk.len = (uint32_t)len;
		pk.orig_len = (uint32_t)len + (cut ? 1u + flags * 211u : 0);
		pipeline_packet(pl, &pk, now);
		free(buf);
		data += len;
		size -= len;
	}
	pipeline_release_all(pl, now, true);
	free(pipeline_stats_json(pl));
	pipeline_free(pl);
	rule_set_free(rs);
	return 0;
}
