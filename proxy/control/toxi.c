// SPDX-License-Identifier: MIT
/*
 * toxiproxy's API. The state (proxies and their toxics, in toxiproxy's
 * order) lives here; a change is made on a copy of it, and the kernel
 * forwarding and the proxies' rules are then set from the copy where they
 * differ, so what runs is always a function of what the API shows. A
 * change the kernel or the rules refuse is undone whole (state, rules,
 * forwarding, ports: txn_commit), and answered 500 (toxiproxy answers its
 * own failures to listen with 500).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "rng.h"
#include "toxi.h"

/* Rules of one toxic at most; of one proxy at most. */
#define MAX_TOXIC_RULES 2
#define MAX_TOXICS 64
#define MAX_PROXIES 256
/* Bytes of a proxy's and a toxic's part of a rule name (RULE_MAX_NAME is 64). */
#define NAME_PART 24

struct toxic_type {
	const char *name;
	const char *attr[3];
	bool udp;		/* makes sense for datagrams */
};

/* toxiproxy 2.8.0's toxics (one .go file each), attributes in their struct order; packet_loss is faultline's. */
static const struct toxic_type types[] = {
	{ "noop", { NULL }, true },
	{ "latency", { "latency", "jitter", NULL }, true },
	{ "bandwidth", { "rate", NULL }, true },
	{ "slow_close", { "delay", NULL }, false },
	{ "timeout", { "timeout", NULL }, false },
	{ "reset_peer", { "timeout", NULL }, false },
	{ "slicer", { "average_size", "size_variation", "delay" }, false },
	{ "limit_data", { "bytes", NULL }, false },
	{ "packet_loss", { "loss_rate", "correlation", NULL }, true },
};

struct toxic {
	char *name;
	const struct toxic_type *type;
	bool upstream;
	float toxicity;
	long long a[3];
	uint64_t seq;		/* creation order: toxiproxy lists downstream's chain, then upstream's */
};

struct tproxy {
	char *name;
	char *listen;		/* as shown: the bound address once started */
	char *upstream;		/* as given */
	bool enabled;
	int proto;
	struct sockaddr_in laddr, uaddr;
	int fd;			/* the reserved listen port, -1 when stopped (closed by txn_end, txn_abort) */
	bool unresolved;	/* started, but the upstream's name does not resolve (yet): not forwarded */
	struct toxic *tox[MAX_TOXICS];
	size_t n_tox;
};

struct txn;

struct toxi {
	struct toxi_ops ops;
	struct tproxy *p[MAX_PROXIES];
	size_t n;
	uint64_t seq;
	struct txn *tx;		/* the change in progress, or NULL */
	bool dirty;		/* a refused change could not all be put back: the next one sets everything */
};

/* ---- answers ---- */

static int answer_text(struct toxi_answer *a, int status, const char *ctype, const char *body)
{
	a->status = status;
	a->ctype = ctype;
	a->body = body ? strdup(body) : NULL;
	a->len = body ? strlen(body) : 0;
	return body && !a->body ? -ENOMEM : 0;
}

/* As Go's http.Error writes an ApiError: the JSON, a newline, as text/plain. */
__attribute__((format(printf, 3, 4)))
static int answer_error(struct toxi_answer *a, int status, const char *fmt, ...)
{
	char msg[2048], *text;
	json_t *j;
	va_list ap;
	int ret;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	j = json_pack("{s:s, s:i}", "error", msg, "status", status);
	/*
	 * The message quotes the client's (valid UTF-8) text, but a bounded
	 * snprintf may cut a character in two, which jansson refuses: the
	 * error is then told in ASCII rather than not at all.
	 */
	for (char *c = msg; !j && *c; c++)
		*c = (unsigned char)*c < 0x80 ? *c : '?';
	if (!j)
		j = json_pack("{s:s, s:i}", "error", msg, "status", status);
	text = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(j);
	if (!text)
		return -ENOMEM;
	a->status = status;
	a->ctype = "text/plain; charset=utf-8";
	ret = asprintf(&a->body, "%s\n", text);
	free(text);
	if (ret < 0) {
		a->body = NULL;
		return -ENOMEM;
	}
	a->len = (size_t)ret;
	return 0;
}

/* A JSON answer (j taken). */
static int answer_json(struct toxi_answer *a, int status, json_t *j)
{
	char *text = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(7)) : NULL;

	json_decref(j);
	if (!text)
		return -ENOMEM;
	a->status = status;
	a->ctype = "application/json";
	a->body = text;
	a->len = strlen(text);
	return 0;
}

/* ---- JSON of the state ---- */

static json_t *toxic_json(const struct toxic *x)
{
	json_t *attrs = json_object(), *j;

	for (int i = 0; i < 3 && x->type->attr[i]; i++)
		json_object_set_new(attrs, x->type->attr[i], json_integer(x->a[i]));
	j = json_pack("{s:o, s:s, s:s, s:s}", "attributes", attrs, "name", x->name, "type", x->type->name,
		      "stream", x->upstream ? "upstream" : "downstream");
	/* Go prints a float32 at its shortest: 1, 0.5. */
	if (j && x->toxicity == floorf(x->toxicity))
		json_object_set_new(j, "toxicity", json_integer((json_int_t)x->toxicity));
	else if (j)
		json_object_set_new(j, "toxicity", json_real(x->toxicity));
	return j;
}

/* toxiproxy's order (stream.Direction): the upstream chain, then the downstream one, each as added. */
static json_t *toxics_json(const struct tproxy *p)
{
	json_t *a = json_array();

	for (int down = 0; down < 2; down++)
		for (size_t i = 0; i < p->n_tox; i++)
			if (p->tox[i]->upstream != (bool)down)
				json_array_append_new(a, toxic_json(p->tox[i]));
	return a;
}

static json_t *proxy_json(const struct tproxy *p)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:b}", "name", p->name, "listen", p->listen, "upstream",
			      p->upstream, "enabled", p->enabled);

	if (j && p->proto == IPPROTO_UDP)
		json_object_set_new(j, "protocol", json_string("udp"));
	if (j)
		json_object_set_new(j, "toxics", toxics_json(p));
	return j;
}

static int by_name(const void *a, const void *b)
{
	return strcmp((*(struct tproxy *const *)a)->name, (*(struct tproxy *const *)b)->name);
}

/* GET /proxies: an object keyed by name, in name order (as Go marshals a map). */
static json_t *proxies_json(struct toxi *t)
{
	struct tproxy *s[MAX_PROXIES];
	json_t *j = json_object();

	memcpy(s, t->p, t->n * sizeof(*s));
	qsort(s, t->n, sizeof(*s), by_name);
	for (size_t i = 0; i < t->n; i++)
		json_object_set_new(j, s[i]->name, proxy_json(s[i]));
	return j;
}

/* ---- names ---- */

/* s as a part of a rule name: [A-Za-z0-9_-], at most NAME_PART bytes (a hash of the rest). */
static void name_part(char *dst, const char *s)
{
	size_t n = strlen(s), i;
	uint64_t h = 0;

	for (i = 0; i < n; i++)
		h = rng_mix(h, (unsigned char)s[i]);
	for (i = 0; i < n && i < NAME_PART; i++) {
		char c = s[i];

		dst[i] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
				 c == '-' || c == '_' ? c : '_';
	}
	dst[i] = '\0';
	if (n > NAME_PART)
		snprintf(dst + NAME_PART - 9, 10, "-%08" PRIx32, (uint32_t)h);
}

