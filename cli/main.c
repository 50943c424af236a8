// SPDX-License-Identifier: MIT
/*
 * faultline: the command line. The only code that prints or exits; every
 * module below returns errors for this file to word.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "ipt.h"
#include "proxy.h"
#include "replay.h"
#include "report.h"
#include "rule.h"
#include "show.h"

#define PROG_NAME "faultline"
#define VERSION "0.1.0"

/* A failed write to stdout was reported already: say it once. */
static bool stdout_failed;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG_NAME " <command> [options]\n"
		"\n"
		"commands:\n"
		"  run       divert packets through the rules until SIGINT/SIGTERM\n"
		"  replay    run a capture file through the rules, offline (no root)\n"
		"  demo      the guided demo in namespaces it makes and removes:\n"
		"            demo [udp|reorder|handshake|teardown|timewait|retransmit|all] [--html FILE]\n"
		"  check     parse rules and print them in canonical form\n"
		"  cleanup   remove every chain faultline left in iptables/ip6tables\n"
		"  show      print an --events file as text ladder diagrams: show EVENTS [--flow N]\n"
		"  report    write an --events file as one HTML page: report EVENTS -o FILE\n"
		"  version   print the version\n"
		"\n"
		"run options:\n"
		"  -r, --rule LINE        a rule line (repeatable), e.g. 'udp dst port 5000 => drop 30%%'\n"
		"  -f, --rules FILE       a rule file (repeatable), one rule per line\n"
		"  -s, --seed N           seed for every random decision (default: random, printed)\n"
		"  -n, --netns NAME       work in network namespace NAME (ip netns)\n"
		"      --netns-path PATH  work in the namespace at PATH (/proc/PID/ns/net)\n"
		"  -q, --queue N          NFQUEUE queue number (default 4242)\n"
		"      --forward          also divert routed packets (FORWARD)\n"
		"      --max-held N       bound on held packets (default 50000)\n"
		"      --queue-maxlen N   kernel queue length (default 65536)\n"
		"      --max-flows N      non-TCP flows remembered for seeded decisions (default 65536)\n"
		"      --mark N           firewall mark of injected copies (default 0xfa17)\n"
		"  -e, --events FILE      write JSON-lines events to FILE ('-' = stdout)\n"
		"      --events-backlog N bytes of event lines that may wait for a slow reader\n"
		"                         (default 4194304); lines beyond are dropped and counted\n"
		"      --pcap FILE        write every packet as captured (interface 'in') and as\n"
		"                         released ('out') to a pcapng file, verdicts in comments\n"
		"      --no-track         do not run the TCP shadow-state tracker\n"
		"      --full-copy        copy whole packets from the kernel even when the rules\n"
		"                         need only headers\n"
		"      --time-wait DUR    how long the tracker keeps TIME_WAIT (2*MSL, default 60s)\n"
		"      --track-idle DUR   forget idle connections after DUR (default 300s)\n"
		"      --max-conns N      connections the tracker holds (default 262144)\n"
		"\n"
		"On SIGUSR1 the counters are printed as JSON; at exit too.\n"
		"\n"
		"replay IN.pcap [options]: the same decisions on a capture, in virtual time\n"
		"  -r/--rule, -f/--rules, -s/--seed, -e/--events as for run\n"
		"  -o, --out FILE         write the packets as they leave (nanosecond pcap, raw IP)\n"
		"  -l, --local NET        addresses of the host faultline stood for (repeatable):\n"
		"                         packets from them are 'out', to them 'in', others 'fwd'\n"
		"                         (Linux cooked captures, tcpdump -i any, carry it already)\n"
		"      --pcap FILE, --no-track, --time-wait DUR as for run\n");
}

struct cli_run {
	struct rule_set *rules;
	const char *netns, *netns_path, *events_path;
	struct proxy_config cfg;
	bool have_seed;
	unsigned n_rule_args;
	bool write_failed;	/* an output failed: the exit status says so */
	bool events_failed;	/* ... the event log, and that was said */
};

/* How a file given on the command line is named in a message ('-' is stdout). */
static const char *out_name(const char *path)
{
	return strcmp(path, "-") ? path : "standard output";
}

