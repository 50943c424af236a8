// SPDX-License-Identifier: MIT
/* toxi: toxiproxy's API against fake forwarding, ports and rules. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "toxi.h"

struct fake {
	int forwards;			/* calls */
	size_t n_fwd;			/* proxies forwarded by the last call */
	struct nat_proxy fwd[8];
	uint16_t next_port;
	char prefix[80];
	size_t n_rules;
	char names[8][80], lines[8][300];
	struct {
		char prefix[80];
		size_t n;
		char lines[8][300];
	} g[8];				/* every group's rules, by prefix */
	size_t n_g;
	/* The k-th next call of each fails (1: the next one); 0: none. */
	int fail_rules, fail_forward, fail_reserve;
	int fail_rules_too;		/* a second countdown of the rules, for a failed undo */
	int last_fd;			/* the last port reserved */
	struct {
		int peer;		/* the write end of the pipe whose read end toxi holds */
		uint16_t port;
	} held[32];			/* every port reserved, to refuse one still held, as bind does */
	size_t n_held;
	size_t n_cut;			/* proxies cut (ops.cut) */
	struct nat_proxy cut[8];
	char known[80];			/* the one name besides localhost that resolves, to 10.0.0.9 */
	bool pending;			/* other names: a lookup under way (else: do not resolve) */
	int lookups;			/* calls of resolve */
};

static bool fails(int *countdown)
{
	return *countdown && !--*countdown;
}

static int fake_forward(void *data, const struct nat_proxy *p, size_t n, char *msg, size_t size)
{
	struct fake *f = data;

	if (fails(&f->fail_forward)) {
		snprintf(msg, size, "iptables-restore: refused");
		return -EPERM;
	}
	f->forwards++;
	f->n_fwd = n;
	memcpy(f->fwd, p, n * sizeof(*p));
	return 0;
}

/* Is the read end of held[i]'s pipe still open (by toxi)? A closed one leaves POLLERR on the write end. */
static bool held_open(const struct fake *f, size_t i)
{
	struct pollfd p = { .fd = f->held[i].peer, .events = POLLOUT };

	return poll(&p, 1, 0) >= 0 && !(p.revents & POLLERR);
}

/* A port is a pipe's read end; a port still held at any address is refused, as 0.0.0.0:P and 127.0.0.1:P clash. */
static int fake_reserve(void *data, int proto, struct sockaddr_in *a)
{
	struct fake *f = data;
	int pfd[2];

	(void)proto;
	if (fails(&f->fail_reserve))
		return -EADDRINUSE;
	for (size_t i = 0; a->sin_port && i < f->n_held; i++)
		if (f->held[i].port == ntohs(a->sin_port) && held_open(f, i))
			return -EADDRINUSE;
	if (!a->sin_port)
		a->sin_port = htons(f->next_port++);
	cr_assert_lt(f->n_held, 32);
	cr_assert_eq(pipe(pfd), 0);
	f->held[f->n_held].peer = pfd[1];
	f->held[f->n_held++].port = ntohs(a->sin_port);
	f->last_fd = pfd[0];
	return f->last_fd;
}

static int fake_rules(void *data, const char *prefix, const char *const *names, const char *const *lines,
		      size_t n, struct ctl_error *e)
{
	struct fake *f = data;

	size_t g;

	/* Both countdowns run: || would skip the second one. */
	if (fails(&f->fail_rules) | fails(&f->fail_rules_too)) {
		e->status = 400;
		snprintf(e->msg, sizeof(e->msg), "refused");
		return -EINVAL;
	}
	for (g = 0; g < f->n_g && strcmp(f->g[g].prefix, prefix); g++)
		;
	cr_assert_lt(g, 8);
	f->n_g += g == f->n_g;
	snprintf(f->g[g].prefix, sizeof(f->g[g].prefix), "%s", prefix);
	f->g[g].n = n;
	for (size_t i = 0; i < n && i < 8; i++)
		snprintf(f->g[g].lines[i], sizeof(f->g[g].lines[i]), "%s", lines[i]);
	snprintf(f->prefix, sizeof(f->prefix), "%s", prefix);
	f->n_rules = n;
	for (size_t i = 0; i < n && i < 8; i++) {
		snprintf(f->names[i], sizeof(f->names[i]), "%s", names[i]);
		snprintf(f->lines[i], sizeof(f->lines[i]), "%s", lines[i]);
	}
	return 0;
}

static void fake_cut(void *data, const struct nat_proxy *p)
{
	struct fake *f = data;

	if (f->n_cut < 8)
		f->cut[f->n_cut] = *p;
	f->n_cut++;
}

static int fake_resolve(void *data, const char *host, struct in_addr *in)
{
	struct fake *f = data;

	f->lookups++;
	if (!strcmp(host, "localhost")) {
		in->s_addr = htonl(INADDR_LOOPBACK);
		return 0;
	}
	if (f->known[0] && !strcmp(host, f->known)) {
		in->s_addr = inet_addr("10.0.0.9");
		return 0;
	}
	return f->pending ? -EAGAIN : -ENOENT;
}

static struct fake fk;
static struct toxi *t;
static struct toxi_answer a;

/* How many reserved ports toxi holds at port. */
static int holding(uint16_t port)
{
	int n = 0;

	for (size_t i = 0; i < fk.n_held; i++)
		n += fk.held[i].port == port && held_open(&fk, i);
	return n;
}

