/* SPDX-License-Identifier: MIT */
/*
 * toxi: toxiproxy 2.x's REST API (as its api.go, proxy*.go and
 * toxic_collection.go define it, version 2.8.0), answered by faultline.
 * A proxy is kernel forwarding (nat.h: DNAT from listen to upstream); a
 * toxic is a group of named faultline rules on that proxy's packets, in
 * the toxic's stream direction:
 *   upstream   (client to upstream): packets to the listen address and port
 *   downstream (upstream to client): packets from the upstream address and port
 * Rule names are "toxi.<proxy>.<toxic>" (and "...close" for the second rule
 * of timeout; "toxi.<proxy>..off" cuts the connections of a disabled
 * proxy), so ctl list, the counters, events and metrics show them.
 *
 *   GET /version    GET|POST /proxies    POST /populate    POST /reset
 *   GET|POST|PATCH|DELETE /proxies/NAME
 *   GET|POST /proxies/NAME/toxics    GET|POST|PATCH|DELETE /proxies/NAME/toxics/TOXIC
 * Statuses and bodies as toxiproxy's: 201 a new proxy, 200 a new toxic,
 * 204 a delete or reset; errors {"error":"...","status":N} + newline as
 * text/plain (Go's http.Error); 404 "404 page not found" for an unknown
 * path, 405 with no body for a method the path does not take.
 * An upstream name that does not resolve (yet) is taken, as toxiproxy
 * resolves at each connection: the proxy is listed and holds its port, but
 * is not forwarded and has no rules until toxi_refresh finds the name.
 * Extension: a proxy with "protocol":"udp" forwards UDP (toxics latency,
 * bandwidth and packet_loss only).
 *
 * Pure but for the ops: every effect (forwarding, port reservation, the
 * rules) goes through struct toxi_ops, so unit tests drive it with fakes.
 * Runs on the proxy's loop thread.
 */
#ifndef FL_TOXI_H
#define FL_TOXI_H

#include <netinet/in.h>
#include <stddef.h>

#include "ctl.h"
#include "http.h"
#include "nat.h"

#define TOXI_RULE_PREFIX "toxi."
/* The version /version reports: the toxiproxy API this answers, and that it is faultline. */
#define TOXI_VERSION "2.8.0-faultline"

struct toxi_ops {
	/*
	 * Forward exactly the n proxies p (borrowed; enabled ones only). 0, or
	 * -errno with a message in msg.
	 */
	int (*forward)(void *data, const struct nat_proxy *p, size_t n, char *msg, size_t size);
	/*
	 * Hold a as a local address (its port 0: take a free one and write it
	 * back), so no other socket takes it: an fd (closed by toxi) or -errno.
	 */
	int (*reserve)(void *data, int proto, struct sockaddr_in *a);
	/* Make the rules named prefix* exactly these (ctl_set_group's contract). */
	int (*rules)(void *data, const char *prefix, const char *const *names, const char *const *lines,
		     size_t n, struct ctl_error *e);
	/*
	 * End at once the open connections of p (borrowed), a proxy the
	 * kernel forwarded before the request and no longer does (disabled,
	 * deleted, moved), as toxiproxy closes them. Called after the
	 * forwarding changed; NULL: not done. Cannot fail the request.
	 */
	void (*cut)(void *data, const struct nat_proxy *p);
	/*
	 * host's IPv4 address into *in, without blocking for long: 0, -EAGAIN
	 * (a lookup is under way: ask again later) or -ENOENT (it does not
	 * resolve). NULL: getaddrinfo, at once.
	 */
	int (*resolve)(void *data, const char *host, struct in_addr *in);
	void *data;
};

/* An answer: status, body (owned, may be NULL) and its content type (static). */
struct toxi_answer {
	int status;
	char *body;
	size_t len;
	const char *ctype;
};

struct toxi;

/* An API with no proxies over ops (copied). NULL + errno. */
struct toxi *toxi_new(const struct toxi_ops *ops);

/* Free: the reserved ports are closed; forwarding and rules are the caller's to remove. NULL-safe. */
void toxi_free(struct toxi *t);

/*
 * Answer one request (method, decoded path, User-Agent or NULL, body of
 * len bytes, borrowed): fills *a (free a->body). Returns 0 or -ENOMEM.
 */
int toxi_request(struct toxi *t, const char *method, const char *path, const char *agent,
		 const char *body, size_t len, struct toxi_answer *a);

/*
 * The rule lines of one toxic (pure, for tests and the README): up to max
 * rules into names[] and lines[] (malloc'd, caller frees). Returns the
 * count (0: the toxic does nothing, e.g. latency 0), or -EINVAL (a type
 * this protocol has no rule for), -ENOMEM.
 */
struct toxi_toxic_spec {
	const char *proxy, *name, *type;
	int proto;			/* IPPROTO_TCP, IPPROTO_UDP */
	bool upstream;			/* stream: client to upstream */
	double toxicity;
	struct sockaddr_in listen, upstream_addr;
	long long a[3];			/* the type's attributes, in toxiproxy's order */
};
int toxi_toxic_rules(const struct toxi_toxic_spec *s, char **names, char **lines, int max);

/*
 * Try again to resolve the upstream names of the started proxies whose
 * names did not resolve (accepted as toxiproxy does: it resolves at each
 * connection), and forward those that do now, with their toxics' rules.
 * Called on each request and by the caller's periodic tick. 1 when a
 * proxy got its forwarding, 0 when none did, -errno when the kernel or
 * the rules refused it (all undone; the next call tries again).
 */
int toxi_refresh(struct toxi *t);

/*
 * At exit, once the forwarding is removed: cut the connections of every
 * proxy that forwarded (ops.cut), as toxiproxy's exit closes them.
 */
void toxi_cut_all(struct toxi *t);

/* The http_handler_cb of the --toxiproxy-api server: data is the struct toxi. */
void toxi_handle(void *data, struct http_req *r);

#endif