static void rule_prefix(char *dst, size_t size, const char *proxy)
{
	char p[NAME_PART + 1];

	name_part(p, proxy);
	snprintf(dst, size, TOXI_RULE_PREFIX "%s.", p);
}

/* ---- addresses ---- */

/* host's IPv4 address into *in: ops.resolve, or else the resolver at once. 0, -EAGAIN or -ENOENT. */
static int resolve(struct toxi *t, const char *host, struct in_addr *in)
{
	struct addrinfo hints = { .ai_family = AF_INET }, *res = NULL;

	if (t->ops.resolve)
		return t->ops.resolve(t->ops.data, host, in);
	if (getaddrinfo(host, NULL, &hints, &res) || !res)
		return -ENOENT;
	*in = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
	freeaddrinfo(res);
	return 0;
}

/*
 * "host:port" (host: a name, an IPv4 address, [::] or empty for any) into
 * *a. 0 or -EINVAL with why; for a name that does not resolve, -ENOENT
 * (the port set, the address 0) with why.
 */
static int parse_hostport(struct toxi *t, const char *s, bool listen, struct sockaddr_in *a, char *why,
			  size_t size)
{
	const char *colon = strrchr(s, ':');
	char host[256];
	char *end;
	unsigned long port;

	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	if (!colon) {
		snprintf(why, size, "address %s: missing port in address", s);
		return -EINVAL;
	}
	port = strtoul(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end || port > 65535 || (!listen && port == 0)) {
		snprintf(why, size, "address %s: invalid port", s);
		return -EINVAL;
	}
	a->sin_port = htons((uint16_t)port);
	if ((size_t)(colon - s) >= sizeof(host)) {
		snprintf(why, size, "address %s: host too long", s);
		return -EINVAL;
	}
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	if (!host[0] || !strcmp(host, "[::]") || !strcmp(host, "0.0.0.0")) {
		a->sin_addr.s_addr = listen ? INADDR_ANY : htonl(INADDR_LOOPBACK);
		return 0;
	}
	if (inet_pton(AF_INET, host, &a->sin_addr) == 1)
		return 0;
	if (host[0] == '[') {
		snprintf(why, size, "address %s: IPv6 is not supported by faultline's proxies", s);
		return -EINVAL;
	}
	/* Names (localhost, a container's) as the resolver says; IPv4 only. */
	if (resolve(t, host, &a->sin_addr)) {
		snprintf(why, size, "address %s: cannot resolve '%s' to an IPv4 address", s, host);
		return -ENOENT;
	}
	return 0;
}

/* ---- rules ---- */

static void put_percent(char *dst, size_t size, double frac)
{
	long ppm = lround(frac * 1e6);

	if (ppm <= 0)
		snprintf(dst, size, "0%%");
	else if (ppm >= 1000000)
		snprintf(dst, size, "100%%");
	else
		snprintf(dst, size, "%ld.%04ld%%", ppm / 10000, ppm % 10000);
}

static const struct toxic_type *type_find(const char *name)
{
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcmp(types[i].name, name))
			return &types[i];
	return NULL;
}

/* The filter of a stream: client to upstream (to the listen port), or back (from the upstream). */
static void stream_filter(char *dst, size_t size, const struct toxi_toxic_spec *s)
{
	const char *pn = s->proto == IPPROTO_UDP ? "udp" : "tcp";
	char a[INET_ADDRSTRLEN];

	if (s->upstream) {
		inet_ntop(AF_INET, &s->listen.sin_addr, a, sizeof(a));
		if (s->listen.sin_addr.s_addr == INADDR_ANY)
			snprintf(dst, size, "%s dst port %u", pn, ntohs(s->listen.sin_port));
		else
			snprintf(dst, size, "%s dst port %u and dst host %s", pn, ntohs(s->listen.sin_port), a);
		return;
	}
	/*
	 * The upstream answers a proxy's connections at the ports nat.c's
	 * MASQUERADE gave them; other connections from this namespace to the
	 * same upstream have ephemeral ports below them.
	 */
	inet_ntop(AF_INET, &s->upstream_addr.sin_addr, a, sizeof(a));
	snprintf(dst, size, "%s src port %u and src host %s and dst portrange %u-%u", pn,
		 ntohs(s->upstream_addr.sin_port), a, NAT_MASQ_PORT_LO, NAT_MASQ_PORT_HI);
}

static int add_rule(char **names, char **lines, int *n, int max, const char *name, const char *suffix,
		    const char *filter, const char *items, const char *quals)
{
	if (*n >= max)
		return -E2BIG;
	if (asprintf(&names[*n], "%s%s", name, suffix) < 0) {
		names[*n] = NULL;
		return -ENOMEM;
	}
	if (asprintf(&lines[*n], "%s => %s%s", filter, items, quals) < 0) {
		free(names[*n]);
		return -ENOMEM;
	}
	(*n)++;
	return 0;
}