/* The rule lines the fake holds under prefix, joined by '|'. */
static const char *group(const char *prefix)
{
	static char out[1024];

	out[0] = '\0';
	for (size_t i = 0; i < fk.n_g; i++) {
		if (strcmp(fk.g[i].prefix, prefix))
			continue;
		for (size_t k = 0; k < fk.g[i].n; k++)
			snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s", k ? "|" : "", fk.g[i].lines[k]);
	}
	return out;
}

static void setup(void)
{
	struct toxi_ops ops = {
		.forward = fake_forward, .reserve = fake_reserve, .rules = fake_rules, .cut = fake_cut,
		.resolve = fake_resolve, .data = &fk,
	};

	memset(&fk, 0, sizeof(fk));
	fk.next_port = 40000;
	t = toxi_new(&ops);
	cr_assert_not_null(t);
}

static void teardown(void)
{
	free(a.body);
	toxi_free(t);
	for (size_t i = 0; i < fk.n_held; i++)
		close(fk.held[i].peer);
}

/* One request; the body as text (or ""). */
static const char *req(const char *m, const char *path, const char *body)
{
	free(a.body);
	cr_assert_eq(toxi_request(t, m, path, NULL, body, body ? strlen(body) : 0, &a), 0);
	return a.body ? a.body : "";
}

#define expect(want_status, want_text) do { \
	cr_assert_eq(a.status, want_status, "status %d, want %d: %s", a.status, want_status, a.body ? a.body : ""); \
	cr_assert_str_eq(a.body ? a.body : "", want_text); \
} while (0)

TestSuite(toxi, .init = setup, .fini = teardown);

Test(toxi, version_unknown_paths_methods_browsers)
{
	req("GET", "/version", NULL);
	expect(200, "{\"version\": \"" TOXI_VERSION "\"}\n");
	cr_assert_str_eq(a.ctype, "application/json;charset=utf-8");
	req("GET", "/nope", NULL);
	expect(404, "404 page not found\n");
	req("PUT", "/proxies", NULL);
	expect(405, "");
	req("DELETE", "/proxies/x/toxics", NULL);
	expect(405, "");
	free(a.body);
	cr_assert_eq(toxi_request(t, "GET", "/proxies", "Mozilla/5.0", NULL, 0, &a), 0);
	expect(403, "User agent not allowed\n");
}

Test(toxi, proxy_create_show_conflict_and_errors)
{
	req("POST", "/proxies", "{\"name\":\"db\",\"listen\":\"127.0.0.1:0\",\"upstream\":\"10.0.0.2:5432\"}");
	expect(201, "{\"name\":\"db\",\"listen\":\"127.0.0.1:40000\",\"upstream\":\"10.0.0.2:5432\","
		    "\"enabled\":true,\"toxics\":[]}");
	cr_assert_str_eq(a.ctype, "application/json");
	cr_assert_eq(fk.n_fwd, 1);
	cr_assert_eq(ntohs(fk.fwd[0].listen.sin_port), 40000);
	cr_assert_eq(fk.fwd[0].upstream.sin_addr.s_addr, inet_addr("10.0.0.2"));
	req("POST", "/proxies", "{\"name\":\"db\",\"upstream\":\"10.0.0.2:5432\"}");
	expect(409, "{\"error\":\"proxy already exists\",\"status\":409}\n");
	cr_assert_str_eq(a.ctype, "text/plain; charset=utf-8");
	req("POST", "/proxies", "{\"upstream\":\"10.0.0.2:5432\"}");
	expect(400, "{\"error\":\"missing required field: name\",\"status\":400}\n");
	req("POST", "/proxies", "{\"name\":\"x\"}");
	expect(400, "{\"error\":\"missing required field: upstream\",\"status\":400}\n");
	req("POST", "/proxies", "");
	expect(400, "{\"error\":\"bad request body: EOF\",\"status\":400}\n");
	req("POST", "/proxies", "{\"name\":3,\"upstream\":\"a:1\"}");
	cr_assert_eq(a.status, 400);
	req("GET", "/proxies/db", NULL);
	cr_assert_eq(a.status, 200);
	req("GET", "/proxies/nope", NULL);
	expect(404, "{\"error\":\"proxy not found\",\"status\":404}\n");
	req("POST", "/proxies", "{\"name\":\"a\",\"listen\":\"0.0.0.0:7000\",\"upstream\":\"localhost:1\"}");
	cr_assert_eq(a.status, 201);
	req("GET", "/proxies", NULL);
	/* Keyed by name, in name order, as Go marshals a map; a wildcard shown as Go shows it. */
	cr_assert_str_eq(a.body, "{\"a\":{\"name\":\"a\",\"listen\":\"[::]:7000\",\"upstream\":\"localhost:1\","
				 "\"enabled\":true,\"toxics\":[]},\"db\":{\"name\":\"db\",\"listen\":\"127.0.0.1:40000\","
				 "\"upstream\":\"10.0.0.2:5432\",\"enabled\":true,\"toxics\":[]}}");
	req("DELETE", "/proxies/a", NULL);
	expect(204, "");
	cr_assert_eq(fk.n_fwd, 1);
}

