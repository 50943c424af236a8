// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>

#include <jansson.h>

#include "carry.h"

/* Shaped as proxy_stats_json's line, cut short. */
static const char old_run[] =
	"{\"seed\":7,\"queue\":4242,\"packets\":100,\"dropped\":10,\"held_now\":3,\"copy_range\":512,"
	"\"netns_follows\":0,\"queue_scope\":\"filtered\","
	"\"rules\":[{\"index\":1,\"name\":\"slow\",\"rule\":\"udp => delay 1ms\",\"line\":1,\"matched\":40,"
	"\"delayed\":40},{\"index\":2,\"name\":\"gone\",\"rule\":\"udp => drop\",\"line\":2,\"matched\":10,"
	"\"dropped\":10}],"
	"\"queues\":[{\"queue\":4242,\"packets\":100,\"held\":40,\"held_now\":3,\"connections\":2}],"
	"\"tcp\":{\"connections\":2,\"active\":1,\"segments\":50,\"records_in_use\":4},"
	"\"connections\":[{\"id\":1}]}";

static const char new_run[] =
	"{\"seed\":7,\"queue\":4242,\"packets\":5,\"dropped\":0,\"held_now\":1,\"copy_range\":512,"
	"\"netns_follows\":1,\"queue_scope\":\"filtered\","
	"\"rules\":[{\"index\":1,\"name\":\"new\",\"rule\":\"tcp => drop\",\"line\":1,\"matched\":1,"
	"\"dropped\":0},{\"index\":2,\"name\":\"slow\",\"rule\":\"udp => delay 1ms\",\"line\":2,\"matched\":5,"
	"\"delayed\":5}],"
	"\"queues\":[{\"queue\":4242,\"packets\":5,\"held\":5,\"held_now\":1,\"connections\":0}],"
	"\"tcp\":{\"connections\":0,\"active\":0,\"segments\":0,\"records_in_use\":0},"
	"\"connections\":[]}";

static long long at(const json_t *j, const char *path)
{
	json_t *v = json_object_get(j, path);

	cr_assert(json_is_integer(v), "%s", path);
	return json_integer_value(v);
}

Test(carry, counters_add_and_what_the_run_is_now_does_not)
{
	struct carry *c = carry_new(old_run);
	char *out;
	json_t *j, *rules, *q, *tcp;
	uint64_t seed = 0;

	cr_assert_not_null(c);
	cr_assert_eq(carry_seed(c, &seed), 0);
	cr_assert_eq(seed, 7);
	out = carry_add(c, new_run);
	cr_assert_not_null(out);
	j = json_loads(out, 0, NULL);
	cr_assert_not_null(j, "%s", out);
	cr_assert_eq(at(j, "packets"), 105);
	cr_assert_eq(at(j, "dropped"), 10);
	/* Who the run is, and what it holds now: this run's own. */
	cr_assert_eq(at(j, "seed"), 7);
	cr_assert_eq(at(j, "queue"), 4242);
	cr_assert_eq(at(j, "held_now"), 1);
	cr_assert_eq(at(j, "copy_range"), 512);
	cr_assert_eq(at(j, "netns_follows"), 1);
	cr_assert_str_eq(json_string_value(json_object_get(j, "queue_scope")), "filtered");
	/* Rules by name, in this run's order; one no longer there is not shown. */
	rules = json_object_get(j, "rules");
	cr_assert_eq(json_array_size(rules), 2);
	cr_assert_eq(at(json_array_get(rules, 0), "matched"), 1);
	cr_assert_eq(at(json_array_get(rules, 1), "matched"), 45);
	cr_assert_eq(at(json_array_get(rules, 1), "delayed"), 45);
	cr_assert_eq(at(json_array_get(rules, 1), "index"), 2);
	cr_assert_eq(at(json_array_get(rules, 1), "line"), 2);
	q = json_array_get(json_object_get(j, "queues"), 0);
	cr_assert_eq(at(q, "packets"), 105);
	cr_assert_eq(at(q, "held"), 45);
	cr_assert_eq(at(q, "held_now"), 1);
	cr_assert_eq(at(q, "connections"), 2);
	cr_assert_eq(at(q, "queue"), 4242);
	tcp = json_object_get(j, "tcp");
	cr_assert_eq(at(tcp, "connections"), 2);
	cr_assert_eq(at(tcp, "segments"), 50);
	cr_assert_eq(at(tcp, "active"), 0);
	cr_assert_eq(at(tcp, "records_in_use"), 0);
	/* The old namespace's connections are gone with it. */
	cr_assert_eq(json_array_size(json_object_get(j, "connections")), 0);
	json_decref(j);
	free(out);
	carry_free(c);
}

Test(carry, nothing_carried_is_a_copy_and_bad_input_is_refused)
{
	char *out = carry_add(NULL, new_run);
	json_t *a = json_loads(out, 0, NULL), *b = json_loads(new_run, 0, NULL);

	cr_assert(json_equal(a, b));
	json_decref(a);
	json_decref(b);
	free(out);
	errno = 0;
	cr_assert_null(carry_new("[1,2]"));
	cr_assert_eq(errno, EINVAL);
	cr_assert_null(carry_new("{\"packets\":"));
	cr_assert_eq(errno, EINVAL);
	errno = 0;
	cr_assert_null(carry_add(NULL, "not json"));
	cr_assert_eq(errno, EINVAL);
	carry_free(NULL);
}