int toxi_toxic_rules(const struct toxi_toxic_spec *s, char **names, char **lines, int max)
{
	const struct toxic_type *ty = type_find(s->type);
	/* toxiproxy's connection is accepted before any toxic applies: spare the handshake. */
	const char *hs = s->proto == IPPROTO_TCP ? ", if not syn and not syn-ack" : "";
	/*
	 * A reset spares the handshake's last ACK too: the client's connect()
	 * has then returned, as toxiproxy's accept did, and its next read or
	 * write meets the reset.
	 */
	const char *rhs = s->proto == IPPROTO_TCP ? ", if not syn and not syn-ack and not ack-only" : "";
	char name[2 * RULE_MAX_NAME + 2], prefix[RULE_MAX_NAME + 1], part[NAME_PART + 1];
	char filter[160], items[160], quals[160], pct[32];
	const long long *a = s->a;
	int n = 0, ret = 0;

	if (!ty || (s->proto == IPPROTO_UDP && !ty->udp))
		return -EINVAL;
	rule_prefix(prefix, sizeof(prefix), s->proxy);
	name_part(part, s->name);
	snprintf(name, sizeof(name), "%s%s", prefix, part);
	stream_filter(filter, sizeof(filter), s);
	quals[0] = '\0';
	/* toxicity: the share of connections, one seeded draw per connection and toxic. */
	if (s->toxicity < 1.0) {
		uint64_t h = 0;

		for (const char *c = name; *c; c++)
			h = rng_mix(h, (unsigned char)*c);
		put_percent(pct, sizeof(pct), s->toxicity);
		snprintf(quals, sizeof(quals), ", conn %s key %" PRIu32, pct, (uint32_t)h);
	}
	if (!strcmp(ty->name, "latency")) {
		if (a[0] <= 0 && a[1] <= 0)
			return 0;
		snprintf(items, sizeof(items), "delay %lldms jitter %lldms%s", a[0] > 0 ? a[0] : 0,
			 a[1] > 0 ? a[1] : 0, hs);
		ret = add_rule(names, lines, &n, max, name, "", filter, items, quals);
	} else if (!strcmp(ty->name, "bandwidth")) {
		/* toxiproxy's rate is KB/s of 1000 bytes; its queue never drops, so a deep one. */
		if (a[0] <= 0)
			return 0;
		snprintf(items, sizeof(items), "rate %lldkbit limit 10000", a[0] * 8);
		ret = add_rule(names, lines, &n, max, name, "", filter, items, quals);
	} else if (!strcmp(ty->name, "slow_close")) {
		if (a[0] <= 0)
			return 0;
		snprintf(items, sizeof(items), "delay %lldms if fin", a[0]);
		ret = add_rule(names, lines, &n, max, name, "", filter, items, quals);
	} else if (!strcmp(ty->name, "timeout")) {
		/* The close first: a drop ends the evaluation, and the stall would hide it. */
		if (a[0] > 0) {
			snprintf(items, sizeof(items), "reset, conn-after %lldms%s", a[0], rhs);
			ret = add_rule(names, lines, &n, max, name, ".close", filter, items, quals);
		}
		snprintf(items, sizeof(items), "drop%s", hs);
		if (!ret)
			ret = add_rule(names, lines, &n, max, name, "", filter, items, quals);
	} else if (!strcmp(ty->name, "reset_peer")) {
		if (a[0] > 0)
			snprintf(items, sizeof(items), "reset, conn-after %lldms%s", a[0], rhs);
		else
			snprintf(items, sizeof(items), "reset%s", rhs);
		ret = add_rule(names, lines, &n, max, name, "", filter, items, quals);
	} else if (!strcmp(ty->name, "slicer")) {
		long long size = a[0] > 65000 ? 65000 : a[0];
		int at;

		if (size <= 0)
			return 0;

		/*
		 * size_variation: +- bytes around the average, below it
		 * (toxiproxy's rule too); delay is in microseconds, between
		 * the pieces: segment's gap.
		 */
		at = snprintf(items, sizeof(items), "segment %lld", size);
		if (a[1] > 0 && size > 1)
			at += snprintf(items + at, sizeof(items) - (size_t)at, " vary %lld", a[1] < size ? a[1] : size - 1);
		if (a[2] > 0)
			snprintf(items + at, sizeof(items) - (size_t)at, " gap %lldus", a[2] > 60000000 ? 60000000 : a[2]);
		ret = add_rule(names, lines, &n, max, name, "", filter, items, quals);
	} else if (!strcmp(ty->name, "limit_data")) {
		if (a[0] > 0 && a[0] <= UINT32_MAX)
			snprintf(items, sizeof(items), "reset, from-byte %lld", a[0]);
		else
			snprintf(items, sizeof(items), "reset%s", rhs);
		ret = add_rule(names, lines, &n, max, name, "", filter, items, quals);
	} else if (!strcmp(ty->name, "packet_loss")) {
		if (a[0] <= 0)
			return 0;
		if (a[1] > 0)
			snprintf(items, sizeof(items), "drop %lld%% correlation %lld%%", a[0] > 100 ? 100 : a[0],
				 a[1] > 100 ? 100 : a[1]);
		else
			snprintf(items, sizeof(items), "drop %lld%%", a[0] > 100 ? 100 : a[0]);
		ret = add_rule(names, lines, &n, max, name, "", filter, items, quals);
	}
	if (ret < 0) {
		for (int i = 0; i < n; i++) {
			free(names[i]);
			free(lines[i]);
		}
		return ret;
	}
	return n;
}

static void free_lines(char **names, char **lines, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(names[i]);
		free(lines[i]);
	}
}

/*
 * The rule names and lines of proxy p (NULL: none) into names[] and
 * lines[] (malloc'd; free_lines): their count, or -errno.
 */
static int proxy_rules(const struct tproxy *p, char **names, char **lines)
{
	char prefix[RULE_MAX_NAME + 1];
	int n = 0, ret = 0;

	if (!p)
		return 0;
	rule_prefix(prefix, sizeof(prefix), p->name);
	if (!p->enabled) {
		/*
		 * toxiproxy closes a stopped proxy's connections: ops.cut
		 * does it at once; this rule resets, at its client's next
		 * packet, one whose first packet passed the DNAT rule while
		 * it was removed, after the cut.
		 */
		struct toxi_toxic_spec s = { .proto = p->proto, .upstream = true, .listen = p->laddr };
		char filter[160];

		stream_filter(filter, sizeof(filter), &s);
		if (p->proto == IPPROTO_TCP)
			ret = add_rule(names, lines, &n, 1, prefix, ".off", filter, "reset", "");
		return ret < 0 ? ret : n;
	}
	/* Not forwarded: its toxics' rules need the upstream's address, and no packet would meet them. */
	if (p->unresolved)
		return 0;
	for (size_t i = 0; i < p->n_tox; i++) {
		const struct toxic *x = p->tox[i];
		struct toxi_toxic_spec s = {
			.proxy = p->name, .name = x->name, .type = x->type->name, .proto = p->proto,
			.upstream = x->upstream, .toxicity = x->toxicity, .listen = p->laddr,
			.upstream_addr = p->uaddr, .a = { x->a[0], x->a[1], x->a[2] },
		};

		ret = toxi_toxic_rules(&s, names + n, lines + n, MAX_TOXIC_RULES);
		if (ret < 0) {
			free_lines(names, lines, (size_t)n);
			return ret;
		}
		n += ret;
	}
	return n;
}

/* The kernel forwarding of the enabled proxies of p[0..n) into np[]: its length. */
static size_t forward_of(struct tproxy *const *p, size_t n, struct nat_proxy *np)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (!p[i]->enabled || p[i]->unresolved)
			continue;
		np[k].proto = p[i]->proto;
		np[k].listen = p[i]->laddr;
		np[k++].upstream = p[i]->uaddr;
	}
	return k;
}

/* ---- proxies ---- */

static void toxic_free(struct toxic *x)
{
	if (!x)
		return;
	free(x->name);
	free(x);
}

/* Stopped in the state; its port is closed when the change ends (a refusal gives it back). */
static void proxy_stop(struct tproxy *p)
{
	p->fd = -1;
	p->enabled = false;
	p->unresolved = false;
}

static void proxy_free(struct tproxy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_tox; i++)
		toxic_free(p->tox[i]);
	free(p->name);
	free(p->listen);
	free(p->upstream);
	free(p);
}

static struct tproxy *proxy_find(struct toxi *t, const char *name, size_t *idx)
{
	for (size_t i = 0; i < t->n; i++) {
		if (!strcmp(t->p[i]->name, name)) {
			if (idx)
				*idx = i;
			return t->p[i];
		}
	}
	return NULL;
}

static bool fd_held(struct tproxy *const *p, size_t n, int fd)
{
	for (size_t i = 0; i < n; i++)
		if (p[i]->fd == fd)
			return true;
	return false;
}

static bool same_addr(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
	return a->sin_addr.s_addr == b->sin_addr.s_addr && a->sin_port == b->sin_port;
}

/*
 * The port the state before this change held at a (a given port) and the
 * changed state holds no more: a proxy moved to the same address (a new
 * upstream) keeps its socket, since binding it again beside the old one,
 * kept until the change ends, would fail. -1 if none.
 */
static int port_reuse(struct toxi *t, int proto, const struct sockaddr_in *a);
static bool port_release(struct toxi *t, int proto, const struct sockaddr_in *a);

/*
 * Take p's listen address (as toxiproxy's net.Listen: a port in use fails,
 * port 0 takes a free one). 0, or an error answered (500, as toxiproxy's
 * failed listen).
 */
