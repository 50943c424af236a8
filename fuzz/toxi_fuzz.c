// SPDX-License-Identifier: MIT
/*
 * toxi_fuzz: the toxiproxy-compatible API (toxi_request) over a sequence of
 * requests, so that state builds up: proxies made, toxics added, updated,
 * deleted, reset, populated. Input: one request a line, "METHOD PATH BODY"
 * (the body is the rest of the line, may be empty); a line "!" followed by
 * any of f, p, r makes the next forward, port reservation or rules change
 * of the fakes fail; n makes the names beginning with 'u' resolve from then
 * on (until then they do not: such a proxy waits, unforwarded, as toxi
 * takes a name that does not resolve yet). At most MAX_REQ requests.
 *
 * The ops are in-memory fakes (no kernel, no sockets). After each request:
 *  - the answer has one of the documented statuses; 204 and 405 no body,
 *    any other a body that is JSON (an error: {"error":...,"status":N}
 *    with N the status), but for 404's "404 page not found";
 *  - GET /proxies answers 200 with an object of proxies keyed by name;
 *  - every rule line toxi hands over parses under its name (rule_set_add);
 *  - also after an injected failure (a refused change is undone whole):
 *    the rules the fakes hold are exactly those of the listed proxies and
 *    toxics (toxi_toxic_rules' names; a disabled TCP proxy its "..off"
 *    rule), none under another prefix, and the forwarding is the listed
 *    enabled proxies (protocol and listen port), but for those whose
 *    upstream name is one that did not resolve: forwarded with their
 *    toxics' rules, or neither;
 *  - at the end, toxi_free closed every reserved port, and ASan sees no leak.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rule.h"
#include "toxi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                         \
	do {                                \
		if (!(cond))                \
			__builtin_trap();   \
	} while (0)

#define MAX_REQ 48
#define MAX_GROUPS 512
#define MAX_FDS 1024

struct group {
	char *prefix;
	size_t n;
	char **names;
};

struct fake {
	bool fail_forward, fail_reserve, fail_rules;
	bool forwarded;
	size_t n_fwd;
	uint32_t fwd[MAX_FDS];		/* protocol << 16 | listen port, of each forwarded proxy */
	uint16_t next_port;
	struct group g[MAX_GROUPS];
	size_t n_g;
	int fds[MAX_FDS];
	size_t n_fds;
	bool u_resolves;		/* names beginning with 'u' resolve */
};

/* A name: 10.0.0.1 at once (no real lookup), but those beginning with 'u' until 'n'. */
static int fake_resolve(void *data, const char *host, struct in_addr *in)
{
	struct fake *f = data;

	if (host[0] == 'u' && !f->u_resolves)
		return -ENOENT;
	in->s_addr = htonl(0x0a000001);
	return 0;
}

/* Could this upstream be waiting for its name? */
static bool may_wait(const char *upstream)
{
	return upstream && upstream[0] == 'u';
}

static int fake_forward(void *data, const struct nat_proxy *p, size_t n, char *msg, size_t size)
{
	struct fake *f = data;

	if (f->fail_forward) {
		f->fail_forward = false;
		snprintf(msg, size, "forward refused");
		return -EPERM;
	}
	CHECK(n <= MAX_FDS);
	f->forwarded = true;
	f->n_fwd = n;
	for (size_t i = 0; i < n; i++)
		f->fwd[i] = (uint32_t)p[i].proto << 16 | ntohs(p[i].listen.sin_port);
	return 0;
}

static int fake_reserve(void *data, int proto, struct sockaddr_in *a)
{
	struct fake *f = data;
	int fd;

	CHECK(proto == IPPROTO_TCP || proto == IPPROTO_UDP);
	if (f->fail_reserve) {
		f->fail_reserve = false;
		return -EADDRINUSE;
	}
	if (!a->sin_port) {
		a->sin_port = htons(f->next_port);
		f->next_port = f->next_port >= 60000 ? 40000 : f->next_port + 1;
	}
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	if (f->n_fds < MAX_FDS)
		f->fds[f->n_fds++] = fd;
	return fd;
}