Test(toxi, toxics_become_named_rules)
{
	req("POST", "/proxies", "{\"name\":\"db\",\"listen\":\"127.0.0.1:9000\",\"upstream\":\"10.0.0.2:5432\"}");
	req("POST", "/proxies/db/toxics", "{\"type\":\"latency\",\"attributes\":{\"latency\":100,\"jitter\":5}}");
	expect(200, "{\"attributes\":{\"latency\":100,\"jitter\":5},\"name\":\"latency_downstream\","
		    "\"type\":\"latency\",\"stream\":\"downstream\",\"toxicity\":1}");
	cr_assert_str_eq(fk.prefix, "toxi.db.");
	cr_assert_eq(fk.n_rules, 1);
	cr_assert_str_eq(fk.names[0], "toxi.db.latency_downstream");
	cr_assert_str_eq(fk.lines[0], "tcp src port 5432 and src host 10.0.0.2 and dst portrange 61000-65535 => delay 100ms jitter 5ms, "
				      "if not syn and not syn-ack");
	req("POST", "/proxies/db/toxics", "{\"type\":\"latency\"}");
	expect(409, "{\"error\":\"toxic already exists\",\"status\":409}\n");
	req("POST", "/proxies/db/toxics", "{\"type\":\"bogus\"}");
	expect(400, "{\"error\":\"invalid toxic type\",\"status\":400}\n");
	req("POST", "/proxies/db/toxics", "{\"type\":\"latency\",\"stream\":\"sideways\"}");
	expect(400, "{\"error\":\"stream was invalid, can be either upstream or downstream\",\"status\":400}\n");
	req("POST", "/proxies/db/toxics",
	    "{\"name\":\"cut\",\"type\":\"limit_data\",\"stream\":\"upstream\",\"toxicity\":0.5,\"attributes\":{\"bytes\":100}}");
	expect(200, "{\"attributes\":{\"bytes\":100},\"name\":\"cut\",\"type\":\"limit_data\",\"stream\":\"upstream\","
		    "\"toxicity\":0.5}");
	cr_assert_eq(fk.n_rules, 2);
	cr_assert_str_eq(fk.names[1], "toxi.db.cut");
	cr_assert(!strncmp(fk.lines[1], "tcp dst port 9000 and dst host 127.0.0.1 => reset, from-byte 100, conn 50.0000% key ",
			   strlen("tcp dst port 9000 and dst host 127.0.0.1 => reset, from-byte 100, conn 50.0000% key ")),
		  "%s", fk.lines[1]);
	/* toxiproxy lists the upstream chain first. */
	req("GET", "/proxies/db/toxics", NULL);
	cr_assert(strstr(a.body, "latency_downstream") > strstr(a.body, "\"cut\""));
	/* An update (the Node client POSTs) changes the attributes given, keeps the rest. */
	req("POST", "/proxies/db/toxics/latency_downstream", "{\"attributes\":{\"latency\":300}}");
	expect(200, "{\"attributes\":{\"latency\":300,\"jitter\":5},\"name\":\"latency_downstream\","
		    "\"type\":\"latency\",\"stream\":\"downstream\",\"toxicity\":1}");
	cr_assert(strstr(fk.lines[0], "delay 300ms jitter 5ms"), "%s", fk.lines[0]);
	req("PATCH", "/proxies/db/toxics/nope", "{}");
	expect(404, "{\"error\":\"toxic not found\",\"status\":404}\n");
	/* A refused rule change leaves the toxic as it was. */
	fk.fail_rules = 1;
	req("PATCH", "/proxies/db/toxics/cut", "{\"attributes\":{\"bytes\":7}}");
	cr_assert_eq(a.status, 500);
	fk.fail_rules = 0;
	req("GET", "/proxies/db/toxics/cut", NULL);
	cr_assert(strstr(a.body, "\"bytes\":100"), "%s", a.body);
	req("DELETE", "/proxies/db/toxics/cut", NULL);
	expect(204, "");
	cr_assert_eq(fk.n_rules, 1);
	req("POST", "/reset", NULL);
	expect(204, "");
	cr_assert_eq(fk.n_rules, 0);
}

Test(toxi, disabled_proxy_is_not_forwarded_and_cut)
{
	req("POST", "/proxies", "{\"name\":\"db\",\"listen\":\"127.0.0.1:9000\",\"upstream\":\"10.0.0.2:5432\"}");
	req("POST", "/proxies/db", "{\"enabled\":false}");
	cr_assert_eq(a.status, 200);
	cr_assert(strstr(a.body, "\"enabled\":false"), "%s", a.body);
	cr_assert_eq(fk.n_fwd, 0);
	cr_assert_eq(fk.n_rules, 1);
	cr_assert_str_eq(fk.names[0], "toxi.db..off");
	cr_assert_str_eq(fk.lines[0], "tcp dst port 9000 and dst host 127.0.0.1 => reset");
	req("POST", "/reset", NULL);
	cr_assert_eq(fk.n_fwd, 1);
	cr_assert_eq(fk.n_rules, 0);
}