/*
 * Check a stream after writing to it: 0, or -1 with the failure reported
 * (once for stdout, whoever wrote to it). errno is the write's.
 */
static int check_written(FILE *f, const char *name)
{
	if (fflush(f) == 0 && !ferror(f))
		return 0;
	if (f == stdout) {
		if (stdout_failed)
			return -1;
		stdout_failed = true;
	}
	fprintf(stderr, PROG_NAME ": %s: write failed: %s\n", name, strerror(errno ? errno : EIO));
	return -1;
}

/*
 * Finish a file written to (closed unless it is stdout): 0, or -1 with the
 * failure reported. 'failed': a failure was reported already, say nothing.
 */
static int close_written(FILE *f, const char *name, bool failed)
{
	int ret = failed ? -1 : check_written(f, name);

	if (f == stdout)
		return ret;
	if (fclose(f) && !ret) {
		fprintf(stderr, PROG_NAME ": %s: write failed: %s\n", name, strerror(errno));
		ret = -1;
	}
	return ret;
}

static void print_rule_error(const struct rule_error *e)
{
	if (e->line > 0)
		fprintf(stderr, "%s:%d:%d: %s\n", e->file, e->line, e->col, e->msg);
	else
		fprintf(stderr, "%s: %s\n", e->file, e->msg);
}