static struct group *group_find(struct fake *f, const char *prefix)
{
	for (size_t i = 0; i < f->n_g; i++)
		if (!strcmp(f->g[i].prefix, prefix))
			return &f->g[i];
	return NULL;
}

static void group_clear(struct group *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->names[i]);
	free(g->names);
	g->names = NULL;
	g->n = 0;
}

/*
 * Was this name and line parsed already (remembered if not)? Each change
 * hands over a proxy's every rule again, and parsing one (its filter and
 * index) costs more than the rest of a request.
 */
static bool checked(const char *name, const char *line)
{
	static char *seen[1024];
	char *key, **slot;
	uint64_t h = 1469598103934665603ULL;

	CHECK(asprintf(&key, "%s\n%s", name, line) > 0);
	for (const char *c = key; *c; c++)
		h = (h ^ (unsigned char)*c) * 1099511628211ULL;
	slot = &seen[h % 1024];
	if (*slot && !strcmp(*slot, key)) {
		free(key);
		return true;
	}
	free(*slot);
	*slot = key;
	return false;
}

/* ctl_set_group's contract: every line parses under its name, and the group becomes exactly these. */
static int fake_rules(void *data, const char *prefix, const char *const *names, const char *const *lines,
		      size_t n, struct ctl_error *e)
{
	static struct rule_set *rs;
	struct fake *f = data;
	struct group *g;

	CHECK(!strncmp(prefix, TOXI_RULE_PREFIX, strlen(TOXI_RULE_PREFIX)));
	if (f->fail_rules) {
		f->fail_rules = false;
		e->status = 400;
		snprintf(e->msg, sizeof(e->msg), "rules refused");
		return -EINVAL;
	}
	/*
	 * One set for the whole run, emptied after each check: a new set's
	 * index is costly. It and checked()'s memory are the only state kept
	 * from one input to the next, and neither changes an outcome: a line
	 * parses under its name or not, whatever came before.
	 */
	if (!rs)
		rs = rule_set_new();
	CHECK(rs);
	for (size_t i = 0; i < n; i++) {
		struct rule_error re;

		CHECK(!strncmp(names[i], prefix, strlen(prefix)));
		if (checked(names[i], lines[i]))
			continue;
		CHECK(rule_set_add(rs, lines[i], names[i], "toxi", (int)i + 1, &re) == 0);
		CHECK(rule_set_del(rs, names[i]) == 0);
	}
	g = group_find(f, prefix);
	if (!g) {
		CHECK(f->n_g < MAX_GROUPS);
		g = &f->g[f->n_g++];
		g->prefix = strdup(prefix);
		CHECK(g->prefix);
	}
	group_clear(g);
	g->names = calloc(n ? n : 1, sizeof(*g->names));
	CHECK(g->names);
	for (size_t i = 0; i < n; i++) {
		g->names[i] = strdup(names[i]);
		CHECK(g->names[i]);
	}
	g->n = n;
	return 0;
}

static void fake_close(struct fake *f)
{
	for (size_t i = 0; i < f->n_g; i++) {
		group_clear(&f->g[i]);
		free(f->g[i].prefix);
	}
}

static bool is_status(int s)
{
	static const int ok[] = { 200, 201, 204, 400, 403, 404, 405, 409, 500 };

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (s == ok[i])
			return true;
	return false;
}