static int proxy_start(struct toxi *t, struct tproxy *p, struct toxi_answer *a, bool *answered)
{
	char why[320], shown[64];
	int fd, ret;

	/*
	 * An upstream name that does not resolve (yet) is taken, as toxiproxy
	 * resolves it only when a client connects: the proxy is not forwarded
	 * until toxi_refresh finds its address.
	 */
	ret = parse_hostport(t, p->listen, true, &p->laddr, why, sizeof(why));
	if (!ret) {
		ret = parse_hostport(t, p->upstream, false, &p->uaddr, why, sizeof(why));
		p->unresolved = ret == -ENOENT;
		if (p->unresolved)
			ret = 0;
	}
	if (ret) {
		*answered = true;
		return answer_error(a, 500, "listen %s: %s", p->proto == IPPROTO_UDP ? "udp" : "tcp", why);
	}
	fd = port_reuse(t, p->proto, &p->laddr);
	if (fd < 0)
		fd = t->ops.reserve(t->ops.data, p->proto, &p->laddr);
	if (fd == -EADDRINUSE && port_release(t, p->proto, &p->laddr))
		fd = t->ops.reserve(t->ops.data, p->proto, &p->laddr);
	if (fd < 0) {
		*answered = true;
		return answer_error(a, 500, "listen %s %s: bind: %s", p->proto == IPPROTO_UDP ? "udp" : "tcp",
				    p->listen, strerror(-fd));
	}
	/* Held by p from here: the change's end closes it if it fails. */
	p->fd = fd;
	p->enabled = true;
	/* Shown as Go shows its listener: a wildcard as [::]. */
	if (p->laddr.sin_addr.s_addr == INADDR_ANY)
		snprintf(shown, sizeof(shown), "[::]:%u", ntohs(p->laddr.sin_port));
	else
		snprintf(shown, sizeof(shown), "%s:%u", inet_ntoa(p->laddr.sin_addr), ntohs(p->laddr.sin_port));
	free(p->listen);
	p->listen = strdup(shown);
	return p->listen ? 0 : -ENOMEM;
}

/* ---- changes: all or nothing ---- */

/*
 * A request that changes something works on a copy of the state. Its
 * commit then makes the kernel forwarding and each proxy's rules what the
 * copy asks for, touching only what differs (forwarding first, as a new
 * proxy has no rules yet). When the kernel or the rules refuse a step,
 * the steps already made are put back in reverse and the copy is
 * dropped: the state, the rules and the forwarding are what they were.
 * Each step (nat_set, ctl_set_group) is itself all or nothing.
 *
 * A reserved port belongs to both states until the end: the commit closes
 * those the new state no longer holds, an abort those the old never held.
 */
struct txn {
	struct tproxy *old[MAX_PROXIES];
	size_t n_old;
	struct tproxy *released[MAX_PROXIES];	/* old proxies whose port was closed early */
	size_t n_released;
};

static struct tproxy *proxy_clone(const struct tproxy *p)
{
	struct tproxy *c = malloc(sizeof(*c));

	if (!c)
		return NULL;
	*c = *p;
	c->n_tox = 0;
	c->name = strdup(p->name);
	c->listen = strdup(p->listen);
	c->upstream = strdup(p->upstream);
	if (!c->name || !c->listen || !c->upstream)
		goto err;
	for (size_t i = 0; i < p->n_tox; i++) {
		struct toxic *x = malloc(sizeof(*x));

		if (!x)
			goto err;
		*x = *p->tox[i];
		x->name = strdup(x->name);
		if (!x->name) {
			free(x);
			goto err;
		}
		c->tox[c->n_tox++] = x;
	}
	return c;
err:
	proxy_free(c);
	return NULL;
}

static int port_reuse(struct toxi *t, int proto, const struct sockaddr_in *a)
{
	if (!t->tx || !a->sin_port)
		return -1;
	for (size_t i = 0; i < t->tx->n_old; i++) {
		const struct tproxy *o = t->tx->old[i];

		if (o->fd >= 0 && o->proto == proto && same_addr(&o->laddr, a) && !fd_held(t->p, t->n, o->fd))
			return o->fd;
	}
	return -1;
}

/*
 * The port at a is in use: if the state before this change held it (at any
 * address: 127.0.0.1:P and 0.0.0.0:P clash) and the changed state no
 * longer does, close it now, to be taken again if the change fails, as
 * toxiproxy's update stops the proxy before it starts it at the new
 * address. true if one was closed.
 */
static bool port_release(struct toxi *t, int proto, const struct sockaddr_in *a)
{
	bool any = false;

	if (!t->tx || !a->sin_port)
		return false;
	for (size_t i = 0; i < t->tx->n_old; i++) {
		struct tproxy *o = t->tx->old[i];

		if (o->fd < 0 || o->proto != proto || o->laddr.sin_port != a->sin_port || fd_held(t->p, t->n, o->fd))
			continue;
		close(o->fd);
		o->fd = -1;
		t->tx->released[t->tx->n_released++] = o;
		any = true;
	}
	return any;
}

/* Free the proxies drop[0..nd), closing the ports that keep[0..nk) does not hold. */
static void state_drop(struct tproxy **drop, size_t nd, struct tproxy *const *keep, size_t nk)
{
	for (size_t i = 0; i < nd; i++) {
		if (drop[i]->fd >= 0 && !fd_held(keep, nk, drop[i]->fd))
			close(drop[i]->fd);
		proxy_free(drop[i]);
	}
}

static int txn_begin(struct toxi *t, struct txn *x)
{
	x->n_old = t->n;
	x->n_released = 0;
	memcpy(x->old, t->p, t->n * sizeof(t->p[0]));
	for (size_t i = 0; i < t->n; i++) {
		t->p[i] = proxy_clone(x->old[i]);
		if (!t->p[i]) {
			while (i--)
				proxy_free(t->p[i]);
			memcpy(t->p, x->old, t->n * sizeof(t->p[0]));
			return -ENOMEM;
		}
	}
	t->tx = x;
	return 0;
}

/* The change is dropped: the state before it is the state again. */
static void txn_abort(struct toxi *t, struct txn *x)
{
	state_drop(t->p, t->n, x->old, x->n_old);
	memcpy(t->p, x->old, x->n_old * sizeof(t->p[0]));
	t->n = x->n_old;
	t->tx = NULL;
	/*
	 * Take back the ports closed early. Should another socket have taken
	 * one meanwhile, the proxy still forwards (the DNAT comes first); its
	 * port is only no longer kept from others.
	 */
	for (size_t i = 0; i < x->n_released; i++) {
		struct tproxy *o = x->released[i];
		int fd = t->ops.reserve(t->ops.data, o->proto, &o->laddr);

		o->fd = fd >= 0 ? fd : -1;
	}
}

/* The change stands: the state before it goes. */
static void txn_end(struct toxi *t, struct txn *x)
{
	state_drop(x->old, x->n_old, t->p, t->n);
	t->tx = NULL;
}

static const struct tproxy *by_prefix(struct tproxy *const *p, size_t n, const char *prefix)
{
	char b[RULE_MAX_NAME + 1];

	for (size_t i = 0; i < n; i++) {
		rule_prefix(b, sizeof(b), p[i]->name);
		if (!strcmp(b, prefix))
			return p[i];
	}
	return NULL;
}

/*
 * Make the rules under prefix those of p (NULL: none), unless they are
 * those of was already and !force. 1 when set, 0 when nothing was to do,
 * or -errno with msg.
 */