Test(toxi, populate_keeps_same_and_replaces_changed)
{
	req("POST", "/populate", "[{\"name\":\"a\",\"listen\":\"127.0.0.1:9001\",\"upstream\":\"10.0.0.2:1\"},"
				 "{\"name\":\"b\",\"listen\":\"127.0.0.1:9002\",\"upstream\":\"10.0.0.2:2\",\"enabled\":false}]");
	cr_assert_eq(a.status, 201, "%s", a.body);
	cr_assert(!strncmp(a.body, "{\"proxies\":[{\"name\":\"a\"", 23), "%s", a.body);
	cr_assert_eq(fk.n_fwd, 1);
	req("POST", "/populate", "[{\"name\":\"c\"}]");
	expect(400, "{\"error\":\"missing required field: upstream at proxy 1\",\"status\":400,\"proxies\":null}");
	req("POST", "/populate", "{}");
	cr_assert_eq(a.status, 400);
}

Test(toxi, udp_proxies_take_datagram_toxics_only)
{
	req("POST", "/proxies", "{\"name\":\"dns\",\"listen\":\"127.0.0.1:5353\",\"upstream\":\"10.0.0.2:53\","
				"\"protocol\":\"udp\"}");
	cr_assert_eq(a.status, 201, "%s", a.body);
	cr_assert(strstr(a.body, "\"protocol\":\"udp\""), "%s", a.body);
	cr_assert_eq(fk.fwd[0].proto, IPPROTO_UDP);
	req("POST", "/proxies/dns/toxics", "{\"type\":\"reset_peer\"}");
	expect(400, "{\"error\":\"invalid toxic type\",\"status\":400}\n");
	req("POST", "/proxies/dns/toxics", "{\"type\":\"packet_loss\",\"attributes\":{\"loss_rate\":30}}");
	cr_assert_eq(a.status, 200, "%s", a.body);
	cr_assert_str_eq(fk.lines[0], "udp src port 53 and src host 10.0.0.2 and dst portrange 61000-65535 => drop 30%");
}

/* Each toxic type's rules, as the README's table says. */
Test(toxi, mapping_of_every_type)
{
	static const struct {
		const char *type;
		bool up;
		long long a[3];
		const char *want[2];
	} cases[] = {
		{ "latency", false, { 0, 0 }, { NULL } },
		{ "bandwidth", false, { 100 }, { "F => rate 800kbit limit 10000" } },
		{ "slow_close", false, { 500 }, { "F => delay 500ms if fin" } },
		{ "timeout", false, { 0 }, { "F => drop, if not syn and not syn-ack" } },
		{ "timeout", false, { 1000 },
		  { "F => reset, conn-after 1000ms, if not syn and not syn-ack and not ack-only",
		    "F => drop, if not syn and not syn-ack" } },
		{ "reset_peer", false, { 0 }, { "F => reset, if not syn and not syn-ack and not ack-only" } },
		{ "reset_peer", false, { 300 },
		  { "F => reset, conn-after 300ms, if not syn and not syn-ack and not ack-only" } },
		{ "slicer", false, { 10, 5, 100 }, { "F => segment 10 vary 5 gap 100us" } },
		{ "slicer", false, { 10, 5, 0 }, { "F => segment 10 vary 5" } },
		{ "slicer", false, { 10, 0, 0 }, { "F => segment 10" } },
		{ "slicer", false, { 10, 30, 7 }, { "F => segment 10 vary 9 gap 7us" } },
		{ "slicer", false, { 1, 30, 0 }, { "F => segment 1" } },
		{ "limit_data", false, { 1000 }, { "F => reset, from-byte 1000" } },
		{ "noop", false, { 0 }, { NULL } },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct toxi_toxic_spec s = { .proxy = "p", .name = "x", .type = cases[i].type, .proto = IPPROTO_TCP,
					     .upstream = cases[i].up, .toxicity = 1 };
		char *names[2], *lines[2];
		int n, want = cases[i].want[0] ? (cases[i].want[1] ? 2 : 1) : 0;

		s.upstream_addr.sin_port = htons(80);
		s.upstream_addr.sin_addr.s_addr = inet_addr("10.0.0.2");
		memcpy(s.a, cases[i].a, sizeof(s.a));
		n = toxi_toxic_rules(&s, names, lines, 2);
		cr_assert_eq(n, want, "%s: %d rules", cases[i].type, n);
		for (int k = 0; k < n; k++) {
			const char *w = cases[i].want[k] + 1;	/* after the F */
			char full[300];

			snprintf(full, sizeof(full), "tcp src port 80 and src host 10.0.0.2 and dst portrange 61000-65535%s", w);
			cr_assert_str_eq(lines[k], full, "%s", cases[i].type);
			cr_assert_str_eq(names[k], k == 0 && n == 2 ? "toxi.p.x.close" : "toxi.p.x");
			free(names[k]);
			free(lines[k]);
		}
	}
}

/*
 * A toxic update whose body is JSON but no object has no parse error to
 * quote: the answer says so (it once printed an uninitialized buffer,
 * which the fuzzer met as a failed request after thousands of inputs).
 */
Test(toxi, toxic_update_with_a_non_object_body)
{
	req("POST", "/proxies", "{\"name\":\"db\",\"listen\":\"127.0.0.1:9000\",\"upstream\":\"10.0.0.2:5432\"}");
	req("POST", "/proxies/db/toxics", "{\"name\":\"cut\",\"type\":\"limit_data\",\"attributes\":{\"bytes\":100}}");
	req("PATCH", "/proxies/db/toxics/cut", "\"bytes\":ty\":1}");
	expect(400, "{\"error\":\"bad request body: json: cannot unmarshal into Go value of type struct\",\"status\":400}\n");
	req("GET", "/proxies/db/toxics/cut", NULL);
	cr_assert(strstr(a.body, "\"bytes\":100"), "%s", a.body);
}

