// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "carry.h"

struct carry {
	json_t *old;
};

/* Members that say what the run is or holds now, not what it counted. */
static const char *const top_fixed[] = { "seed", "queue", "copy_range", "held_now", "held_bytes_now", "flows",
					 "queue_programs", "queue_sets", "queue_reasons_total", "netns_follows", NULL };
static const char *const rule_fixed[] = { "index", "line", NULL };
static const char *const queue_fixed[] = { "queue", "held_now", NULL };
static const char *const tcp_fixed[] = { "active", "records_in_use", NULL };

static bool listed(const char *const *keys, const char *key)
{
	for (; *keys; keys++)
		if (!strcmp(*keys, key))
			return true;
	return false;
}

/* Add old's integer members to now's of the same name, but the fixed ones. */
static int add_members(json_t *now, const json_t *old, const char *const *fixed)
{
	const char *key;
	json_t *v;

	json_object_foreach(now, key, v) {
		const json_t *o = json_object_get(old, key);

		if (!json_is_integer(v) || !json_is_integer(o) || listed(fixed, key))
			continue;
		if (json_integer_set(v, json_integer_value(v) + json_integer_value(o)))
			return -ENOMEM;
	}
	return 0;
}

/* The object in array old whose member key equals item's (a string or an integer), or NULL. */
static const json_t *same_in(const json_t *old, const char *key, const json_t *item)
{
	const json_t *want = json_object_get(item, key), *o;
	size_t i;

	if (!want)
		return NULL;
	json_array_foreach(old, i, o)
		if (json_equal(json_object_get(o, key), want))
			return o;
	return NULL;
}

/* Each object of array now with the one of old that has the same key. */
static int add_array(json_t *now, const json_t *old, const char *key, const char *const *fixed)
{
	json_t *item;
	size_t i;

	if (!json_is_array(now) || !json_is_array(old))
		return 0;
	json_array_foreach(now, i, item) {
		const json_t *o = same_in(old, key, item);
		int ret = o ? add_members(item, o, fixed) : 0;

		if (ret)
			return ret;
	}
	return 0;
}

struct carry *carry_new(const char *json)
{
	struct carry *c;
	json_t *old = json_loads(json, 0, NULL);

	if (!json_is_object(old)) {
		json_decref(old);
		errno = EINVAL;
		return NULL;
	}
	c = malloc(sizeof(*c));
	if (!c) {
		json_decref(old);
		return NULL;
	}
	c->old = old;
	return c;
}

void carry_free(struct carry *c)
{
	if (!c)
		return;
	json_decref(c->old);
	free(c);
}

int carry_seed(const struct carry *c, uint64_t *seed)
{
	const json_t *v = json_object_get(c->old, "seed");

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -ENOENT;
	*seed = (uint64_t)json_integer_value(v);
	return 0;
}

char *carry_add(const struct carry *c, const char *now_text)
{
	json_t *now = json_loads(now_text, 0, NULL);
	char *out;
	int ret = 0;

	if (!json_is_object(now)) {
		json_decref(now);
		errno = EINVAL;
		return NULL;
	}
	if (c) {
		/* By name: a rule keeps its name across the restart, not always its place. */
		ret = add_members(now, c->old, top_fixed);
		if (!ret)
			ret = add_array(json_object_get(now, "rules"), json_object_get(c->old, "rules"), "name",
					rule_fixed);
		if (!ret)
			ret = add_array(json_object_get(now, "queues"), json_object_get(c->old, "queues"), "queue",
					queue_fixed);
		if (!ret && json_is_object(json_object_get(now, "tcp")))
			ret = add_members(json_object_get(now, "tcp"), json_object_get(c->old, "tcp"), tcp_fixed);
	}
	out = ret ? NULL : json_dumps(now, JSON_COMPACT);
	json_decref(now);
	if (!out)
		errno = ENOMEM;
	return out;
}