static int set_rules(struct toxi *t, const char *prefix, const struct tproxy *p, const struct tproxy *was,
		     bool force, char *msg, size_t size)
{
	char *names[MAX_TOXICS * MAX_TOXIC_RULES + 1], *lines[MAX_TOXICS * MAX_TOXIC_RULES + 1];
	char *wn[MAX_TOXICS * MAX_TOXIC_RULES + 1], *wl[MAX_TOXICS * MAX_TOXIC_RULES + 1];
	struct ctl_error e = { 0 };
	int n = proxy_rules(p, names, lines), nw = 0, ret;
	bool same = !force;

	if (n < 0) {
		snprintf(msg, size, "out of memory");
		return n;
	}
	if (same) {
		nw = proxy_rules(was, wn, wl);
		same = nw == n;
		for (int i = 0; same && i < n; i++)
			same = !strcmp(names[i], wn[i]) && !strcmp(lines[i], wl[i]);
		free_lines(wn, wl, nw > 0 ? (size_t)nw : 0);
	}
	ret = same ? 0 : t->ops.rules(t->ops.data, prefix, (const char *const *)names, (const char *const *)lines,
				      (size_t)n, &e);
	free_lines(names, lines, (size_t)n);
	if (ret < 0) {
		snprintf(msg, size, "%s", ret == -ENOMEM ? "out of memory" : e.msg);
		return ret;
	}
	return same ? 0 : 1;
}

static bool same_forward(const struct nat_proxy *a, const struct nat_proxy *b)
{
	return a->proto == b->proto && same_addr(&a->listen, &b->listen) && same_addr(&a->upstream, &b->upstream);
}

static bool same_forwarding(const struct nat_proxy *a, size_t na, const struct nat_proxy *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (!same_forward(&a[i], &b[i]))
			return false;
	return true;
}

/*
 * Cut the connections of every forwarding in before[] that after[] no
 * longer has (a proxy disabled, deleted, moved or replaced). Comparing the
 * forwarding before and after a change, rather than following each route,
 * covers them all, and a refused change that was undone cuts nothing.
 */
static void cut_gone(struct toxi *t, const struct nat_proxy *before, size_t nb, const struct nat_proxy *after,
		     size_t na)
{
	if (!t->ops.cut)
		return;
	for (size_t i = 0; i < nb; i++) {
		bool kept = false;

		for (size_t k = 0; k < na && !kept; k++)
			kept = same_forward(&before[i], &after[k]);
		if (!kept)
			t->ops.cut(t->ops.data, &before[i]);
	}
}

/*
 * The k-th proxy whose rules a commit looks at: the changed state's, then
 * the old state's that the changed one has no more. Its prefix into
 * prefix; *now and *was the rules it should have and had. false past the end.
 */
static bool rule_group(struct toxi *t, struct txn *x, size_t k, char *prefix, size_t size,
		       const struct tproxy **now, const struct tproxy **was)
{
	if (k < t->n) {
		rule_prefix(prefix, size, t->p[k]->name);
		*now = t->p[k];
		*was = by_prefix(x->old, x->n_old, prefix);
		return true;
	}
	if (k - t->n >= x->n_old)
		return false;
	*was = x->old[k - t->n];
	rule_prefix(prefix, size, (*was)->name);
	/* Kept under the same prefix (a replaced proxy): looked at above. */
	*now = by_prefix(t->p, t->n, prefix) ? *was : NULL;
	return true;
}

/*
 * Make the kernel and the rules what the changed state asks for, and end
 * the change: 0. Or -errno with msg saying what failed (and whether
 * putting back failed too), the change aborted.
 */
static int txn_commit(struct toxi *t, struct txn *x, char *msg, size_t size)
{
	struct nat_proxy np_old[MAX_PROXIES], np_new[MAX_PROXIES];
	size_t n_old = forward_of(x->old, x->n_old, np_old), n_new = forward_of(t->p, t->n, np_new);
	size_t done[2 * MAX_PROXIES], n_done = 0, len;
	const struct tproxy *now, *was;
	char prefix[RULE_MAX_NAME + 1], why[1024];
	bool forwarded = false, undo_failed = false;
	int ret = 0;

	if (t->dirty || !same_forwarding(np_old, n_old, np_new, n_new)) {
		ret = t->ops.forward(t->ops.data, np_new, n_new, why, sizeof(why));
		if (ret) {
			snprintf(msg, size, "forwarding: %s", why);
			goto fail;
		}
		forwarded = true;
	}
	for (size_t k = 0; rule_group(t, x, k, prefix, sizeof(prefix), &now, &was); k++) {
		if (k >= t->n && now)
			continue;
		ret = set_rules(t, prefix, now, was, t->dirty, why, sizeof(why));
		if (ret < 0) {
			snprintf(msg, size, "rules of proxy '%s': %s", (now ? now : was)->name, why);
			goto fail;
		}
		if (ret)
			done[n_done++] = k;
	}
	t->dirty = false;
	if (forwarded)
		cut_gone(t, np_old, n_old, np_new, n_new);
	txn_end(t, x);
	return 0;
fail:
	/* Put back what was made, in reverse. */
	while (n_done--) {
		rule_group(t, x, done[n_done], prefix, sizeof(prefix), &now, &was);
		if (set_rules(t, prefix, was, NULL, true, why, sizeof(why)) < 0 && !undo_failed) {
			len = strlen(msg);
			snprintf(msg + len, size - len, "; putting back the rules of proxy '%s' failed too: %s",
				 (now ? now : was)->name, why);
			undo_failed = true;
		}
	}
	if (forwarded && t->ops.forward(t->ops.data, np_old, n_old, why, sizeof(why))) {
		len = strlen(msg);
		snprintf(msg + len, size - len, "; putting back the forwarding failed too: %s", why);
		undo_failed = true;
	}
	/* What runs is then not what the state says: the next change sets everything again. */
	if (undo_failed)
		t->dirty = true;
	txn_abort(t, x);
	return ret;
}

/* Commit x; a refusal is answered 500 with what failed. */
static int commit(struct toxi *t, struct txn *x, struct toxi_answer *a, bool *answered)
{
	char msg[1536];

	if (!txn_commit(t, x, msg, sizeof(msg)))
		return 0;
	*answered = true;
	return answer_error(a, 500, "%s", msg);
}

/* ---- decoding (Go's encoding/json: unknown fields ignored, null leaves the default) ---- */

static int get_string(json_t *o, const char *key, char **dst, char *why, size_t size)
{
	json_t *v = json_object_get(o, key);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v)) {
		snprintf(why, size, "json: cannot unmarshal into field %s of type string", key);
		return -EINVAL;
	}
	free(*dst);
	*dst = strdup(json_string_value(v));
	return *dst ? 0 : -ENOMEM;
}

static int get_bool(json_t *o, const char *key, bool *dst, char *why, size_t size)
{
	json_t *v = json_object_get(o, key);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v)) {
		snprintf(why, size, "json: cannot unmarshal into field %s of type bool", key);
		return -EINVAL;
	}
	*dst = json_is_true(v);
	return 0;
}

static int get_int(json_t *o, const char *key, long long *dst, char *why, size_t size)
{
	json_t *v = json_object_get(o, key);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v)) {
		snprintf(why, size, "json: cannot unmarshal into field %s of type int64", key);
		return -EINVAL;
	}
	*dst = json_integer_value(v);
	return 0;
}

static json_t *parse_body(const char *body, size_t len, char *why, size_t size)
{
	json_error_t je;
	json_t *j;

	if (!len) {
		snprintf(why, size, "EOF");
		return NULL;
	}
	/* json.Decoder reads the first value and leaves the rest. */
	j = json_loadb(body, len, JSON_DISABLE_EOF_CHECK | JSON_DECODE_ANY, &je);
	if (!j)
		snprintf(why, size, "%s", je.text);
	return j;
}