/* An error message cut short in the middle of a UTF-8 character is still answered, in ASCII. */
Test(toxi, error_cut_inside_a_character_is_answered)
{
	char body[600];
	int n = snprintf(body, sizeof(body), "{\"name\":\"u\",\"upstream\":\"10.0.0.2:1\",\"listen\":\"");

	/* "address " + 155.5 two-byte characters fill the 319 bytes of the reason. */
	for (int i = 0; i < 200; i++)
		n += snprintf(body + n, sizeof(body) - (size_t)n, "\xc3\xa9");
	snprintf(body + n, sizeof(body) - (size_t)n, ":1\"}");
	req("POST", "/proxies", body);
	cr_assert_eq(a.status, 500, "%d %s", a.status, a.body ? a.body : "");
	cr_assert(strstr(a.body, "\"error\":\"listen tcp: address ??"), "%s", a.body);
	req("GET", "/proxies", NULL);
	expect(200, "{}");
}

/* The proxy's forwarding that ops.cut got: listen port, upstream address and port. */
static void expect_cut(size_t i, uint16_t lport, const char *up, uint16_t uport)
{
	cr_assert_lt(i, fk.n_cut, "cut %zu of %zu", i, fk.n_cut);
	cr_assert_eq(ntohs(fk.cut[i].listen.sin_port), lport);
	cr_assert_eq(fk.cut[i].upstream.sin_addr.s_addr, inet_addr(up));
	cr_assert_eq(ntohs(fk.cut[i].upstream.sin_port), uport);
	cr_assert_eq(fk.cut[i].proto, IPPROTO_TCP);
}

/* A proxy the kernel stops forwarding (disabled, moved, replaced, deleted) has its connections cut, once. */
Test(toxi, stopped_proxies_are_cut)
{
	req("POST", "/proxies", "{\"name\":\"db\",\"listen\":\"127.0.0.1:9000\",\"upstream\":\"10.0.0.2:5432\"}");
	req("POST", "/proxies/db/toxics", "{\"type\":\"latency\",\"attributes\":{\"latency\":5}}");
	req("POST", "/proxies/db", "{\"enabled\":true}");
	cr_assert_eq(fk.n_cut, 0);
	req("POST", "/proxies/db", "{\"enabled\":false}");
	cr_assert_eq(a.status, 200, "%s", a.body);
	cr_assert_eq(fk.n_cut, 1);
	expect_cut(0, 9000, "10.0.0.2", 5432);
	req("POST", "/proxies/db", "{\"enabled\":false}");
	req("POST", "/reset", NULL);
	cr_assert_eq(fk.n_cut, 1);
	req("POST", "/proxies/db", "{\"upstream\":\"10.0.0.3:5432\"}");
	cr_assert_eq(a.status, 200, "%s", a.body);
	cr_assert_eq(fk.n_cut, 2);
	expect_cut(1, 9000, "10.0.0.2", 5432);
	req("POST", "/populate", "[{\"name\":\"db\",\"listen\":\"127.0.0.1:9000\",\"upstream\":\"10.0.0.3:5432\"}]");
	cr_assert_eq(fk.n_cut, 2);
	req("POST", "/populate", "[{\"name\":\"db\",\"listen\":\"127.0.0.1:9000\",\"upstream\":\"10.0.0.4:5432\"}]");
	cr_assert_eq(a.status, 201, "%s", a.body);
	cr_assert_eq(fk.n_cut, 3);
	expect_cut(2, 9000, "10.0.0.3", 5432);
	fk.fail_rules = 1;
	req("POST", "/proxies/db/toxics", "{\"type\":\"latency\",\"attributes\":{\"latency\":5}}");
	cr_assert_eq(a.status, 500, "%s", a.body);
	cr_assert_eq(fk.n_cut, 3);
	fk.fail_rules = 0;
	req("DELETE", "/proxies/db", NULL);
	cr_assert_eq(a.status, 204, "%s", a.body);
	cr_assert_eq(fk.n_cut, 4);
	expect_cut(3, 9000, "10.0.0.4", 5432);
}

/* At exit every forwarding proxy is cut, a disabled one not (it was cut when it stopped). */
Test(toxi, exit_cuts_every_forwarding_proxy)
{
	req("POST", "/proxies", "{\"name\":\"a\",\"listen\":\"127.0.0.1:9001\",\"upstream\":\"10.0.0.2:1\"}");
	req("POST", "/proxies", "{\"name\":\"b\",\"listen\":\"127.0.0.1:9002\",\"upstream\":\"10.0.0.2:2\"}");
	req("POST", "/proxies", "{\"name\":\"c\",\"listen\":\"127.0.0.1:9003\",\"upstream\":\"10.0.0.2:3\"}");
	req("POST", "/proxies/b", "{\"enabled\":false}");
	cr_assert_eq(fk.n_cut, 1);
	toxi_cut_all(t);
	cr_assert_eq(fk.n_cut, 3);
	expect_cut(1, 9001, "10.0.0.2", 1);
	expect_cut(2, 9003, "10.0.0.2", 3);
}

/* ---- a refused change is undone whole: state, rules and forwarding as before ---- */

