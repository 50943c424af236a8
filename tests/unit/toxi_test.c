// SPDX-License-Identifier: MIT
/* toxi: toxiproxy's API against fake forwarding, ports and rules. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <jansson.h>
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
	int fail_rules;
	size_t n_cut;			/* proxies cut (ops.cut) */
	struct nat_proxy cut[8];
};

static int fake_forward(void *data, const struct nat_proxy *p, size_t n, char *msg, size_t size)
{
	struct fake *f = data;

	(void)msg;
	(void)size;
	f->forwards++;
	f->n_fwd = n;
	memcpy(f->fwd, p, n * sizeof(*p));
	return 0;
}

static int fake_reserve(void *data, int proto, struct sockaddr_in *a)
{
	struct fake *f = data;

	(void)proto;
	if (!a->sin_port)
		a->sin_port = htons(f->next_port++);
	return dup(0);
}

static int fake_rules(void *data, const char *prefix, const char *const *names, const char *const *lines,
		      size_t n, struct ctl_error *e)
{
	struct fake *f = data;

	if (f->fail_rules) {
		e->status = 400;
		snprintf(e->msg, sizeof(e->msg), "refused");
		return -EINVAL;
	}
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

static struct fake fk;
static struct toxi *t;
static struct toxi_answer a;

static void setup(void)
{
	struct toxi_ops ops = {
		.forward = fake_forward, .reserve = fake_reserve, .rules = fake_rules, .cut = fake_cut, .data = &fk,
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
	cr_assert_str_eq(fk.lines[0], "tcp src port 5432 and src host 10.0.0.2 => delay 100ms jitter 5ms, "
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
	cr_assert_str_eq(fk.lines[0], "udp src port 53 and src host 10.0.0.2 => drop 30%");
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
		{ "slicer", false, { 10, 5, 100 }, { "F => segment 10 gap 100us" } },
		{ "slicer", false, { 10, 5, 0 }, { "F => segment 10" } },
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

			snprintf(full, sizeof(full), "tcp src port 80 and src host 10.0.0.2%s", w);
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