/* name, listen, upstream, enabled (and faultline's protocol) of a proxy object. */
static int decode_proxy(json_t *o, struct tproxy *p, char *why, size_t size)
{
	char *proto = NULL;
	int ret;

	if (!json_is_object(o)) {
		snprintf(why, size, "json: cannot unmarshal into Go value of type toxiproxy.Proxy");
		return -EINVAL;
	}
	ret = get_string(o, "name", &p->name, why, size);
	if (!ret)
		ret = get_string(o, "listen", &p->listen, why, size);
	if (!ret)
		ret = get_string(o, "upstream", &p->upstream, why, size);
	if (!ret)
		ret = get_bool(o, "enabled", &p->enabled, why, size);
	if (!ret)
		ret = get_string(o, "protocol", &proto, why, size);
	if (!ret && proto) {
		if (!strcmp(proto, "udp"))
			p->proto = IPPROTO_UDP;
		else if (!strcmp(proto, "tcp"))
			p->proto = IPPROTO_TCP;
		else {
			snprintf(why, size, "protocol must be tcp or udp");
			ret = -EINVAL;
		}
	}
	free(proto);
	return ret;
}

static struct tproxy *proxy_alloc(void)
{
	struct tproxy *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->fd = -1;
	p->enabled = true;
	p->proto = IPPROTO_TCP;
	p->listen = strdup("");
	if (!p->listen) {
		free(p);
		return NULL;
	}
	return p;
}

/* Another proxy whose rule names would be p's. */
static const struct tproxy *name_clash(struct toxi *t, const char *name)
{
	char a[RULE_MAX_NAME + 1], b[RULE_MAX_NAME + 1];

	rule_prefix(a, sizeof(a), name);
	for (size_t i = 0; i < t->n; i++) {
		rule_prefix(b, sizeof(b), t->p[i]->name);
		if (!strcmp(a, b) && strcmp(t->p[i]->name, name))
			return t->p[i];
	}
	return NULL;
}

/*
 * Add p (taken) to the changed state, started if enabled: 0 with p in
 * the state, or an error answered (p freed).
 */
static int proxy_add(struct toxi *t, struct tproxy *p, struct toxi_answer *a, bool *answered)
{
	const struct tproxy *other = name_clash(t, p->name);
	bool start = p->enabled;
	int ret = 0;

	if (t->n >= MAX_PROXIES || other) {
		*answered = true;
		ret = other ? answer_error(a, 409, "proxy name '%s' makes the same rule names as proxy '%s'",
					   p->name, other->name)
			    : answer_error(a, 500, "too many proxies (at most %d)", MAX_PROXIES);
		proxy_free(p);
		return ret;
	}
	p->enabled = false;
	if (start) {
		ret = proxy_start(t, p, a, answered);
		if (ret || *answered) {
			/* Outside the state, so no end of the change closes its port. */
			if (p->fd >= 0 && !(t->tx && fd_held(t->tx->old, t->tx->n_old, p->fd)))
				close(p->fd);
			proxy_free(p);
			return ret;
		}
	}
	t->p[t->n++] = p;
	return 0;
}

/* Out of the state; the commit removes its forwarding and rules. */
static void proxy_remove_at(struct toxi *t, size_t i)
{
	proxy_free(t->p[i]);
	memmove(&t->p[i], &t->p[i + 1], (t->n - i - 1) * sizeof(t->p[0]));
	t->n--;
}

static int route_proxy_create(struct toxi *t, const char *body, size_t len, struct toxi_answer *a)
{
	struct tproxy *p = proxy_alloc();
	bool answered = false;
	char why[256];
	json_t *j;
	int ret;

	if (!p)
		return -ENOMEM;
	j = parse_body(body, len, why, sizeof(why));
	if (!j || decode_proxy(j, p, why, sizeof(why))) {
		json_decref(j);
		proxy_free(p);
		return answer_error(a, 400, "bad request body: %s", why);
	}
	json_decref(j);
	if (!p->name || !p->name[0] || !p->upstream || !p->upstream[0]) {
		ret = answer_error(a, 400, "missing required field: %s", !p->name || !p->name[0] ? "name" : "upstream");
		proxy_free(p);
		return ret;
	}
	if (proxy_find(t, p->name, NULL)) {
		proxy_free(p);
		return answer_error(a, 409, "proxy already exists");
	}
	ret = proxy_add(t, p, a, &answered);
	if (ret || answered)
		return ret;
	return answer_json(a, 201, proxy_json(p));
}

static int route_populate(struct toxi *t, const char *body, size_t len, struct toxi_answer *a)
{
	json_t *j, *in, *done = json_array(), *v;
	bool answered = false;
	struct toxi_answer err = { 0 };
	char why[256];
	size_t i;
	int ret = 0;

	if (!done)
		return -ENOMEM;
	j = parse_body(body, len, why, sizeof(why));
	if (!j || !json_is_array(j)) {
		json_decref(j);
		json_decref(done);
		return answer_error(a, 400, "bad request body: %s",
				    j ? "json: cannot unmarshal into Go value of type []struct" : why);
	}
	/* Every entry is checked before any is made, as toxiproxy does. */
	json_array_foreach(j, i, in) {
		json_t *n = json_object_get(in, "name"), *u = json_object_get(in, "upstream");

		if (!json_is_object(in) || !json_is_string(n) || !json_string_length(n) || !json_is_string(u) ||
		    !json_string_length(u)) {
			const char *field = json_is_string(n) && json_string_length(n) ? "upstream" : "name";
			char msg[80];

			/* Populate answers its errors as JSON with the proxies made so far (none: null). */
			json_decref(j);
			json_decref(done);
			snprintf(msg, sizeof(msg), "missing required field: %s at proxy %zu", field, i + 1);
			return answer_json(a, 400, json_pack("{s:s, s:i, s:n}", "error", msg, "status", 400, "proxies"));
		}
	}
	/*
	 * One change per proxy, as toxiproxy makes them one after the other:
	 * those before a failure stay (and are listed), the failed one is
	 * undone whole (a proxy it was to replace stays as it was).
	 */
	json_array_foreach(j, i, in) {
		struct tproxy *p = proxy_alloc(), *old;
		struct txn x;
		size_t at;

		if (!p || decode_proxy(in, p, why, sizeof(why))) {
			proxy_free(p);
			ret = p ? answer_error(&err, 400, "bad request body: %s", why) : -ENOMEM;
			answered = true;
			break;
		}
		old = proxy_find(t, p->name, &at);
		/* The same addresses: toxiproxy keeps the proxy it has. */
		if (old && !strcmp(old->upstream, p->upstream) && !strcmp(old->listen, p->listen)) {
			json_array_append_new(done, proxy_json(old));
			proxy_free(p);
			continue;
		}
		ret = txn_begin(t, &x);
		if (ret) {
			proxy_free(p);
			break;
		}
		if (proxy_find(t, p->name, &at))
			proxy_remove_at(t, at);
		ret = proxy_add(t, p, &err, &answered);
		if (ret || answered) {
			txn_abort(t, &x);
			break;
		}
		ret = commit(t, &x, &err, &answered);
		if (ret || answered)
			break;
		json_array_append_new(done, proxy_json(p));
	}
	json_decref(j);
	if (ret) {
		json_decref(done);
		free(err.body);
		return ret;
	}
	if (answered) {
		/* The error's fields, then the proxies made before it. */
		json_t *e = json_loads(err.body, 0, NULL);

		free(err.body);
		if (!e) {
			json_decref(done);
			return -ENOMEM;
		}
		json_object_set_new(e, "proxies", done);
		ret = answer_json(a, (int)json_integer_value(json_object_get(e, "status")), e);
		return ret;
	}
	v = json_pack("{s:o}", "proxies", done);
	return answer_json(a, 201, v);
}