#define PROXY_A "{\"name\":\"a\",\"listen\":\"127.0.0.1:9000\",\"upstream\":\"10.0.0.2:1\"}"
#define PROXY_B "{\"name\":\"b\",\"listen\":\"127.0.0.1:9001\",\"upstream\":\"10.0.0.2:2\"}"
#define LAT_A "tcp src port 1 and src host 10.0.0.2 and dst portrange 61000-65535 => delay 10ms jitter 0ms, if not syn and not syn-ack"
#define LAT_B "tcp src port 2 and src host 10.0.0.2 and dst portrange 61000-65535 => delay 20ms jitter 0ms, if not syn and not syn-ack"

/* a with a latency toxic, b with one or disabled. */
static void two_proxies(bool b_disabled)
{
	req("POST", "/proxies", PROXY_A);
	req("POST", "/proxies/a/toxics", "{\"type\":\"latency\",\"attributes\":{\"latency\":10}}");
	req("POST", "/proxies", PROXY_B);
	if (b_disabled)
		req("POST", "/proxies/b", "{\"enabled\":false}");
	else
		req("POST", "/proxies/b/toxics", "{\"type\":\"latency\",\"attributes\":{\"latency\":20}}");
	cr_assert_eq(a.status, 200, "%s", a.body);
	cr_assert_str_eq(group("toxi.a."), LAT_A);
}

/* What a refused change must leave as it was: the proxies GET lists, every rules group, the forwarding. */
struct snap {
	char proxies[4096];
	struct fake fk;
};

static void snap_take(struct snap *sn)
{
	snprintf(sn->proxies, sizeof(sn->proxies), "%s", req("GET", "/proxies", NULL));
	sn->fk = fk;
}

static void assert_unchanged(const struct snap *sn)
{
	cr_assert_str_eq(req("GET", "/proxies", NULL), sn->proxies);
	cr_assert_eq(fk.n_g, sn->fk.n_g);
	for (size_t i = 0; i < fk.n_g; i++) {
		cr_assert_str_eq(fk.g[i].prefix, sn->fk.g[i].prefix);
		cr_assert_eq(fk.g[i].n, sn->fk.g[i].n, "%s", fk.g[i].prefix);
		for (size_t k = 0; k < fk.g[i].n && k < 8; k++)
			cr_assert_str_eq(fk.g[i].lines[k], sn->fk.g[i].lines[k]);
	}
	cr_assert_eq(fk.n_fwd, sn->fk.n_fwd);
	for (size_t i = 0; i < fk.n_fwd; i++) {
		cr_assert_eq(fk.fwd[i].proto, sn->fk.fwd[i].proto);
		cr_assert_eq(fk.fwd[i].listen.sin_port, sn->fk.fwd[i].listen.sin_port);
		cr_assert_eq(fk.fwd[i].upstream.sin_addr.s_addr, sn->fk.fwd[i].upstream.sin_addr.s_addr);
		cr_assert_eq(fk.fwd[i].upstream.sin_port, sn->fk.fwd[i].upstream.sin_port);
	}
}

/* Request m path body with the fake's *countdown set, refused with the error msg, and nothing changed. */
static void refused(int *countdown, int k, const char *m, const char *path, const char *body, const char *msg)
{
	struct snap before;
	char want[512];

	snap_take(&before);
	*countdown = k;
	req(m, path, body);
	snprintf(want, sizeof(want), "{\"error\":\"%s\",\"status\":500}\n", msg);
	expect(500, want);
	assert_unchanged(&before);
}

#define REFUSED_FWD "forwarding: iptables-restore: refused"

Test(toxi, reset_refused_by_forwarding_changes_nothing)
{
	two_proxies(true);
	refused(&fk.fail_forward, 1, "POST", "/reset", NULL, REFUSED_FWD);
	cr_assert_str_eq(group("toxi.a."), LAT_A);
	cr_assert_str_eq(group("toxi.b."), "tcp dst port 9001 and dst host 127.0.0.1 => reset");
}

Test(toxi, reset_refused_by_the_second_proxys_rules_puts_the_first_back)
{
	two_proxies(false);
	refused(&fk.fail_rules, 2, "POST", "/reset", NULL, "rules of proxy 'b': refused");
	cr_assert_str_eq(group("toxi.b."), LAT_B);
	/* And a reset that the kernel and the rules take does it all. */
	req("POST", "/reset", NULL);
	expect(204, "");
	cr_assert_str_eq(group("toxi.a."), "");
	cr_assert_str_eq(group("toxi.b."), "");
}

Test(toxi, update_refused_by_forwarding_keeps_the_proxy_and_its_port)
{
	int fd;

	two_proxies(false);
	fd = fk.last_fd;
	refused(&fk.fail_forward, 1, "PATCH", "/proxies/b", "{\"upstream\":\"10.0.0.3:7\"}", REFUSED_FWD);
	/* The listen port is still held (a move to the same address keeps its socket). */
	cr_assert_neq(fcntl(fd, F_GETFD), -1);
	req("PATCH", "/proxies/b", "{\"upstream\":\"10.0.0.3:7\"}");
	cr_assert_eq(a.status, 200, "%s", a.body);
	cr_assert_eq(fk.fwd[1].upstream.sin_addr.s_addr, inet_addr("10.0.0.3"));
	cr_assert_str_eq(group("toxi.b."), "tcp src port 7 and src host 10.0.0.3 and dst portrange 61000-65535 => delay 20ms jitter 0ms, "
					   "if not syn and not syn-ack");
	cr_assert_neq(fcntl(fd, F_GETFD), -1);
}