static int parse_u32(const char *opt, const char *s, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || end == s || v > max) {
		fprintf(stderr, PROG_NAME ": %s: bad number '%s'\n", opt, s);
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

static int parse_seed(const char *s, uint64_t *seed)
{
	char *end;

	errno = 0;
	*seed = strtoull(s, &end, 0);
	if (errno || *end || end == s) {
		fprintf(stderr, PROG_NAME ": --seed: bad number '%s'\n", s);
		return -1;
	}
	return 0;
}

/* A seed for a run without --seed: random, and short enough to retype. */
static uint64_t pick_seed(void)
{
	uint64_t seed;

	if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		seed = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull;
	return seed & 0xffffffffffffull;
}

static int enter_netns(const char *name, const char *path)
{
	char buf[512];
	int fd;

	if (name) {
		if (strchr(name, '/')) {
			fprintf(stderr, PROG_NAME ": bad namespace name '%s'\n", name);
			return -1;
		}
		snprintf(buf, sizeof(buf), "/run/netns/%s", name);
		path = buf;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (name)
			fprintf(stderr, PROG_NAME ": network namespace '%s' does not exist (see 'ip netns list')\n", name);
		else
			fprintf(stderr, PROG_NAME ": cannot open namespace %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (setns(fd, CLONE_NEWNET)) {
		fprintf(stderr, PROG_NAME ": cannot enter namespace %s: %s%s\n", path, strerror(errno),
			errno == EPERM ? " (needs root or CAP_SYS_ADMIN)" : "");
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static void on_report(void *data, const char *kind, const char *json)
{
	struct cli_run *r = data;

	if (!strcmp(kind, "ready")) {
		fprintf(stderr, PROG_NAME ": running (queue %u, %zu rules, seed %llu)\n", r->cfg.queue,
			rule_set_count(r->rules), (unsigned long long)r->cfg.seed);
		return;
	}
	printf("%s\n", json);
	if (check_written(stdout, "standard output (counters)"))
		r->write_failed = true;
}

/* From the proxy, once per output, at its first failed write: packets keep flowing. */
static void on_output_error(void *data, enum pipeline_output out, int err)
{
	struct cli_run *r = data;

	r->write_failed = true;
	r->events_failed |= out == PIPELINE_OUT_EVENTS;
	if (out == PIPELINE_OUT_EVENTS)
		fprintf(stderr, PROG_NAME ": %s: cannot write the event log: %s; no more events are written, "
			"packets keep flowing\n", out_name(r->events_path), strerror(-err));
	else
		fprintf(stderr, PROG_NAME ": %s: cannot write the capture file: %s; no more packets are recorded, "
			"packets keep flowing\n", r->cfg.pcap_path, strerror(-err));
}

/* Parse the rule options shared by run and check. Returns 1 if handled, -1 on error. */
static int rule_option(struct cli_run *r, int c, const char *arg)
{
	struct rule_error e;
	char name[64];

	if (c == 'r') {
		r->n_rule_args++;
		snprintf(name, sizeof(name), "--rule %u", r->n_rule_args);
		if (rule_set_add_line(r->rules, arg, name, 1, &e)) {
			print_rule_error(&e);
			return -1;
		}
		return 1;
	}
	if (c == 'f') {
		if (rule_set_load_file(r->rules, arg, &e)) {
			print_rule_error(&e);
			return -1;
		}
		return 1;
	}
	return 0;
}

enum {
	OPT_NETNS_PATH = 256,
	OPT_FORWARD,
	OPT_MAX_HELD,
	OPT_QUEUE_MAXLEN,
	OPT_MAX_FLOWS,
	OPT_MARK,
	OPT_NO_TRACK,
	OPT_TIME_WAIT,
	OPT_TRACK_IDLE,
	OPT_MAX_CONNS,
	OPT_PCAP,
	OPT_FULL_COPY,
	OPT_EVENTS_BACKLOG,
};

static const struct option run_opts[] = {
	{ "rule", required_argument, NULL, 'r' },
	{ "rules", required_argument, NULL, 'f' },
	{ "seed", required_argument, NULL, 's' },
	{ "netns", required_argument, NULL, 'n' },
	{ "netns-path", required_argument, NULL, OPT_NETNS_PATH },
	{ "queue", required_argument, NULL, 'q' },
	{ "forward", no_argument, NULL, OPT_FORWARD },
	{ "max-held", required_argument, NULL, OPT_MAX_HELD },
	{ "queue-maxlen", required_argument, NULL, OPT_QUEUE_MAXLEN },
	{ "max-flows", required_argument, NULL, OPT_MAX_FLOWS },
	{ "mark", required_argument, NULL, OPT_MARK },
	{ "events", required_argument, NULL, 'e' },
	{ "events-backlog", required_argument, NULL, OPT_EVENTS_BACKLOG },
	{ "no-track", no_argument, NULL, OPT_NO_TRACK },
	{ "full-copy", no_argument, NULL, OPT_FULL_COPY },
	{ "pcap", required_argument, NULL, OPT_PCAP },
	{ "time-wait", required_argument, NULL, OPT_TIME_WAIT },
	{ "track-idle", required_argument, NULL, OPT_TRACK_IDLE },
	{ "max-conns", required_argument, NULL, OPT_MAX_CONNS },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

static int parse_run(int argc, char **argv, struct cli_run *r)
{
	uint32_t u;
	int c, h;

	while ((c = getopt_long(argc, argv, "r:f:s:n:q:e:h", run_opts, NULL)) != -1) {
		h = rule_option(r, c, optarg);
		if (h < 0)
			return -1;
		if (h)
			continue;
		switch (c) {
		case 's':
			if (parse_seed(optarg, &r->cfg.seed))
				return -1;
			r->have_seed = true;
			break;
		case 'n':
			r->netns = optarg;
			break;
		case OPT_NETNS_PATH:
			r->netns_path = optarg;
			break;
		case 'q':
			if (parse_u32("--queue", optarg, 65535, &u))
				return -1;
			r->cfg.queue = (uint16_t)u;
			break;
		case OPT_FORWARD:
			r->cfg.forward = true;
			break;
		case OPT_MAX_HELD:
			if (parse_u32("--max-held", optarg, 10000000, &r->cfg.max_held) || !r->cfg.max_held)
				return -1;
			break;
		case OPT_QUEUE_MAXLEN:
			if (parse_u32("--queue-maxlen", optarg, 1u << 24, &r->cfg.queue_maxlen))
				return -1;
			break;
		case OPT_MAX_FLOWS:
			if (parse_u32("--max-flows", optarg, 1u << 24, &r->cfg.max_flows))
				return -1;
			break;
		case OPT_MARK:
			if (parse_u32("--mark", optarg, UINT32_MAX, &r->cfg.mark) || !r->cfg.mark)
				return -1;
			break;
		case 'e':
			r->events_path = optarg;
			break;
		case OPT_EVENTS_BACKLOG:
			if (parse_u32("--events-backlog", optarg, 1u << 30, &u) || u < 4096) {
				fprintf(stderr, PROG_NAME ": --events-backlog: at least 4096 bytes\n");
				return -1;
			}
			r->cfg.events_backlog = u;
			break;
		case OPT_NO_TRACK:
			r->cfg.no_track = true;
			break;
		case OPT_FULL_COPY:
			r->cfg.full_copy = true;
			break;
		case OPT_PCAP:
			r->cfg.pcap_path = optarg;
			break;
		case OPT_TIME_WAIT:
		case OPT_TRACK_IDLE: {
			uint64_t ns;

			if (rule_parse_duration(optarg, &ns) || !ns) {
				fprintf(stderr, PROG_NAME ": %s: bad duration '%s' (e.g. 30s, 500ms)\n",
					c == OPT_TIME_WAIT ? "--time-wait" : "--track-idle", optarg);
				return -1;
			}
			if (c == OPT_TIME_WAIT)
				r->cfg.time_wait_ns = ns;
			else
				r->cfg.track_idle_ns = ns;
			break;
		}
		case OPT_MAX_CONNS:
			if (parse_u32("--max-conns", optarg, 1u << 26, &r->cfg.max_conns) || !r->cfg.max_conns)
				return -1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, PROG_NAME ": unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (r->netns && r->netns_path) {
		fprintf(stderr, PROG_NAME ": --netns and --netns-path exclude each other\n");
		return -1;
	}
	return 0;
}

static int cmd_run(int argc, char **argv)
{
	struct cli_run r = { 0 };
	struct proxy *p = NULL;
	FILE *events = NULL;
	char err[512];
	int ret = 2;

	r.rules = rule_set_new();
	if (!r.rules)
		return 1;
	r.cfg.queue = 4242;
	/* Every rule error is reported before anything touches the system. */
	if (parse_run(argc, argv, &r))
		goto out;
	if (!rule_set_count(r.rules)) {
		fprintf(stderr, PROG_NAME ": no rules: give --rule or --rules\n");
		goto out;
	}
	ret = 1;
	if (!r.have_seed)
		r.cfg.seed = pick_seed();
	if ((r.netns || r.netns_path) && enter_netns(r.netns, r.netns_path))
		goto out;
	if (!ipt_available()) {
		fprintf(stderr, PROG_NAME ": iptables-restore not found: install iptables\n");
		goto out;
	}
	if (r.events_path) {
		events = strcmp(r.events_path, "-") ? fopen(r.events_path, "w") : stdout;
		if (!events) {
			fprintf(stderr, PROG_NAME ": %s: %s\n", r.events_path, strerror(errno));
			goto out;
		}
		setvbuf(events, NULL, _IOLBF, 0);
		r.cfg.events = events;
	}
	r.cfg.output_error = on_output_error;
	p = proxy_new(&r.cfg, r.rules, on_report, &r, err, sizeof(err));
	if (!p) {
		r.rules = NULL; /* taken by proxy_new */
		fprintf(stderr, PROG_NAME ": %s\n", err);
		goto out;
	}
	/* Said only once nothing can fail any more: a failed start prints one line. */
	if (!r.have_seed)
		fprintf(stderr, PROG_NAME ": seed %llu (rerun with --seed %llu)\n",
			(unsigned long long)r.cfg.seed, (unsigned long long)r.cfg.seed);
	if (proxy_run(p, err, sizeof(err))) {
		fprintf(stderr, PROG_NAME ": %s\n", err);
		r.rules = NULL;
		goto out;
	}
	r.rules = NULL; /* owned by the proxy, freed with it */
	ret = 0;
	if (events) {
		int werr;
		uint64_t lost = proxy_events_dropped(p, &werr);

		/* Lost event lines are lost output, as a failed write is: said, and the exit says it. */
		if (lost) {
			fprintf(stderr, PROG_NAME ": %s: %llu event lines not written (\"events_dropped\"): %s\n",
				strcmp(r.events_path, "-") ? r.events_path : "standard output", (unsigned long long)lost,
				werr ? strerror(-werr) : "the reader fell behind by more than --events-backlog bytes");
			ret = 1;
		}
	}
out:
	proxy_free(p);
	rule_set_free(r.rules);
	/* The proxy flushed the log; a failure it told us of is not said twice. */
	if (events && close_written(events, out_name(r.events_path), r.events_failed))
		r.write_failed = true;
	if (r.write_failed && !ret) {
		fprintf(stderr, PROG_NAME ": packets were forwarded, but not every output was written "
			"(see above)\n");
		ret = 1;
	}
	return ret;
}

static int cmd_check(int argc, char **argv)
{
	struct cli_run r = { 0 };
	static const struct option opts[] = {
		{ "rule", required_argument, NULL, 'r' },
		{ "rules", required_argument, NULL, 'f' },
		{ 0 },
	};
	int c, ret = 2;

	r.rules = rule_set_new();
	if (!r.rules)
		return 1;
	while ((c = getopt_long(argc, argv, "r:f:", opts, NULL)) != -1) {
		if (rule_option(&r, c, optarg) <= 0)
			goto out;
	}
	for (size_t i = 0; i < rule_set_count(r.rules); i++) {
		char buf[1024];

		rule_print(rule_set_get(r.rules, i), buf, sizeof(buf));
		printf("%s\n", buf);
	}
	ret = 0;
out:
	rule_set_free(r.rules);
	return ret;
}

static int cmd_cleanup(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "netns", required_argument, NULL, 'n' },
		{ "netns-path", required_argument, NULL, OPT_NETNS_PATH },
		{ 0 },
	};
	const char *ns = NULL, *path = NULL;
	char err[512];
	int c, removed;

	while ((c = getopt_long(argc, argv, "n:", opts, NULL)) != -1) {
		if (c == 'n')
			ns = optarg;
		else if (c == OPT_NETNS_PATH)
			path = optarg;
		else
			return 2;
	}
	if ((ns || path) && enter_netns(ns, path))
		return 1;
	if (ipt_cleanup(&removed, err, sizeof(err))) {
		fprintf(stderr, PROG_NAME ": cleanup: %s\n", err[0] ? err : "iptables failed");
		return 1;
	}
	fprintf(stderr, PROG_NAME ": removed %d chain%s\n", removed, removed == 1 ? "" : "s");
	return 0;
}

static int cmd_replay(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rule", required_argument, NULL, 'r' },
		{ "rules", required_argument, NULL, 'f' },
		{ "seed", required_argument, NULL, 's' },
		{ "events", required_argument, NULL, 'e' },
		{ "out", required_argument, NULL, 'o' },
		{ "local", required_argument, NULL, 'l' },
		{ "no-track", no_argument, NULL, OPT_NO_TRACK },
		{ "time-wait", required_argument, NULL, OPT_TIME_WAIT },
		{ "pcap", required_argument, NULL, OPT_PCAP },
		{ 0 },
	};
	struct replay_local locals[32];
	struct replay_config rc = { .locals = locals };
	struct replay_stats st = { 0 };
	struct cli_run r = { 0 };
	const char *events_path = NULL;
	bool have_seed = false;
	FILE *events = NULL;
	char err[512], *json = NULL;
	int c, h, ret = 2;

	r.rules = rule_set_new();
	if (!r.rules)
		return 1;
	while ((c = getopt_long(argc, argv, "r:f:s:e:o:l:", opts, NULL)) != -1) {
		h = rule_option(&r, c, optarg);
		if (h < 0)
			goto out;
		if (h)
			continue;
		switch (c) {
		case 's':
			if (parse_seed(optarg, &rc.seed))
				goto out;
			have_seed = true;
			break;
		case 'e':
			events_path = optarg;
			break;
		case 'o':
			rc.out_path = optarg;
			break;
		case 'l':
			if (rc.n_locals == sizeof(locals) / sizeof(locals[0]) ||
			    replay_parse_local(optarg, &locals[rc.n_locals])) {
				fprintf(stderr, PROG_NAME ": --local: bad address '%s'\n", optarg);
				goto out;
			}
			rc.n_locals++;
			break;
		case OPT_NO_TRACK:
			rc.no_track = true;
			break;
		case OPT_PCAP:
			rc.pcap_path = optarg;
			break;
		case OPT_TIME_WAIT:
			if (rule_parse_duration(optarg, &rc.time_wait_ns) || !rc.time_wait_ns) {
				fprintf(stderr, PROG_NAME ": --time-wait: bad duration '%s'\n", optarg);
				goto out;
			}
			break;
		default:
			usage(stderr);
			goto out;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, PROG_NAME ": replay needs exactly one capture file\n");
		goto out;
	}
	if (!rule_set_count(r.rules)) {
		fprintf(stderr, PROG_NAME ": no rules: give --rule or --rules\n");
		goto out;
	}
	rc.in_path = argv[optind];
	ret = 1;
	if (!have_seed) {
		rc.seed = pick_seed();
		fprintf(stderr, PROG_NAME ": seed %llu (rerun with --seed %llu)\n",
			(unsigned long long)rc.seed, (unsigned long long)rc.seed);
	}
	if (events_path) {
		events = strcmp(events_path, "-") ? fopen(events_path, "w") : stdout;
		if (!events) {
			fprintf(stderr, PROG_NAME ": %s: %s\n", events_path, strerror(errno));
			goto out;
		}
		rc.events = events;
		rc.events_path = out_name(events_path);
	}
	ret = 0;
	if (replay_run(&rc, r.rules, &st, &json, err, sizeof(err))) {
		fprintf(stderr, PROG_NAME ": replay: %s\n", err);
		ret = 1;
	}
	/* The counters come also after a failure: they say how far it got. */
	if (json) {
		printf("%s\n", json);
		if (check_written(stdout, "standard output (counters)"))
			ret = 1;
	}
out:
	free(json);
	/* replay reported a failure of the log already; the close can still fail on its own. */
	if (events && close_written(events, out_name(events_path), st.events_err))
		ret = 1;
	rule_set_free(r.rules);
	return ret;
}

/*
 * The guided demo is a script (namespaces, traffic, conclusions); run it
 * from the source tree this binary was built from, with this build.
 */
static int cmd_demo(int argc, char **argv)
{
	char self[4096], dir[4096], script[4200], tool[4200];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char **args = calloc((size_t)argc + 3, sizeof(*args));

	if (n <= 0 || !args) {
		fprintf(stderr, PROG_NAME ": demo: cannot find my own binary\n");
		free(args);
		return 1;
	}
	self[n] = 0;
	snprintf(dir, sizeof(dir), "%s", self);
	*strrchr(dir, '/') = 0;
	snprintf(script, sizeof(script), "%s/scripts/demo.sh", FL_SOURCE_DIR);
	/* An installed binary has no test tools beside it: let the script build them. */
	if ((size_t)snprintf(tool, sizeof(tool), "%s/udpseq", dir) < sizeof(tool) &&
	    access(tool, X_OK) == 0)
		setenv("FL_BUILD", dir, 1);
	args[0] = "bash";
	args[1] = script;
	for (int i = 1; i < argc; i++)
		args[i + 1] = argv[i];
	execvp("bash", args);
	fprintf(stderr, PROG_NAME ": demo: cannot run %s: %s\n", script, strerror(errno));
	free(args);
	return 1;
}

static int dispatch(const char *cmd, int argc, char **argv);

/*
 * Whatever a command printed must have reached stdout: a full disk or a
 * closed pipe makes the exit status non-zero, as for any other output.
 */
int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;
	int ret = dispatch(cmd, argc, argv);

	if (check_written(stdout, "standard output") && !ret)
		ret = 1;
	return ret;
}

static int dispatch(const char *cmd, int argc, char **argv)
{
	if (!cmd || !strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
		usage(cmd ? stdout : stderr);
		return cmd ? 0 : 2;
	}
	/* Sub-commands parse argv from their own name on. */
	argc--;
	argv++;
	if (!strcmp(cmd, "run"))
		return cmd_run(argc, argv);
	if (!strcmp(cmd, "check"))
		return cmd_check(argc, argv);
	if (!strcmp(cmd, "replay"))
		return cmd_replay(argc, argv);
	if (!strcmp(cmd, "demo"))
		return cmd_demo(argc, argv);
	if (!strcmp(cmd, "cleanup"))
		return cmd_cleanup(argc, argv);
	if (!strcmp(cmd, "show"))
		return cmd_show(argc, argv);
	if (!strcmp(cmd, "report"))
		return cmd_report(argc, argv);
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		printf(PROG_NAME " " VERSION "\n");
		return 0;
	}
	fprintf(stderr, PROG_NAME ": unknown command '%s'\n", cmd);
	usage(stderr);
	return 2;
}