static int route_proxy_update(struct toxi *t, struct tproxy *p, const char *body, size_t len,
			      struct toxi_answer *a)
{
	struct tproxy in = { .enabled = p->enabled, .proto = p->proto };
	bool answered = false, moved;
	char why[256];
	json_t *j;
	int ret;

	in.listen = strdup(p->listen);
	in.upstream = strdup(p->upstream);
	if (!in.listen || !in.upstream) {
		ret = -ENOMEM;
		goto out;
	}
	j = parse_body(body, len, why, sizeof(why));
	if (!j || decode_proxy(j, &in, why, sizeof(why))) {
		json_decref(j);
		ret = answer_error(a, 400, "bad request body: %s", why);
		goto out;
	}
	json_decref(j);
	/* The name of a proxy does not change (toxiproxy ignores it too). */
	moved = strcmp(in.listen, p->listen) || strcmp(in.upstream, p->upstream) || in.proto != p->proto;
	if (moved) {
		proxy_stop(p);
		free(p->listen);
		free(p->upstream);
		p->listen = in.listen;
		p->upstream = in.upstream;
		p->proto = in.proto;
		in.listen = in.upstream = NULL;
	}
	/*
	 * A move that cannot listen is answered 500 and undone whole: the
	 * proxy keeps its addresses and runs on (toxiproxy leaves it stopped
	 * at the new ones).
	 */
	if (in.enabled && !p->enabled) {
		ret = proxy_start(t, p, a, &answered);
	} else {
		if (!in.enabled)
			proxy_stop(p);
		ret = 0;
	}
	if (!ret && !answered)
		ret = answer_json(a, 200, proxy_json(p));
out:
	free(in.listen);
	free(in.upstream);
	free(in.name);
	return ret;
}

/* ---- toxics ---- */

static struct toxic *toxic_find(struct tproxy *p, const char *name, size_t *idx)
{
	for (size_t i = 0; i < p->n_tox; i++) {
		if (!strcmp(p->tox[i]->name, name)) {
			if (idx)
				*idx = i;
			return p->tox[i];
		}
	}
	return NULL;
}

static int decode_attrs(json_t *o, struct toxic *x, char *why, size_t size)
{
	json_t *at = json_object_get(o, "attributes");

	if (!at || json_is_null(at))
		return 0;
	if (!json_is_object(at)) {
		snprintf(why, size, "json: cannot unmarshal into field attributes of type object");
		return -EINVAL;
	}
	for (int i = 0; i < 3 && x->type->attr[i]; i++)
		if (get_int(at, x->type->attr[i], &x->a[i], why, size))
			return -EINVAL;
	return 0;
}

static int get_toxicity(json_t *o, float *dst, char *why, size_t size)
{
	json_t *v = json_object_get(o, "toxicity");

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_number(v)) {
		snprintf(why, size, "json: cannot unmarshal into field toxicity of type float32");
		return -EINVAL;
	}
	*dst = (float)json_number_value(v);
	return 0;
}

static int route_toxic_create(struct toxi *t, struct tproxy *p, const char *body, size_t len,
			      struct toxi_answer *a)
{
	char *name = NULL, *type = NULL, *stream = NULL, why[256];
	struct toxic *x = calloc(1, sizeof(*x));
	json_t *j = NULL;
	int ret;

	if (!x)
		return -ENOMEM;
	x->toxicity = 1.0f;
	j = parse_body(body, len, why, sizeof(why));
	if (!j || !json_is_object(j) || get_string(j, "name", &name, why, sizeof(why)) ||
	    get_string(j, "type", &type, why, sizeof(why)) || get_string(j, "stream", &stream, why, sizeof(why)) ||
	    get_toxicity(j, &x->toxicity, why, sizeof(why))) {
		if (j && !json_is_object(j))
			snprintf(why, sizeof(why), "json: cannot unmarshal into Go value of type toxics.ToxicWrapper");
		ret = answer_error(a, 400, "bad request body: %s", why);
		goto out;
	}
	if (stream && strcasecmp(stream, "downstream") && strcasecmp(stream, "upstream")) {
		ret = answer_error(a, 400, "stream was invalid, can be either upstream or downstream");
		goto out;
	}
	x->upstream = stream && !strcasecmp(stream, "upstream");
	x->type = type ? type_find(type) : NULL;
	if (!x->type || (p->proto == IPPROTO_UDP && !x->type->udp)) {
		ret = answer_error(a, 400, "invalid toxic type");
		goto out;
	}
	if (name && name[0]) {
		x->name = name;
		name = NULL;
	} else if (asprintf(&x->name, "%s_%s", type, x->upstream ? "upstream" : "downstream") < 0) {
		x->name = NULL;
		ret = -ENOMEM;
		goto out;
	}
	if (toxic_find(p, x->name, NULL)) {
		ret = answer_error(a, 409, "toxic already exists");
		goto out;
	}
	if (decode_attrs(j, x, why, sizeof(why))) {
		ret = answer_error(a, 400, "bad request body: %s", why);
		goto out;
	}
	if (p->n_tox >= MAX_TOXICS) {
		ret = answer_error(a, 500, "too many toxics (at most %d)", MAX_TOXICS);
		goto out;
	}
	x->seq = t->seq++;
	p->tox[p->n_tox++] = x;
	ret = answer_json(a, 200, toxic_json(x));
	x = NULL;
out:
	toxic_free(x);
	json_decref(j);
	free(name);
	free(type);
	free(stream);
	return ret;
}

/* An update of x; a refusal leaves x half changed, but only in the copy the request drops. */
static int route_toxic_update(struct toxic *x, const char *body, size_t len, struct toxi_answer *a)
{
	char why[256];
	json_t *j;

	j = parse_body(body, len, why, sizeof(why));
	/* toxiproxy's update reads the attributes and the toxicity; the rest of the body is ignored. */
	if (!j || !json_is_object(j) || decode_attrs(j, x, why, sizeof(why)) ||
	    get_toxicity(j, &x->toxicity, why, sizeof(why))) {
		/* A body that is JSON but no object ("x", 1) has no parse error to tell. */
		if (j && !json_is_object(j))
			snprintf(why, sizeof(why), "json: cannot unmarshal into Go value of type struct");
		json_decref(j);
		return answer_error(a, 400, "bad request body: %s", why);
	}
	json_decref(j);
	return answer_json(a, 200, toxic_json(x));
}

static int route_reset(struct toxi *t, struct toxi_answer *a)
{
	bool answered = false;
	int ret = 0;

	/* Every proxy enabled again, every toxic gone; or, if one cannot listen, nothing changed. */
	for (size_t i = 0; i < t->n && !ret && !answered; i++) {
		struct tproxy *p = t->p[i];

		for (size_t k = 0; k < p->n_tox; k++)
			toxic_free(p->tox[k]);
		p->n_tox = 0;
		if (!p->enabled)
			ret = proxy_start(t, p, a, &answered);
	}
	if (ret || answered)
		return ret;
	return answer_text(a, 204, NULL, NULL);
}

/* ---- routing ---- */