Test(toxi, move_that_cannot_listen_is_undone)
{
	two_proxies(false);
	refused(&fk.fail_reserve, 1, "PATCH", "/proxies/b", "{\"listen\":\"127.0.0.1:9009\"}",
		"listen tcp 127.0.0.1:9009: bind: Address already in use");
	cr_assert_str_eq(group("toxi.b."), LAT_B);
}

Test(toxi, toxic_delete_refused_keeps_the_toxic)
{
	two_proxies(false);
	refused(&fk.fail_rules, 1, "DELETE", "/proxies/a/toxics/latency_downstream", NULL,
		"rules of proxy 'a': refused");
	req("GET", "/proxies/a/toxics/latency_downstream", NULL);
	cr_assert_eq(a.status, 200, "%s", a.body);
}

Test(toxi, proxy_delete_refused_by_forwarding_keeps_the_proxy)
{
	two_proxies(false);
	refused(&fk.fail_forward, 1, "DELETE", "/proxies/a", NULL, REFUSED_FWD);
	cr_assert_str_eq(group("toxi.a."), LAT_A);
}

Test(toxi, proxy_delete_refused_by_the_rules_puts_the_forwarding_back)
{
	int forwards;

	two_proxies(false);
	forwards = fk.forwards;
	refused(&fk.fail_rules, 1, "DELETE", "/proxies/a", NULL, "rules of proxy 'a': refused");
	/* Taken away, then put back. */
	cr_assert_eq(fk.forwards, forwards + 2);
	cr_assert_str_eq(group("toxi.a."), LAT_A);
}

/* Populate's proxies are made one after the other: those before a refusal stay, the refused one is undone. */
Test(toxi, populate_refused_replacement_keeps_the_old_proxy)
{
	char before[1024];

	two_proxies(false);
	snprintf(before, sizeof(before), "%s", req("GET", "/proxies/a", NULL));
	fk.fail_forward = 2;
	req("POST", "/populate", "[{\"name\":\"c\",\"listen\":\"127.0.0.1:9002\",\"upstream\":\"10.0.0.2:3\"},"
				 "{\"name\":\"a\",\"listen\":\"127.0.0.1:9000\",\"upstream\":\"10.0.0.9:1\"}]");
	cr_assert_str_eq(a.body, "{\"error\":\"" REFUSED_FWD "\",\"status\":500,"
				 "\"proxies\":[{\"name\":\"c\",\"listen\":\"127.0.0.1:9002\",\"upstream\":\"10.0.0.2:3\","
				 "\"enabled\":true,\"toxics\":[]}]}");
	cr_assert_str_eq(req("GET", "/proxies/a", NULL), before);
	cr_assert_str_eq(group("toxi.a."), LAT_A);
	cr_assert_eq(fk.n_fwd, 3);
}

/* When putting back fails too, the answer says so, and the next change sets every group again. */
Test(toxi, failed_undo_is_said_and_mended_by_the_next_change)
{
	two_proxies(false);
	fk.fail_rules = 2;		/* b's rules in the reset */
	fk.fail_rules_too = 3;		/* then putting a's back */
	req("POST", "/reset", NULL);
	expect(500, "{\"error\":\"rules of proxy 'b': refused; putting back the rules of proxy 'a' failed too: "
		    "refused\",\"status\":500}\n");
	/* The state is as before; a's rules are not (the reset emptied them). */
	req("GET", "/proxies/a/toxics/latency_downstream", NULL);
	cr_assert_eq(a.status, 200, "%s", a.body);
	cr_assert_str_eq(group("toxi.a."), "");
	req("POST", "/proxies/b/toxics", "{\"type\":\"bandwidth\",\"attributes\":{\"rate\":5}}");
	cr_assert_eq(a.status, 200, "%s", a.body);
	cr_assert_str_eq(group("toxi.a."), LAT_A);
}

/*
 * A move to another address on the same port (127.0.0.1:P to 0.0.0.0:P,
 * which bind refuses while the old socket is open) closes the old one
 * first, as toxiproxy stops before it starts; refused, the old is taken back.
 */
Test(toxi, move_to_the_same_port_at_another_address)
{
	two_proxies(false);
	cr_assert_eq(holding(9001), 1);
	refused(&fk.fail_forward, 1, "PATCH", "/proxies/b", "{\"listen\":\"0.0.0.0:9001\"}", REFUSED_FWD);
	cr_assert_eq(holding(9001), 1);
	req("PATCH", "/proxies/b", "{\"listen\":\"0.0.0.0:9001\"}");
	cr_assert_eq(a.status, 200, "%s", a.body);
	cr_assert(strstr(a.body, "\"listen\":\"[::]:9001\""), "%s", a.body);
	cr_assert_eq(fk.fwd[1].listen.sin_addr.s_addr, INADDR_ANY);
	cr_assert_eq(holding(9001), 1);
}