static void check_answer(const struct toxi_answer *a)
{
	json_t *j;

	CHECK(is_status(a->status));
	if (a->status == 204 || a->status == 405) {
		CHECK(!a->body && !a->len);
		return;
	}
	CHECK(a->body && a->len == strlen(a->body) && a->ctype);
	if (a->status == 404 && !strcmp(a->body, "404 page not found\n"))
		return;
	j = json_loadb(a->body, a->len, 0, NULL);
	CHECK(j);
	if (a->status >= 400) {
		CHECK(json_is_object(j) && json_is_string(json_object_get(j, "error")));
		CHECK(json_integer_value(json_object_get(j, "status")) == a->status);
	}
	json_decref(j);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The rule names toxi_toxic_rules gives toxic x of proxy pname (appended to names[*n]). */
static void toxic_names(const char *pname, int proto, json_t *x, char **names, size_t *n, size_t max)
{
	struct toxi_toxic_spec s = { .proxy = pname, .proto = proto, .toxicity = 1.0 };
	char *nm[2], *ln[2];
	json_t *attrs = json_object_get(x, "attributes"), *v;
	const char *key, *stream = json_string_value(json_object_get(x, "stream"));
	int k = 0, r;

	s.name = json_string_value(json_object_get(x, "name"));
	s.type = json_string_value(json_object_get(x, "type"));
	CHECK(s.name && s.type && stream && json_is_object(attrs));
	CHECK(!strcmp(stream, "upstream") || !strcmp(stream, "downstream"));
	s.upstream = !strcmp(stream, "upstream");
	/* The attributes in the type's order, as toxi shows them. */
	json_object_foreach(attrs, key, v) {
		CHECK(k < 3 && json_is_integer(v));
		s.a[k++] = json_integer_value(v);
	}
	r = toxi_toxic_rules(&s, nm, ln, 2);
	CHECK(r >= 0);
	for (int i = 0; i < r; i++) {
		CHECK(*n < max);
		names[(*n)++] = nm[i];
		free(ln[i]);
	}
}

/* The rule name prefix of proxy pname: that of a toxic named "x", less the "x". */
static char *proxy_prefix(const char *pname)
{
	struct toxi_toxic_spec s = { .proxy = pname, .name = "x", .type = "reset_peer",
				     .proto = IPPROTO_TCP, .toxicity = 1.0 };
	char *nm, *ln;

	CHECK(toxi_toxic_rules(&s, &nm, &ln, 1) == 1);
	free(ln);
	nm[strlen(nm) - 1] = '\0';
	return nm;
}

/* One listed proxy: well formed, and its rules are what the fakes hold. */
static void check_proxy(struct fake *f, const char *key, json_t *p, bool forwarded, bool *seen)
{
	const char *name = json_string_value(json_object_get(p, "name"));
	json_t *toxics = json_object_get(p, "toxics"), *x, *proto = json_object_get(p, "protocol");
	char *want[2 * 64 + 1], *prefix;
	size_t n = 0, i;
	struct group *g;
	int pr = IPPROTO_TCP;

	CHECK(json_is_object(p) && name && !strcmp(name, key));
	CHECK(json_is_string(json_object_get(p, "listen")) && json_is_string(json_object_get(p, "upstream")));
	CHECK(json_is_boolean(json_object_get(p, "enabled")) && json_is_array(toxics));
	if (proto) {
		CHECK(json_is_string(proto) && !strcmp(json_string_value(proto), "udp"));
		pr = IPPROTO_UDP;
	}
	/* Toxic names are unique in a proxy. */
	json_array_foreach(toxics, i, x) {
		const char *xn = json_string_value(json_object_get(x, "name"));

		CHECK(xn);
		for (size_t k = 0; k < i; k++)
			CHECK(strcmp(xn, json_string_value(json_object_get(json_array_get(toxics, k), "name"))));
	}
	prefix = proxy_prefix(name);
	if (!json_is_true(json_object_get(p, "enabled"))) {
		if (pr == IPPROTO_TCP && asprintf(&want[n++], "%s.off", prefix) < 0)
			CHECK(0);
	} else if (forwarded) {
		json_array_foreach(toxics, i, x)
			toxic_names(name, pr, x, want, &n, sizeof(want) / sizeof(want[0]));
	}
	g = group_find(f, prefix);
	CHECK((g ? g->n : 0) == n);
	if (g) {
		seen[g - f->g] = true;
		qsort(want, n, sizeof(*want), cmp_str);
		qsort(g->names, g->n, sizeof(*g->names), cmp_str);
		for (i = 0; i < n; i++)
			CHECK(!strcmp(want[i], g->names[i]));
	}
	for (i = 0; i < n; i++)
		free(want[i]);
	free(prefix);
}

/* GET /proxies, and the fakes' state against it. */
static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void check_state(struct toxi *t, struct fake *f)
{
	static bool seen[MAX_GROUPS];
	static uint32_t want[MAX_FDS];
	struct toxi_answer a;
	const char *key;
	json_t *j, *p;
	size_t enabled = 0;

	CHECK(toxi_request(t, "GET", "/proxies", NULL, NULL, 0, &a) == 0);
	CHECK(a.status == 200 && a.body);
	j = json_loadb(a.body, a.len, 0, NULL);
	free(a.body);
	CHECK(json_is_object(j));
	memset(seen, 0, sizeof(seen));
	json_object_foreach(j, key, p) {
		const char *listen = json_string_value(json_object_get(p, "listen"));
		bool on = json_is_true(json_object_get(p, "enabled")), fwd = false;
		uint32_t k = 0;

		if (on) {
			CHECK(enabled < MAX_FDS && strrchr(listen, ':'));
			k = (uint32_t)(json_object_get(p, "protocol") ? IPPROTO_UDP : IPPROTO_TCP) << 16 |
			    (uint32_t)atoi(strrchr(listen, ':') + 1);
			for (size_t i = 0; f->forwarded && i < f->n_fwd && !fwd; i++)
				fwd = f->fwd[i] == k;
			/* Not forwarded while enabled: only while its name does not resolve. */
			CHECK(fwd || may_wait(json_string_value(json_object_get(p, "upstream"))));
		}
		check_proxy(f, key, p, fwd, seen);
		if (fwd)
			want[enabled++] = k;
	}
	json_decref(j);
	/* No rules left under a prefix no listed proxy has. */
	for (size_t i = 0; i < f->n_g; i++)
		CHECK(seen[i] || !f->g[i].n);
	/* The forwarding is that of the listed enabled proxies. */
	if (!f->forwarded) {
		CHECK(!enabled);
		return;
	}
	CHECK(f->n_fwd == enabled);
	qsort(want, enabled, sizeof(want[0]), cmp_u32);
	qsort(f->fwd, f->n_fwd, sizeof(f->fwd[0]), cmp_u32);
	CHECK(!memcmp(want, f->fwd, enabled * sizeof(want[0])));
}

static void inject(struct fake *f, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		f->fail_forward |= s[i] == 'f';
		f->fail_reserve |= s[i] == 'p';
		f->fail_rules |= s[i] == 'r';
		f->u_resolves |= s[i] == 'n';
	}
}