/* Split "/proxies/NAME[/toxics[/TOXIC]]" (gorilla/mux's {proxy}: no '/'). */
static int split_path(const char *path, char *p, size_t psize, char *x, size_t xsize, int *depth)
{
	const char *s = path + strlen("/proxies/"), *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);

	if (!n || n >= psize)
		return -1;
	memcpy(p, s, n);
	p[n] = '\0';
	*depth = 1;
	if (!slash)
		return 0;
	if (strncmp(slash, "/toxics", 7) || (slash[7] && slash[7] != '/'))
		return -1;
	*depth = 2;
	if (!slash[7])
		return 0;
	s = slash + 8;
	n = strlen(s);
	if (!n || n >= xsize || strchr(s, '/'))
		return -1;
	memcpy(x, s, n + 1);
	*depth = 3;
	return 0;
}

static bool is(const char *m, const char *a)
{
	return !strcmp(m, a);
}

static int not_allowed(struct toxi_answer *a)
{
	return answer_text(a, 405, NULL, NULL);
}

static int not_found(struct toxi_answer *a)
{
	return answer_text(a, 404, "text/plain; charset=utf-8", "404 page not found\n");
}

static int route_named(struct toxi *t, const char *m, const char *path, const char *body, size_t len,
		       struct toxi_answer *a)
{
	char pname[1024], xname[1024];
	struct tproxy *p;
	struct toxic *x;
	int depth;
	size_t i, k;

	if (split_path(path, pname, sizeof(pname), xname, sizeof(xname), &depth))
		return not_found(a);
	/* Which methods each path takes comes first (mux answers 405 before any handler). */
	if ((depth == 1 && !is(m, "GET") && !is(m, "POST") && !is(m, "PATCH") && !is(m, "DELETE")) ||
	    (depth == 2 && !is(m, "GET") && !is(m, "POST")) ||
	    (depth == 3 && !is(m, "GET") && !is(m, "POST") && !is(m, "PATCH") && !is(m, "DELETE")))
		return not_allowed(a);
	p = proxy_find(t, pname, &i);
	if (!p)
		return answer_error(a, 404, "proxy not found");
	if (depth == 1) {
		if (is(m, "GET"))
			return answer_json(a, 200, proxy_json(p));
		if (is(m, "DELETE")) {
			proxy_remove_at(t, i);
			return answer_text(a, 204, NULL, NULL);
		}
		return route_proxy_update(t, p, body, len, a);
	}
	if (depth == 2) {
		if (is(m, "GET"))
			return answer_json(a, 200, toxics_json(p));
		return route_toxic_create(t, p, body, len, a);
	}
	x = toxic_find(p, xname, &k);
	if (!x)
		return answer_error(a, 404, "toxic not found");
	if (is(m, "GET"))
		return answer_json(a, 200, toxic_json(x));
	if (is(m, "DELETE")) {
		memmove(&p->tox[k], &p->tox[k + 1], (p->n_tox - k - 1) * sizeof(p->tox[0]));
		p->n_tox--;
		toxic_free(x);
		return answer_text(a, 204, NULL, NULL);
	}
	return route_toxic_update(x, body, len, a);
}

static int route(struct toxi *t, const char *m, const char *path, const char *agent, const char *body,
		 size_t len, struct toxi_answer *a)
{
	/* toxiproxy keeps browsers away (a page could POST to it). */
	if (agent && !strncmp(agent, "Mozilla/", 8))
		return answer_text(a, 403, "text/plain; charset=utf-8", "User agent not allowed\n");
	if (!strcmp(path, "/version")) {
		if (!is(m, "GET"))
			return not_allowed(a);
		return answer_text(a, 200, "application/json;charset=utf-8",
				   "{\"version\": \"" TOXI_VERSION "\"}\n");
	}
	if (!strcmp(path, "/reset"))
		return is(m, "POST") ? route_reset(t, a) : not_allowed(a);
	if (!strcmp(path, "/populate"))
		return is(m, "POST") ? route_populate(t, body, len, a) : not_allowed(a);
	if (!strcmp(path, "/proxies")) {
		if (is(m, "GET"))
			return answer_json(a, 200, proxies_json(t));
		return is(m, "POST") ? route_proxy_create(t, body, len, a) : not_allowed(a);
	}
	if (!strncmp(path, "/proxies/", 9))
		return route_named(t, m, path, body, len, a);
	return not_found(a);
}

/*
 * A request that may change something runs on a copy of the state, kept
 * if it succeeded and the kernel and the rules take it; otherwise dropped
 * (txn_commit). A populate makes one change per proxy itself.
 */
int toxi_request(struct toxi *t, const char *m, const char *path, const char *agent, const char *body,
		 size_t len, struct toxi_answer *a)
{
	bool change = !is(m, "GET") && strcmp(path, "/populate");
	struct toxi_answer err = { 0 };
	bool refused = false;
	struct txn x;
	int ret;

	memset(a, 0, sizeof(*a));
	/* A name that resolves now is forwarded before the request is answered (its failure is the tick's to retry). */
	toxi_refresh(t);
	if (change && txn_begin(t, &x))
		return -ENOMEM;
	ret = route(t, m, path, agent, body, len, a);
	if (!change)
		return ret;
	if (ret || a->status >= 400) {
		txn_abort(t, &x);
		return ret;
	}
	ret = commit(t, &x, &err, &refused);
	if (refused || ret) {
		free(a->body);
		*a = err;
	}
	return ret;
}

/* Resolve the upstream of the copy's started proxies that wait for it: true if one did. */
static bool resolve_waiting(struct toxi *t)
{
	char why[320];
	bool any = false;

	for (size_t i = 0; i < t->n; i++) {
		struct tproxy *p = t->p[i];

		if (p->enabled && p->unresolved && !parse_hostport(t, p->upstream, false, &p->uaddr, why, sizeof(why))) {
			p->unresolved = false;
			any = true;
		}
	}
	return any;
}

int toxi_refresh(struct toxi *t)
{
	char msg[1536];
	struct txn x;
	bool waiting = false;
	int ret;

	for (size_t i = 0; i < t->n && !waiting; i++)
		waiting = t->p[i]->enabled && t->p[i]->unresolved;
	if (!waiting)
		return 0;
	ret = txn_begin(t, &x);
	if (ret)
		return ret;
	if (!resolve_waiting(t)) {
		txn_abort(t, &x);
		return 0;
	}
	/* Refused: the proxies wait on, and the next refresh tries again. */
	ret = txn_commit(t, &x, msg, sizeof(msg));
	return ret ? ret : 1;
}

void toxi_cut_all(struct toxi *t)
{
	struct nat_proxy *np;
	size_t n;

	if (!t || !t->ops.cut || !(np = malloc(MAX_PROXIES * sizeof(*np))))
		return;
	n = forward_of(t->p, t->n, np);
	for (size_t i = 0; i < n; i++)
		t->ops.cut(t->ops.data, &np[i]);
	free(np);
}

struct toxi *toxi_new(const struct toxi_ops *ops)
{
	struct toxi *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->ops = *ops;
	return t;
}

void toxi_free(struct toxi *t)
{
	if (!t)
		return;
	state_drop(t->p, t->n, NULL, 0);
	free(t);
}

void toxi_handle(void *data, struct http_req *r)
{
	static const char oom[] = "{\"error\":\"out of memory\",\"status\":500}\n";
	struct toxi_answer a;
	size_t len;
	const char *body = http_req_body(r, &len);

	if (toxi_request(data, http_req_method(r), http_req_path(r), http_req_header(r, "User-Agent"), body,
			 len, &a)) {
		free(a.body);
		http_reply(r, 500, "text/plain; charset=utf-8", oom, sizeof(oom) - 1, NULL);
		return;
	}
	http_reply(r, (unsigned)a.status, a.ctype, a.body, a.len, NULL);
	free(a.body);
}