/* toxiproxy resolves the upstream at each connection: a name that does not resolve yet is taken. */
Test(toxi, unresolved_upstream_is_taken_and_forwarded_once_it_resolves)
{
	req("POST", "/proxies", "{\"name\":\"web\",\"listen\":\"127.0.0.1:9100\",\"upstream\":\"later:8080\"}");
	expect(201, "{\"name\":\"web\",\"listen\":\"127.0.0.1:9100\",\"upstream\":\"later:8080\","
		    "\"enabled\":true,\"toxics\":[]}");
	cr_assert_eq(fk.n_fwd, 0);
	cr_assert_eq(holding(9100), 1);
	req("POST", "/proxies/web/toxics", "{\"type\":\"latency\",\"attributes\":{\"latency\":100}}");
	cr_assert_eq(a.status, 200);
	/* No forwarding, so no rules: they need the upstream's address. */
	cr_assert_str_eq(group("toxi.web."), "");
	cr_assert_eq(toxi_refresh(t), 0);
	cr_assert_eq(fk.n_fwd, 0);
	snprintf(fk.known, sizeof(fk.known), "later");
	cr_assert_eq(toxi_refresh(t), 1);
	cr_assert_eq(fk.n_fwd, 1);
	cr_assert_eq(ntohs(fk.fwd[0].listen.sin_port), 9100);
	cr_assert_eq(fk.fwd[0].upstream.sin_addr.s_addr, inet_addr("10.0.0.9"));
	cr_assert_eq(ntohs(fk.fwd[0].upstream.sin_port), 8080);
	cr_assert_str_eq(group("toxi.web."), "tcp src port 8080 and src host 10.0.0.9 and dst portrange 61000-65535 => "
					     "delay 100ms jitter 0ms, if not syn and not syn-ack");
	/* Resolved once: the next refreshes look no more. */
	fk.lookups = 0;
	cr_assert_eq(toxi_refresh(t), 0);
	req("GET", "/proxies/web", NULL);
	cr_assert(strstr(a.body, "\"upstream\":\"later:8080\""), "%s", a.body);
	cr_assert_eq(fk.lookups, 0);
}

Test(toxi, unresolved_upstream_resolves_at_the_next_request)
{
	fk.pending = true;
	req("POST", "/proxies", "{\"name\":\"web\",\"listen\":\"127.0.0.1:9100\",\"upstream\":\"later:8080\"}");
	cr_assert_eq(a.status, 201);
	cr_assert_eq(fk.n_fwd, 0);
	snprintf(fk.known, sizeof(fk.known), "later");
	req("GET", "/version", NULL);
	cr_assert_eq(fk.n_fwd, 1);
	cr_assert_eq(fk.fwd[0].upstream.sin_addr.s_addr, inet_addr("10.0.0.9"));
}

/* toxiproxy-node-client's "Should update a proxy": a running proxy moved to a name that does not resolve. */
Test(toxi, update_to_an_unresolved_upstream_stops_forwarding)
{
	req("POST", "/proxies", "{\"name\":\"db\",\"listen\":\"127.0.0.1:9000\",\"upstream\":\"10.0.0.2:5432\"}");
	cr_assert_eq(fk.n_fwd, 1);
	req("POST", "/proxies/db", "{\"upstream\":\"somehost:12345\"}");
	expect(200, "{\"name\":\"db\",\"listen\":\"127.0.0.1:9000\",\"upstream\":\"somehost:12345\","
		    "\"enabled\":true,\"toxics\":[]}");
	cr_assert_eq(fk.n_fwd, 0);
	cr_assert_eq(fk.n_cut, 1);
	cr_assert_eq(holding(9000), 1);
	/* Disabled and enabled again: still waiting for the name. */
	req("POST", "/proxies/db", "{\"enabled\":false}");
	req("POST", "/proxies/db", "{\"enabled\":true}");
	cr_assert_eq(a.status, 200);
	cr_assert_eq(fk.n_fwd, 0);
	snprintf(fk.known, sizeof(fk.known), "somehost");
	cr_assert_eq(toxi_refresh(t), 1);
	cr_assert_eq(fk.n_fwd, 1);
}

Test(toxi, upstream_syntax_errors_are_still_refused)
{
	req("POST", "/proxies", "{\"name\":\"a\",\"listen\":\"127.0.0.1:0\",\"upstream\":\"later\"}");
	expect(500, "{\"error\":\"listen tcp: address later: missing port in address\",\"status\":500}\n");
	req("POST", "/proxies", "{\"name\":\"a\",\"listen\":\"127.0.0.1:0\",\"upstream\":\"later:x\"}");
	expect(500, "{\"error\":\"listen tcp: address later:x: invalid port\",\"status\":500}\n");
	/* A listen name must resolve: there is nothing to wait for. */
	req("POST", "/proxies", "{\"name\":\"a\",\"listen\":\"nowhere:0\",\"upstream\":\"later:1\"}");
	cr_assert_eq(a.status, 500);
	req("GET", "/proxies", NULL);
	expect(200, "{}");
}

Test(toxi, refused_forwarding_of_a_resolved_name_is_tried_again)
{
	req("POST", "/proxies", "{\"name\":\"web\",\"listen\":\"127.0.0.1:9100\",\"upstream\":\"later:8080\"}");
	snprintf(fk.known, sizeof(fk.known), "later");
	fk.fail_forward = 1;
	cr_assert_lt(toxi_refresh(t), 0);
	cr_assert_eq(fk.n_fwd, 0);
	cr_assert_eq(toxi_refresh(t), 1);
	cr_assert_eq(fk.n_fwd, 1);
}