static void one_line(struct toxi *t, struct fake *f, const char *s, size_t n)
{
	const char *sp1 = memchr(s, ' ', n), *sp2;
	char *m, *path;
	const char *body = "";
	size_t blen = 0;
	struct toxi_answer a;

	if (n && s[0] == '!') {
		inject(f, s + 1, n - 1);
		return;
	}
	if (!sp1)
		return;
	sp2 = memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - s));
	m = strndup(s, (size_t)(sp1 - s));
	path = strndup(sp1 + 1, sp2 ? (size_t)(sp2 - sp1 - 1) : n - (size_t)(sp1 + 1 - s));
	CHECK(m && path);
	if (sp2) {
		body = sp2 + 1;
		blen = n - (size_t)(sp2 + 1 - s);
	}
	CHECK(toxi_request(t, m, path, NULL, body, blen, &a) == 0);
	check_answer(&a);
	free(a.body);
	free(m);
	free(path);
	check_state(t, f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fake f;
	struct toxi_ops ops = { .forward = fake_forward, .reserve = fake_reserve, .rules = fake_rules,
				.resolve = fake_resolve, .data = &f };
	const char *s = (const char *)data, *end = s + size;
	struct toxi *t;
	int reqs = 0;

	memset(&f, 0, sizeof(f));
	f.next_port = 40000;
	t = toxi_new(&ops);
	CHECK(t);
	while (s < end && reqs < MAX_REQ) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);

		one_line(t, &f, s, n);
		reqs++;
		s += n + 1;
	}
	toxi_free(t);
	/* Every port toxi reserved is closed again. */
	for (size_t i = 0; i < f.n_fds; i++)
		CHECK(fcntl(f.fds[i], F_GETFD) == -1);
	fake_close(&f);
	return 0;
}
