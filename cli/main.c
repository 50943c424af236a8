// SPDX-License-Identifier: MIT
/*
 * faultline: the command line. The only code that prints or exits; every
 * module below returns errors for this file to word.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/capability.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include "api.h"
#include "args.h"
#include "ctl.h"
#include "ctlcmd.h"
#include "play.h"
#include "scenario.h"
#include "http.h"
#include "nat.h"
#include "toxirun.h"
#include "ipt.h"
#include "msg.h"
#include "priv.h"
#include "proxy.h"
#include "replay.h"
#include "report.h"
#include "units.h"
#include "file.h"
#include "follow.h"
#include "carry.h"
#include "events.h"
#include "container.h"
#include "profile.h"
#include "rule.h"
#include "show.h"
#include "sock.h"
#include "progress.h"
#include "tick.h"
#include "usage.h"
#include "version.h"
#include "wrap.h"

#define PROG_NAME "faultline"

/* A failed write to stdout was reported already: say it once. */
static bool stdout_failed;

/* Bounds of the numeric options: what each field holds and what works. */
#define MAX_HELD 10000000u
#define MAX_QUEUE_MAXLEN (1u << 24)
#define MAX_FLOWS (1u << 24)
#define MAX_CONNS (1u << 26)
/* --queues: a reader thread each; more than the cores of a large host buys nothing. */
#define MAX_QUEUES 64u
#define MAX_DURATION_NS (7 * 24 * 3600 * 1000000000ull)	/* --time-wait, --track-idle */
#define MAX_RELEASE_EARLY_NS 10000000ull	/* --release-early: 10 ms of spinning at most */
#define MAX_HTTP_TIMEOUT_NS (3600 * 1000000000ull)
/*
 * Messages from the modules below: room for three file names of PATH_MAX
 * (replay's outputs) and their reasons, so that none is cut.
 */
#define ERR_LEN (3 * PATH_MAX + 1024)
/* Indexes a seen[] by option value: characters, and the OPT_* from 256. */
#define OPT_SEEN_MAX 512

struct cli_run {
	struct rule_set *rules;
	const char *netns, *netns_path, *events_path;
	/* --container NAME: its process, the namespace path made from it, the watch. */
	const char *container;
	pid_t container_pid;
	char container_ns[64];
	struct follow *follow;
	int follow_end;		/* an enum follow_end once the namespace ended, else 0 */
	unsigned attach;	/* how many times a restarted container was followed (FAULTLINE_ATTACH) */
	/*
	 * The counters of the runs before this one, when it follows a
	 * restarted container (FAULTLINE_CARRY_FD), added to its own; and
	 * its own last ones, for the next (the "final" report).
	 */
	struct carry *carry;
	char *final_json;
	struct proxy_config cfg;
	bool have_seed;
	unsigned n_rule_args;
	bool write_failed;	/* an output failed: the exit status says so */
	bool events_failed;	/* ... the event log, and that was said */
	/* The rule files read, so that no output overwrites one. */
	const char **rule_files;
	size_t n_rule_files;
	/* Every -r and -f in order, for reset and reload (labels owned). */
	struct ctl_source *sources;
	size_t n_sources;
	/* The control socket: --control, or the default path; none with --no-control. */
	const char *control_path;
	bool no_control;
	char control_buf[PATH_MAX];
	struct ctl *ctl;
	struct ctl_sock *sock;
	/* --scenario: parsed before anything starts, played from the start. */
	const char *scenario_path;
	struct scenario *scenario;
	struct play *play;
	/* --progress: a summary line every progress_s seconds (0: none), by 'tick'. */
	uint32_t progress_s;
	struct tick *tick;
	struct proxy *proxy;	/* borrowed: the run's, once made */
	size_t n_rules;		/* the rules it started with */
	/* The HTTP API (--http): its address, socket (bound before --netns), server. */
	const char *http_arg;
	bool http_allow_remote;
	uint64_t http_timeout_ns;
	struct http_addr http_addr;
	int http_fd;
	struct api *api;
	struct http *http;
	/* --toxiproxy-api: bound before --netns, as --http. */
	const char *toxi_arg;
	struct toxirun *toxi;
	/*
	 * wrap: the command (the words after "--"), its child and cgroup,
	 * its exit status once it ended (else -1), the signal (SIGINT,
	 * SIGTERM) that stopped the run (else 0), and whether the chain
	 * could not be removed (the cgroup it names then stays too).
	 */
	char **wrap_argv;
	struct wrap *wrap;
	int wrap_status;
	int stop_signal;
	bool chain_left;
	bool seen[OPT_SEEN_MAX];
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


/* "file:line:col: msg" as compilers write it; without a line, about the file. */
static void print_rule_error(const struct rule_error *e)
{
	if (e->line > 0 && e->col > 0)
		fprintf(stderr, "%s:%d:%d: %s\n", e->file, e->line, e->col, e->msg);
	else if (e->line > 0)
		fprintf(stderr, "%s:%d: %s\n", e->file, e->line, e->msg);
	else
		fprintf(stderr, PROG_NAME ": %s: %s\n", e->file, e->msg);
}

static int opt_u32(const char *opt, const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	uint64_t v;

	if (args_uint(opt, s, min, max, &v))
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* "25%" or "25": more than 0, at most 100. */
static int opt_percent(const char *opt, const char *s, uint32_t *ppm)
{
	char buf[32];
	const char *why, *v = s;
	size_t n = strlen(s);

	/* units_parse_percent wants the sign; a bare number means the same. */
	if (n && n < sizeof(buf) - 1 && s[n - 1] != '%') {
		snprintf(buf, sizeof(buf), "%s%%", s);
		v = buf;
	}
	if (units_parse_percent(v, ppm, &why)) {
		fprintf(stderr, PROG_NAME ": %s: '%s': %s\n", opt, s, why);
		return -1;
	}
	return 0;
}

/*
 * An option with a value may be given once: a second --queue or --seed is
 * a mistake, not an override. Flags may repeat; -r, -f and -l add up.
 */
static int once(const struct option *opts, int c, bool seen[static OPT_SEEN_MAX])
{
	if (c < 0 || c >= OPT_SEEN_MAX || c == 'r' || c == 'f' || c == 'l')
		return 0;
	for (const struct option *o = opts; o->name; o++) {
		if (o->val != c || o->has_arg == no_argument)
			continue;
		if (seen[c]) {
			fprintf(stderr, PROG_NAME ": --%s given twice\n", o->name);
			return -1;
		}
		seen[c] = true;
		return 0;
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

/* What `ip netns add` accepts: a file name in /run/netns. */
static int check_netns_name(const char *opt, const char *name)
{
	const char *why = NULL;

	if (args_value(opt, name))
		return -1;
	if (strchr(name, '/'))
		why = "a name cannot contain '/' (for a path use --netns-path)";
	else if (!strcmp(name, ".") || !strcmp(name, ".."))
		why = "not a namespace name";
	else if (strlen(name) > NAME_MAX)
		why = "longer than 255 bytes";
	if (!why)
		return 0;
	fprintf(stderr, PROG_NAME ": %s '%s': %s\n", opt, name, why);
	return -1;
}

static int enter_netns(const char *name, const char *path)
{
	char buf[sizeof("/run/netns/") + NAME_MAX];
	int fd;

	if (name) {
		/* check_netns_name() bounded it, so this cannot be cut. */
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
			errno == EPERM ? " (needs root or CAP_SYS_ADMIN)" :
			errno == EINVAL ? " (not a network namespace)" : "");
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static void on_report(void *data, const char *kind, const char *json)
{
	struct cli_run *r = data;
	char qs[32];

	if (!strcmp(kind, "ready")) {
		/* Said once the run is up (chain installed): a failed start prints one line only. */
		if (!r->have_seed)
			fprintf(stderr, PROG_NAME ": seed %llu (rerun with --seed %llu)\n",
				(unsigned long long)r->cfg.seed, (unsigned long long)r->cfg.seed);
		if (r->cfg.queues > 1)
			snprintf(qs, sizeof(qs), "queues %u-%u", r->cfg.queue, r->cfg.queue + r->cfg.queues - 1u);
		else
			snprintf(qs, sizeof(qs), "queue %u", r->cfg.queue);
		fprintf(stderr, PROG_NAME ": running (%s, %zu rules, seed %llu, iptables %s%s%s)\n", qs,
			r->n_rules, (unsigned long long)r->cfg.seed, ipt_backend_name(r->cfg.ipt_backend),
			r->sock ? ", control " : "", r->sock ? ctl_sock_path(r->sock) : "");
		return;
	}
	if (!strcmp(kind, "final") && r->follow_end == FOLLOW_RESTARTED) {
		free(r->final_json);
		r->final_json = strdup(json);
	}
	/* A wrapped command owns stdout: the counters go beside faultline's other words. */
	if (r->wrap_argv) {
		fprintf(stderr, "%s\n", json);
		return;
	}
	printf("%s\n", json);
	if (check_written(stdout, "standard output (counters)"))
		r->write_failed = true;
}

/* From the proxy, once per output, at its first failed write: packets keep flowing. */
static void on_output_error(void *data, enum proxy_output out, int err)
{
	struct cli_run *r = data;

	r->write_failed = true;
	r->events_failed |= out == PROXY_OUT_EVENTS;
	if (out == PROXY_OUT_EVENTS)
		fprintf(stderr, PROG_NAME ": %s: cannot write the event log: %s; no more events are written, "
			"packets keep flowing\n", out_name(r->events_path), strerror(-err));
	else
		fprintf(stderr, PROG_NAME ": %s: cannot write the capture file: %s; no more packets are recorded, "
			"packets keep flowing\n", r->cfg.pcap_path, strerror(-err));
}

static int add_rule_file(struct cli_run *r, const char *path)
{
	struct rule_error e;
	int ret;

	if (args_value("--rules", path))
		return -1;
	ret = rule_set_load_file(r->rules, path, &e);
	if (ret) {
		print_rule_error(&e);
		return -1;
	}
	r->rule_files[r->n_rule_files++] = path;
	r->sources[r->n_sources++] = (struct ctl_source){ .kind = CTL_SRC_FILE, .value = path };
	return 0;
}

/* Parse the rule options shared by run, replay and check. 1 if handled, -1 on error. */
static int rule_option(struct cli_run *r, int c, const char *arg)
{
	struct rule_error e;
	size_t before = rule_set_count(r->rules);
	char name[sizeof("--rule ") + 10];

	if (c == 'r') {
		r->n_rule_args++;
		snprintf(name, sizeof(name), "--rule %u", r->n_rule_args);
		if (rule_set_add_line(r->rules, arg, name, 1, &e)) {
			print_rule_error(&e);
			return -1;
		}
		/* A file may have blank and comment lines; an argument is one rule. */
		if (rule_set_count(r->rules) == before) {
			fprintf(stderr, PROG_NAME ": %s: no rule in '%s' (blank or a comment)\n", name,
				arg);
			return -1;
		}
		r->sources[r->n_sources] = (struct ctl_source){ .kind = CTL_SRC_LINE, .value = arg,
								 .label = strdup(name) };
		if (!r->sources[r->n_sources++].label) {
			fprintf(stderr, PROG_NAME ": out of memory\n");
			return -1;
		}
		return 1;
	}
	if (c == 'f')
		return add_rule_file(r, arg) ? -1 : 1;
	return 0;
}

/* No output may overwrite a rule file or another output. */
static int check_outputs(const struct cli_run *r, const char *const *opt, const char *const *path,
			 size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < r->n_rule_files; j++) {
			if (args_same_file(opt[i], path[i], "--rules", r->rule_files[j]))
				return -1;
		}
		for (size_t j = i + 1; j < n; j++) {
			if (args_same_file(opt[i], path[i], opt[j], path[j]))
				return -1;
		}
	}
	return 0;
}

/* '@NAME' in a live run's filters: the container's addresses (container.h). */
static int container_names(void *data, const char *name, char *out, size_t size)
{
	(void)data;
	return container_addrs(name, out, size);
}

static int cli_run_init(struct cli_run *r, int argc)
{
	memset(r, 0, sizeof(*r));
	r->rules = rule_set_new();
	r->rule_files = calloc((size_t)argc + 1, sizeof(*r->rule_files));
	r->sources = calloc((size_t)argc + 1, sizeof(*r->sources));
	r->http_fd = -1;
	r->wrap_status = -1;
	if (!r->rules || !r->rule_files || !r->sources) {
		fprintf(stderr, PROG_NAME ": out of memory\n");
		return -1;
	}
	/* Messages name the option; getopt's own would name the subcommand as a program. */
	opterr = 0;
	return 0;
}

static void cli_run_close(struct cli_run *r)
{
	rule_set_free(r->rules);
	free(r->rule_files);
	for (size_t i = 0; r->sources && i < r->n_sources; i++)
		free((char *)r->sources[i].label);
	free(r->sources);
	scenario_free(r->scenario);
	carry_free(r->carry);
	free(r->final_json);
	if (r->http_fd >= 0)
		close(r->http_fd);
}

enum {
	OPT_NETNS_PATH = 256,
	OPT_FORWARD,
	OPT_MAX_HELD,
	OPT_MAX_HELD_BYTES,
	OPT_QUEUE_MAXLEN,
	OPT_MAX_FLOWS,
	OPT_MARK,
	OPT_NO_TRACK,
	OPT_TIME_WAIT,
	OPT_TRACK_IDLE,
	OPT_MAX_CONNS,
	OPT_PCAP,
	OPT_FULL_COPY,
	OPT_QUEUE_ALL,
	OPT_EVENTS_BACKLOG,
	OPT_PCAP_BACKLOG,
	OPT_HTML,
	OPT_CONTROL,
	OPT_NO_CONTROL,
	OPT_SCENARIO,
	OPT_HTTP,
	OPT_HTTP_ALLOW_REMOTE,
	OPT_HTTP_TIMEOUT,
	OPT_TOXIPROXY_API,
	OPT_PROGRESS,
	OPT_RELEASE_EARLY,
	OPT_RELEASE_CPU,
	OPT_REALTIME,
	OPT_NO_REALTIME,
	OPT_QUEUES,
	OPT_CONTAINER,
	OPT_IPTABLES_BACKEND,
};

/* Where the options run and replay share land: the proxy's or the replay's config. */
struct shared_dst {
	uint64_t *seed;
	const char **pcap_path;
	bool *no_track;
	uint64_t *time_wait_ns;
};

/*
 * The options run and replay both take, read the same way for both: 1 if
 * handled, 0 if c is not one of them, -1 after an error (printed), 2 for --help.
 */
static int shared_option(struct cli_run *r, const struct shared_dst *d, int c, const char *arg)
{
	int h = rule_option(r, c, arg);

	if (h)
		return h;
	switch (c) {
	case 's':
		if (args_uint("--seed", arg, 0, UINT64_MAX, d->seed))
			return -1;
		r->have_seed = true;
		return 1;
	case 'e':
		if (args_value("--events", arg))
			return -1;
		r->events_path = arg;
		return 1;
	case OPT_PCAP:
		if (args_value("--pcap", arg))
			return -1;
		*d->pcap_path = arg;
		return 1;
	case OPT_NO_TRACK:
		*d->no_track = true;
		return 1;
	case OPT_TIME_WAIT:
		return args_duration("--time-wait", arg, MAX_DURATION_NS, d->time_wait_ns) ? -1 : 1;
	case 'h':
		return 2;
	}
	return 0;
}

/* A subcommand's own options: 1 if handled, -1 after an error (printed). */
typedef int (*own_option_cb)(struct cli_run *r, void *data, int c, const char *arg);

/*
 * The option loop of run and replay: 0, -1 after a usage error (printed),
 * 1 after --help. Operands are left at argv[optind].
 */
static int parse_options(int argc, char **argv, const char *cmd, const char *shortopts,
			 const struct option *opts, struct cli_run *r, const struct shared_dst *d,
			 own_option_cb own, void *data)
{
	int c, h;

	while ((c = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
		if (c == '?' || c == ':') {
			args_getopt_error(cmd, c, argv, opts);
			return -1;
		}
		if (once(opts, c, r->seen))
			return -1;
		h = shared_option(r, d, c, optarg);
		if (!h)
			h = own(r, data, c, optarg);
		if (h < 0)
			return -1;
		if (h == 2) {
			usage_print(stdout);
			return 1;
		}
	}
	return 0;
}

static const struct option run_opts[] = {
	{ "rule", required_argument, NULL, 'r' },
	{ "rules", required_argument, NULL, 'f' },
	{ "seed", required_argument, NULL, 's' },
	{ "netns", required_argument, NULL, 'n' },
	{ "netns-path", required_argument, NULL, OPT_NETNS_PATH },
	{ "container", required_argument, NULL, OPT_CONTAINER },
	{ "queue", required_argument, NULL, 'q' },
	{ "queues", required_argument, NULL, OPT_QUEUES },
	{ "forward", no_argument, NULL, OPT_FORWARD },
	{ "max-held", required_argument, NULL, OPT_MAX_HELD },
	{ "queue-maxlen", required_argument, NULL, OPT_QUEUE_MAXLEN },
	{ "max-flows", required_argument, NULL, OPT_MAX_FLOWS },
	{ "max-held-bytes", required_argument, NULL, OPT_MAX_HELD_BYTES },
	{ "mark", required_argument, NULL, OPT_MARK },
	{ "iptables-backend", required_argument, NULL, OPT_IPTABLES_BACKEND },
	{ "events", required_argument, NULL, 'e' },
	{ "events-backlog", required_argument, NULL, OPT_EVENTS_BACKLOG },
	{ "pcap-backlog", required_argument, NULL, OPT_PCAP_BACKLOG },
	{ "no-track", no_argument, NULL, OPT_NO_TRACK },
	{ "full-copy", no_argument, NULL, OPT_FULL_COPY },
	{ "queue-all", no_argument, NULL, OPT_QUEUE_ALL },
	{ "pcap", required_argument, NULL, OPT_PCAP },
	{ "time-wait", required_argument, NULL, OPT_TIME_WAIT },
	{ "track-idle", required_argument, NULL, OPT_TRACK_IDLE },
	{ "max-conns", required_argument, NULL, OPT_MAX_CONNS },
	{ "control", required_argument, NULL, OPT_CONTROL },
	{ "no-control", no_argument, NULL, OPT_NO_CONTROL },
	{ "scenario", required_argument, NULL, OPT_SCENARIO },
	{ "http", required_argument, NULL, OPT_HTTP },
	{ "http-allow-remote", no_argument, NULL, OPT_HTTP_ALLOW_REMOTE },
	{ "http-timeout", required_argument, NULL, OPT_HTTP_TIMEOUT },
	{ "toxiproxy-api", required_argument, NULL, OPT_TOXIPROXY_API },
	{ "progress", optional_argument, NULL, OPT_PROGRESS },
	{ "release-early", required_argument, NULL, OPT_RELEASE_EARLY },
	{ "release-cpu", required_argument, NULL, OPT_RELEASE_CPU },
	{ "realtime", no_argument, NULL, OPT_REALTIME },
	{ "no-realtime", no_argument, NULL, OPT_NO_REALTIME },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

/* --*-backlog: bytes that may wait for a slow reader. */
static int opt_backlog(const char *opt, const char *s, size_t *out)
{
	uint64_t v;

	if (args_uint(opt, s, 4096, 1u << 30, &v))
		return -1;
	*out = (size_t)v;
	return 0;
}

/* Where the run goes: namespace and queue. */
static int run_place_option(struct cli_run *r, int c, const char *arg)
{
	uint32_t q;

	switch (c) {
	case 'n':
		if (check_netns_name("--netns", arg))
			return -1;
		r->netns = arg;
		return 1;
	case OPT_NETNS_PATH:
		if (args_value("--netns-path", arg))
			return -1;
		r->netns_path = arg;
		return 1;
	case OPT_CONTAINER:
		if (args_value("--container", arg))
			return -1;
		r->container = arg;
		return 1;
	case 'q':
		if (opt_u32("--queue", arg, 0, UINT16_MAX, &q))
			return -1;
		r->cfg.queue = (uint16_t)q;
		return 1;
	case OPT_QUEUES:
		if (opt_u32("--queues", arg, 1, MAX_QUEUES, &q))
			return -1;
		r->cfg.queues = (uint16_t)q;
		return 1;
	case OPT_FORWARD:
		r->cfg.forward = true;
		return 1;
	case OPT_MARK:
		/* 0 is every unmarked packet: the chain would let them all pass. */
		return opt_u32("--mark", arg, 1, UINT32_MAX, &r->cfg.mark) ? -1 : 1;
	case OPT_IPTABLES_BACKEND:
		if (ipt_backend_parse(arg, &r->cfg.ipt_backend)) {
			fprintf(stderr, PROG_NAME ": --iptables-backend '%s': expected nft, legacy or auto\n", arg);
			return -1;
		}
		return 1;
	}
	return 0;
}

/* --scenario FILE: read and parsed now, so that a bad one stops the run before it starts. */
static int load_scenario(struct cli_run *r, const char *path)
{
	struct scenario_error e;
	/* One byte more than a scenario may have: the parser says it is too large. */
	size_t cap = SCENARIO_MAX_FILE + 1, n;
	char *text = malloc(cap);
	FILE *f;
	int err;

	if (args_value("--scenario", path))
		goto err_free;
	if (!text) {
		fprintf(stderr, PROG_NAME ": out of memory\n");
		return -1;
	}
	f = fopen(path, "re");
	if (!f) {
		fprintf(stderr, PROG_NAME ": %s: %s\n", path, strerror(errno));
		goto err_free;
	}
	n = fread(text, 1, cap, f);
	if (ferror(f)) {
		fprintf(stderr, PROG_NAME ": %s: %s\n", path, strerror(errno));
		fclose(f);
		goto err_free;
	}
	fclose(f);
	r->scenario_path = path;
	r->scenario = scenario_parse(text, n, path, &e);
	err = errno;
	free(text);
	if (r->scenario)
		return 0;
	if (err == ENOMEM)
		fprintf(stderr, PROG_NAME ": out of memory\n");
	else if (e.line > 0)
		fprintf(stderr, "%s:%d:%d: %s\n", e.file, e.line, e.col, e.msg);
	else
		fprintf(stderr, PROG_NAME ": %s: %s\n", e.file, e.msg);
	return -1;
err_free:
	free(text);
	return -1;
}

/* run's command line, for an option that reads the word after it. */
struct run_argv {
	int argc;
	char **argv;
};

/*
 * --progress [SECONDS]: getopt gives an optional value only as
 * --progress=N, so a number in the next word is taken too. run takes no
 * other words, so that word cannot mean anything else.
 */
static int opt_progress(struct cli_run *r, const char *arg, const struct run_argv *av)
{
	char **argv = av->argv;

	if (!arg && optind < av->argc && argv[optind][0] >= '0' && argv[optind][0] <= '9')
		arg = argv[optind++];
	if (!arg) {
		r->progress_s = PROGRESS_RUN_DEFAULT_S;
		return 0;
	}
	return opt_u32("--progress", arg, 1, 86400, &r->progress_s);
}

/* run's own options beyond those it shares with replay. */
static int run_option(struct cli_run *r, void *data, int c, const char *arg)
{
	struct proxy_config *cfg = &r->cfg;
	int h = run_place_option(r, c, arg);

	if (h)
		return h;
	switch (c) {
	case OPT_MAX_HELD:
		return opt_u32("--max-held", arg, 1, MAX_HELD, &cfg->max_held) ? -1 : 1;
	case OPT_MAX_HELD_BYTES:
		return args_size("--max-held-bytes", arg, 1024, &cfg->max_held_bytes) ? -1 : 1;
	case OPT_QUEUE_MAXLEN:
		return opt_u32("--queue-maxlen", arg, 1, MAX_QUEUE_MAXLEN, &cfg->queue_maxlen) ? -1 : 1;
	case OPT_MAX_FLOWS:
		return opt_u32("--max-flows", arg, 1, MAX_FLOWS, &cfg->max_flows) ? -1 : 1;
	case OPT_EVENTS_BACKLOG:
		return opt_backlog("--events-backlog", arg, &cfg->events_backlog) ? -1 : 1;
	case OPT_PCAP_BACKLOG:
		return opt_backlog("--pcap-backlog", arg, &cfg->pcap_backlog) ? -1 : 1;
	case OPT_FULL_COPY:
		cfg->full_copy = true;
		return 1;
	case OPT_QUEUE_ALL:
		cfg->queue_all = "--queue-all";
		return 1;
	case OPT_TRACK_IDLE:
		return args_duration("--track-idle", arg, MAX_DURATION_NS, &cfg->track_idle_ns) ? -1 : 1;
	case OPT_MAX_CONNS:
		return opt_u32("--max-conns", arg, 1, MAX_CONNS, &cfg->max_conns) ? -1 : 1;
	case OPT_RELEASE_EARLY:
		/* 0 in the config means the default; a bare 0 here means never early. */
		if (!strcmp(arg, "0")) {
			cfg->release_early_ns = PROXY_RELEASE_EARLY_OFF;
			return 1;
		}
		return args_duration("--release-early", arg, MAX_RELEASE_EARLY_NS, &cfg->release_early_ns) ? -1 : 1;
	case OPT_RELEASE_CPU:
		return opt_percent("--release-cpu", arg, &cfg->release_cpu_ppm) ? -1 : 1;
	case OPT_REALTIME:
		cfg->realtime = PROXY_REALTIME_PRIORITY;
		return 1;
	case OPT_NO_REALTIME:
		cfg->realtime = PROXY_REALTIME_OFF;
		return 1;
	case OPT_CONTROL:
		if (args_value("--control", arg))
			return -1;
		r->control_path = arg;
		return 1;
	case OPT_NO_CONTROL:
		r->no_control = true;
		return 1;
	case OPT_SCENARIO:
		return load_scenario(r, arg) ? -1 : 1;
	case OPT_HTTP:
		if (args_value("--http", arg))
			return -1;
		r->http_arg = arg;
		return 1;
	case OPT_HTTP_ALLOW_REMOTE:
		r->http_allow_remote = true;
		return 1;
	case OPT_TOXIPROXY_API:
		if (args_value("--toxiproxy-api", arg))
			return -1;
		r->toxi_arg = arg;
		return 1;
	case OPT_HTTP_TIMEOUT:
		if (args_duration("--http-timeout", arg, MAX_HTTP_TIMEOUT_NS, &r->http_timeout_ns))
			return -1;
		/* libmicrohttpd counts whole seconds. */
		if (r->http_timeout_ns < 1000000000ull) {
			fprintf(stderr, PROG_NAME ": --http-timeout %s: at least 1s\n", arg);
			return -1;
		}
		return 1;
	case OPT_PROGRESS:
		return opt_progress(r, arg, data) ? -1 : 1;
	}
	return -1;
}

/* --http and its companions, checked before anything touches the system: 0 or -1 (printed). */
static int check_http(struct cli_run *r)
{
	char msg[256];

	if (!r->http_arg) {
		if ((r->http_allow_remote && !r->toxi_arg) || r->http_timeout_ns) {
			fprintf(stderr, PROG_NAME ": %s needs --http\n",
				r->http_allow_remote ? "--http-allow-remote" : "--http-timeout");
			return -1;
		}
		return 0;
	}
	if (http_parse_addr(r->http_arg, r->http_allow_remote, &r->http_addr, msg, sizeof(msg))) {
		fprintf(stderr, PROG_NAME ": --http %s\n", msg);
		return -1;
	}
	return 0;
}

/*
 * The API's socket, bound in the namespace faultline was started in
 * (before --netns is entered), where the test runner is. 0 or -1 (reported).
 */
static int http_bind(struct cli_run *r)
{
	int ret;

	if (!r->http_arg)
		return 0;
	r->http_fd = http_listen(&r->http_addr);
	if (r->http_fd < 0) {
		fprintf(stderr, PROG_NAME ": --http %s: cannot listen: %s\n", r->http_arg, strerror(-r->http_fd));
		return -1;
	}
	/* With port 0 the kernel chose one: the start line says which. */
	ret = http_bound_addr(r->http_fd, &r->http_addr);
	if (ret) {
		fprintf(stderr, PROG_NAME ": --http %s: %s\n", r->http_arg, strerror(-ret));
		return -1;
	}
	return 0;
}

/*
 * What needs every packet, not only those the rules can match, queues
 * them all (README: "What leaves the kernel"): the records of what
 * happened, and a scenario's conditions, which watch the tracker's
 * connections and the counters.
 */
static void queue_scope(struct cli_run *r)
{
	if (r->cfg.queue_all)
		return;
	if (r->events_path)
		r->cfg.queue_all = "--events records every packet";
	else if (r->cfg.pcap_path)
		r->cfg.queue_all = "--pcap records every packet";
	for (size_t i = 0; !r->cfg.queue_all && r->scenario && i < r->scenario->n; i++)
		if (r->scenario->steps[i].when != SCENARIO_AT)
			r->cfg.queue_all = "a scenario's 'on' and 'every' conditions watch every packet";
}

/*
 * wrap: the command after "--" (split: its index, -1 if none), and no
 * option that reaches beyond the command's own traffic. 0 or -1 (printed).
 */
static int wrap_command(struct cli_run *r, int argc, char **argv, int split)
{
	const char *no = r->container ? "--container" : r->cfg.forward ? "--forward" :
			 r->toxi_arg ? "--toxiproxy-api" : NULL;

	if (no) {
		fprintf(stderr, PROG_NAME ": wrap: %s does not apply: only the command's own traffic is faulted\n", no);
		return -1;
	}
	if (split < 0 || split + 1 == argc) {
		fprintf(stderr, PROG_NAME ": wrap: which command? (wrap [OPTIONS] -- COMMAND [ARGS])\n");
		return -1;
	}
	r->wrap_argv = argv + split + 1;
	return 0;
}

/* 0, -1 after a usage error (printed), 1 after --help. wrap: run's options, "--", a command. */
static int parse_run(int argc, char **argv, struct cli_run *r, bool wrap)
{
	const struct shared_dst d = {
		.seed = &r->cfg.seed,
		.pcap_path = &r->cfg.pcap_path,
		.no_track = &r->cfg.no_track,
		.time_wait_ns = &r->cfg.time_wait_ns,
	};
	const char *cmd = wrap ? "wrap" : "run";
	int split = wrap ? args_split(argc, argv, 1) : -1, n = split < 0 ? argc : split;
	struct run_argv av = { .argc = n, .argv = argv };
	int ret;

	/* getopt sees the words before "--" only: the command's are its own. */
	ret = parse_options(n, argv, cmd, ":r:f:s:n:q:e:h", run_opts, r, &d, run_option, &av);
	if (ret)
		return ret;
	if (optind < n)
		return args_stray(cmd, argv[optind],
				  wrap ? "the command goes after --" :
				  access(argv[optind], F_OK) == 0 ? "a rule file needs -f" : NULL);
	if (wrap && wrap_command(r, argc, argv, split))
		return -1;
	if (!!r->netns + !!r->netns_path + !!r->container > 1) {
		fprintf(stderr, PROG_NAME ": --netns, --netns-path and --container exclude each other\n");
		return -1;
	}
	if (r->control_path && r->no_control) {
		fprintf(stderr, PROG_NAME ": --control and --no-control exclude each other\n");
		return -1;
	}
	/* A SCHED_FIFO thread spinning most of the time would starve its CPU's ordinary tasks. */
	if (r->cfg.realtime > 0 && r->cfg.release_cpu_ppm > PROXY_REALTIME_MAX_SPIN_PPM) {
		fprintf(stderr, PROG_NAME ": --realtime spins at most %u%% of a CPU (--release-cpu)\n",
			PROXY_REALTIME_MAX_SPIN_PPM / 10000);
		return -1;
	}
	if (!r->no_control && !r->control_path) {
		/* A container's run is reached as 'faultline ctl --netns NAME'. */
		ctlcmd_default_path(r->control_buf, sizeof(r->control_buf),
				    r->container ? r->container : r->netns, r->cfg.queue);
		r->control_path = r->control_buf;
	}
	/*
	 * Rules can change while it runs (the control socket, the API, a
	 * scenario, SIGHUP re-reading a rule file): the proxy keeps
	 * CAP_NET_RAW, if given, for the raw sockets a later rule may need.
	 */
	r->cfg.rules_may_change = !r->no_control || r->http_arg || r->scenario || r->toxi_arg ||
				  r->n_rule_files;
	/*
	 * A run that can be given rules later (the control socket, the HTTP
	 * API, a scenario) may start from none, as a toxiproxy user starts
	 * the server and adds toxics from the test; without any of them a
	 * run with no rules could only be a mistake.
	 */
	if (!rule_set_count(r->rules) && r->no_control && !r->http_arg && !r->scenario && !r->toxi_arg) {
		fprintf(stderr, PROG_NAME ": no rules: give --rule, --rules or --scenario, or leave the control socket on\n");
		return -1;
	}
	if (check_http(r))
		return -1;
	queue_scope(r);
	return check_outputs(r, (const char *const[]){ "--events", "--pcap" },
			     (const char *const[]){ r->events_path, r->cfg.pcap_path }, 2);
}

/* Open --events ('-' is stdout): 0, or -1 with the failure reported. */
static int open_events(const char *path, FILE **f)
{
	/* A run that follows a restarted container goes on with the same log. */
	*f = strcmp(path, "-") ? fopen(path, getenv("FAULTLINE_ATTACH") ? "a" : "w") : stdout;
	if (!*f) {
		fprintf(stderr, PROG_NAME ": %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* --container NAME: its process and namespace path, from its engine. 0 or -1 (reported). */
static int find_container(struct cli_run *r)
{
	char engine[16];
	pid_t pid = container_pid(r->container, engine, sizeof(engine));

	if (pid < 0) {
		fprintf(stderr, PROG_NAME ": --container %s: %s\n", r->container,
			pid == -ENOENT ? "no such container (asked docker and podman)" :
			pid == -ESRCH ? "the container is not running" :
			pid == -ENOEXEC ? "neither docker nor podman is on PATH" : strerror(-pid));
		return -1;
	}
	r->container_pid = pid;
	snprintf(r->container_ns, sizeof(r->container_ns), "/proc/%d/ns/net", (int)pid);
	r->netns_path = r->container_ns;
	/* Following it needs setns and /proc/PID/ns/net again after a restart: see drop_privileges. */
	r->cfg.reenter = true;
	if (r->attach)
		fprintf(stderr, PROG_NAME ": container '%s' (%s) attached again (%u)\n", r->container, engine, r->attach);
	return 0;
}

/* The PID in a /proc/PID/ns/net path, or 0. */
static pid_t proc_path_pid(const char *path)
{
	int pid = 0, n = 0;

	if (path && sscanf(path, "/proc/%d/ns/net%n", &pid, &n) == 1 && path[n] == 0)
		return pid;
	return 0;
}

/* The namespace ended (follow.h): a "netns" event, stop, and say why in the exit status. */
static void on_follow_end(void *data, const struct follow_ended *e)
{
	struct cli_run *r = data;
	struct events_netns n = {
		.change = e->why == FOLLOW_RESTARTED ? "followed" : e->why == FOLLOW_REMOVED ? "removed" : "gone",
		.container = r->container,
		.from = e->from,
		.to = e->to,
		.pid = e->pid,
		.follows = r->attach + (e->why == FOLLOW_RESTARTED),
	};
	char *members = events_netns_members(&n);

	if (members)
		proxy_log_event(r->proxy, "netns", members);
	free(members);
	r->follow_end = e->why;
	proxy_stop(r->proxy);
}

/* Watch the namespace for its end: 0 or -errno. */
static int follow_namespace(struct cli_run *r, struct uv_loop_s *loop)
{
	struct follow_config fc = {
		.container = r->container,
		.netns_path = r->netns_path,
		.pid = r->container ? r->container_pid : proc_path_pid(r->netns_path),
		.sidecar = !r->netns && !r->netns_path &&
			   (access("/.dockerenv", F_OK) == 0 || access("/run/.containerenv", F_OK) == 0),
		.end = on_follow_end,
		.data = r,
	};

	r->follow = follow_start(loop, &fc);
	return r->follow || !errno ? 0 : -errno;
}

/* What wrap_sweep did with a killed wrap run's cgroup: said unless it went quietly. */
static void on_wrap_swept(void *data, const char *path, int result, long left)
{
	bool *failed = data;

	if (!result)
		fprintf(stderr, PROG_NAME ": removed %s (a killed wrap run's cgroup)\n", path);
	else if (result == -EBUSY)
		fprintf(stderr, PROG_NAME ": kept %s: %ld process%s of its wrapped command still run%s in it\n",
			path, left, left == 1 ? "" : "es", left == 1 ? "s" : "");
	else if (result != -EALREADY) {
		fprintf(stderr, PROG_NAME ": cannot remove %s: %s\n", path, strerror(-result));
		*failed = true;
	}
}

/* Remove the cgroups killed wrap runs left: 0, or -1 when one could not go (said). */
static int sweep_wrap_cgroups(void)
{
	bool failed = false;
	int n = wrap_sweep(on_wrap_swept, &failed);

	if (n < 0) {
		fprintf(stderr, PROG_NAME ": cannot look for the cgroups of wrap runs: %s\n", strerror(-n));
		return -1;
	}
	return failed ? -1 : 0;
}

/* wrap: what a wrap_* call reported, in words. */
static void say_wrap_error(const struct wrap_error *e)
{
	const char *hint = "";

	switch (e->step) {
	case WRAP_STEP_MOUNT:
		if (e->err == -ENOENT)
			/* ip netns exec mounts a sysfs of its own over /sys, and the cgroup mounts go with it. */
			fprintf(stderr, PROG_NAME ": wrap: no cgroup2 file system is mounted here "
				"(inside 'ip netns exec' /sys is remounted: use wrap --netns NAME)\n");
		else
			fprintf(stderr, PROG_NAME ": wrap: %s: %s\n", e->path, strerror(-e->err));
		return;
	case WRAP_STEP_MKDIR:
		if (e->err == -EROFS || e->err == -EACCES || e->err == -EPERM)
			hint = " (needs root and a writable cgroup2 file system)";
		fprintf(stderr, PROG_NAME ": wrap: cannot make the cgroup %s: %s%s\n", e->path,
			strerror(-e->err), hint);
		return;
	case WRAP_STEP_FORK:
		fprintf(stderr, PROG_NAME ": wrap: cannot start the command: %s\n", strerror(-e->err));
		return;
	case WRAP_STEP_JOIN:
		fprintf(stderr, PROG_NAME ": wrap: the command cannot enter its cgroup (%s): %s\n", e->path,
			strerror(-e->err));
		return;
	case WRAP_STEP_EXEC:
		fprintf(stderr, PROG_NAME ": wrap: cannot run '%s': %s\n", e->path, strerror(-e->err));
		return;
	}
}

/*
 * wrap: the cgroups of killed wrap runs go (the stale chains naming them
 * are removed by this run's install, as ever), then the command's child
 * is made in a new one, where it waits until the rules are in. 0 or -1
 * (reported).
 */
static int wrap_prepare(struct cli_run *r)
{
	struct wrap_error e;

	sweep_wrap_cgroups();
	r->wrap = wrap_new(r->wrap_argv, &e);
	if (!r->wrap) {
		say_wrap_error(&e);
		return -1;
	}
	r->cfg.cgroup = wrap_xt_path(r->wrap);
	return 0;
}

/*
 * The iptables backend of the run, from the namespace's rules (or
 * --iptables-backend), now: the toxiproxy API's nat chains follow it too.
 * 0 or -1 (reported).
 */
static int choose_backend(struct cli_run *r)
{
	struct ipt_choice c;
	struct ipt_error e;
	char err[ERR_LEN];

	if (ipt_backend_choose(r->cfg.ipt_backend, &c, &e)) {
		msg_ipt(&e, err, sizeof(err));
		/* The first step that needs the privilege: say which one is missing. */
		fprintf(stderr, PROG_NAME ": %s%s\n", err,
			priv_has(CAP_NET_ADMIN) ? "" : " (needs root or CAP_NET_ADMIN)");
		return -1;
	}
	r->cfg.ipt_backend = c.backend;
	return 0;
}

/* Enter the namespace, check for iptables, open the event log: 0 or -1 (reported). */
static int run_prepare(struct cli_run *r, FILE **events)
{
	if (http_bind(r))
		return -1;
	if (r->toxi_arg) {
		bool usage;

		r->toxi = toxirun_bind(r->toxi_arg, r->http_allow_remote, &usage);
		if (!r->toxi)
			return -1;
	}
	if (r->container && find_container(r))
		return -1;
	if ((r->netns || r->netns_path) && enter_netns(r->netns, r->netns_path))
		return -1;
	/* The child is forked here: in the namespace, before faultline opens its outputs. */
	if (r->wrap_argv && wrap_prepare(r))
		return -1;
	if (!ipt_available()) {
		fprintf(stderr, PROG_NAME ": iptables-restore not found: install iptables\n");
		return -1;
	}
	if (choose_backend(r))
		return -1;
	if (r->events_path) {
		if (open_events(r->events_path, events))
			return -1;
		setvbuf(*events, NULL, _IOLBF, 0);
		r->cfg.events = *events;
	}
	r->cfg.output_error = on_output_error;
	return 0;
}

/* The control layer says something for faultline's own stderr (a failed reload). */
static void on_ctl_log(void *data, const char *msg)
{
	(void)data;
	fprintf(stderr, PROG_NAME ": %s\n", msg);
}

/* A SIGHUP's reload went through (a failure was said by on_ctl_log). */
static void on_hup_reply(void *data, const struct ctl_reply *rep, bool last)
{
	json_t *rules = json_object_get(rep->body, "rules");

	(void)data;
	if (rep->status == CTL_STATUS_OK)
		fprintf(stderr, PROG_NAME ": SIGHUP: rules reloaded (%zu rules)\n", json_array_size(rules));
}

/* --progress: one line of the counters on stderr, which scripts leave alone. */
static void on_progress_tick(void *data)
{
	struct cli_run *r = data;
	char *json = proxy_stats_json(r->proxy);
	char line[1024];

	if (json && !progress_run_line(json, line, sizeof(line)))
		fprintf(stderr, PROG_NAME ": progress: %s\n", line);
	free(json);
}

/* The wrapped command ended: so does the run, and faultline passes its status on. */
static void on_wrap_exit(void *data, int status)
{
	struct cli_run *r = data;

	r->wrap_status = status;
	proxy_stop(r->proxy);
}

/*
 * The rules are in and every handle is up (the command may use the
 * control socket or the API at once): the command runs. A failed exec is
 * said here; the child's exit (126, 127) ends the run as any exit does.
 */
static int wrap_start_command(struct cli_run *r, struct uv_loop_s *loop)
{
	struct wrap_error e;
	int ret = wrap_start(r->wrap, loop, on_wrap_exit, r);

	if (ret) {
		fprintf(stderr, PROG_NAME ": wrap: cannot watch the command: %s\n", strerror(-ret));
		return ret;
	}
	if (wrap_go(r->wrap, &e))
		say_wrap_error(&e);
	return 0;
}

static int hook_start(void *data, struct uv_loop_s *loop)
{
	struct cli_run *r = data;
	char addr[80];
	int ret;

	if (r->progress_s) {
		r->tick = tick_start(loop, (uint64_t)r->progress_s * 1000, on_progress_tick, r);
		if (!r->tick)
			return -errno;
	}
	ret = follow_namespace(r, loop);
	if (ret)
		return ret;
	ret = r->sock ? ctl_sock_start(r->sock, loop, r->ctl) : 0;
	if (!ret && r->http) {
		ret = http_start(r->http);
		http_addr_format(&r->http_addr, addr, sizeof(addr));
		if (ret)
			fprintf(stderr, PROG_NAME ": --http %s: cannot serve: %s\n", addr, strerror(-ret));
		else
			fprintf(stderr, PROG_NAME ": HTTP API at http://%s/\n", addr);
	}
	if (!ret && r->toxi)
		ret = toxirun_start(r->toxi);
	/* The scenario's clock starts with the run. */
	if (!ret && r->play)
		ret = play_start(r->play);
	return ret ? ret : r->wrap ? wrap_start_command(r, loop) : 0;
}

static void hook_stop(void *data)
{
	struct cli_run *r = data;

	/* The API's waiting clients are let go first: their calls end without a reply. */
	http_stop(r->http);
	toxirun_stop(r->toxi);
	follow_stop(r->follow);
	r->follow = NULL;
	play_stop(r->play);
	tick_stop(r->tick);
	r->tick = NULL;
	ctl_stop(r->ctl);
	ctl_sock_stop(r->sock);
	wrap_stop(r->wrap);
}

/* SIGINT or SIGTERM: the wrapped command gets it too, once the rules are out. */
static void hook_term(void *data, int signum)
{
	struct cli_run *r = data;

	r->stop_signal = signum;
}

static void hook_hup(void *data)
{
	struct cli_run *r = data;
	struct ctl_req req = { .op = CTL_OP_RELOAD };

	ctl_exec(r->ctl, &req, on_hup_reply, r);
}

/*
 * Every reader of the counters sees the earlier runs' added (carry.h); if
 * that fails (memory), this run's own rather than none.
 */
static char *hook_stats(void *data, const char *json)
{
	struct cli_run *r = data;
	char *out = carry_add(r->carry, json);

	return out ? out : strdup(json);
}

/* The HTTP API's server over the executor, on the proxy's loop: 0 or -1 (reported). */
static int run_http(struct cli_run *r, struct uv_loop_s *loop)
{
	struct http_config hc = {
		.fd = r->http_fd,
		.timeout_s = (unsigned)((r->http_timeout_ns + 999999999ull) / 1000000000ull),
		.handler = api_handle,
	};

	r->http_fd = -1;	/* the server's from here, whatever happens */
	r->api = api_new(r->ctl);
	if (r->api) {
		hc.data = r->api;
		r->http = http_new(loop, &hc);
	} else {
		close(hc.fd);
	}
	if (!r->http) {
		fprintf(stderr, PROG_NAME ": --http: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * The control layer over proxy p: the executor (SIGHUP reloads through
 * it), and the socket unless --no-control. Opened once the queue is
 * bound, so that a run without the privileges fails on those first. 0 or
 * -1 (reported).
 */
/* A scenario step for the event log and the stream. */
static void play_log(void *data, uint64_t since_ns, const char *members)
{
	proxy_log_change(data, since_ns, "scenario", members);
}

/* The scenario's end step: as SIGTERM. */
static void play_end(void *data)
{
	proxy_stop(data);
}

static void play_say(void *data, const char *msg)
{
	(void)data;
	fprintf(stderr, PROG_NAME ": %s\n", msg);
}

/* The player of --scenario over the executor; it takes the scenario. 0 or -1 (reported). */
static int run_scenario(struct cli_run *r, struct proxy *p)
{
	struct play_config pc = {
		.ctl = r->ctl,
		.target = ctl_proxy_target(p),
		.loop = proxy_loop(p),
		.log_event = play_log,
		.end = play_end,
		.say = play_say,
		.data = p,
	};

	if (!r->scenario)
		return 0;
	r->play = play_new(r->scenario, &pc);
	r->scenario = NULL;
	if (!r->play) {
		fprintf(stderr, PROG_NAME ": %s: %s\n", r->scenario_path, strerror(errno));
		return -1;
	}
	return 0;
}

static int run_control(struct cli_run *r, struct proxy *p)
{
	struct ctl_config cc = {
		.target = ctl_proxy_target(p),
		.loop = proxy_loop(p),
		.sources = r->sources,
		.n_sources = r->n_sources,
		.log = on_ctl_log,
		.log_data = r,
	};
	struct proxy_hooks h = { .start = hook_start, .stop = hook_stop, .hup = hook_hup, .term = hook_term,
				 .stats = r->carry ? hook_stats : NULL, .data = r };
	struct ctl_sock_error se;
	struct ctl_error ce;

	r->ctl = ctl_new(&cc, &ce);
	if (!r->ctl) {
		fprintf(stderr, PROG_NAME ": the rules changed while starting: %s\n", ce.msg);
		return -1;
	}
	if (r->sock) {
		if (ctl_sock_listen(r->sock, r->control_path, &se)) {
			fprintf(stderr, PROG_NAME ": control socket: %s%s\n", se.msg,
				r->control_path == r->control_buf ? " (--control PATH elsewhere, or --no-control)" : "");
			return -1;
		}
	}
	if (r->http_fd >= 0 && run_http(r, proxy_loop(p)))
		return -1;
	if (r->toxi && toxirun_open(r->toxi, proxy_loop(p), r->ctl, r->cfg.queue, r->cfg.ipt_backend,
				    r->cfg.mark ? r->cfg.mark : PROXY_DEFAULT_MARK, (unsigned)((r->http_timeout_ns + 999999999ull) / 1000000000ull)))
		return -1;
	if (run_scenario(r, p))
		return -1;
	proxy_set_hooks(p, &h);
	return 0;
}

/*
 * Start the proxy and run it until a signal: 0, or -1 after a failure
 * (reported). The rules are the proxy's from here, whatever happens.
 */
static int run_proxy(struct cli_run *r, struct proxy **p)
{
	struct proxy_error pe;
	char err[ERR_LEN];
	int ret = -1;

	r->n_rules = rule_set_count(r->rules);
	*p = proxy_new(&r->cfg, r->rules, on_report, r, &pe);
	r->rules = NULL;	/* taken by proxy_new, freed with the proxy */
	if (!*p)
		goto failed;
	r->proxy = *p;
	if (run_control(r, *p))
		return -1;
	ret = proxy_run(*p, &pe) ? -1 : 0;
	if (!ret)
		return 0;
failed:
	r->chain_left = pe.step == PROXY_STEP_IPT_REMOVE;
	msg_proxy(&pe, &r->cfg, err, sizeof(err));
	fprintf(stderr, PROG_NAME ": %s\n", err);
	return -1;
}

/* Output lost on the way (event lines, capture records, verdicts): 1 if any (reported), else 0. */
static int run_losses(const struct cli_run *r, struct proxy *p, bool events)
{
	uint64_t lost;
	int werr, ret = 0;

	/* Lost event lines are lost output, as a failed write is: said, and the exit says it. */
	if (events && (lost = proxy_events_dropped(p, &werr))) {
		fprintf(stderr, PROG_NAME ": %s: %llu event lines not written (\"events_dropped\"): %s\n",
			strcmp(r->events_path, "-") ? r->events_path : "standard output", (unsigned long long)lost,
			werr ? strerror(-werr) : "the reader fell behind by more than --events-backlog bytes");
		ret = 1;
	}
	/* As for the event log: lost packets in the capture are lost output. */
	if (r->cfg.pcap_path && (lost = proxy_pcap_dropped(p, &werr))) {
		fprintf(stderr, PROG_NAME ": %s: %llu packet records not written (\"pcap_dropped\"): %s\n",
			r->cfg.pcap_path, (unsigned long long)lost,
			werr ? strerror(-werr) : "the reader fell behind by more than --pcap-backlog bytes");
		ret = 1;
	}
	if (proxy_verdict_errors(p)) {
		fprintf(stderr, PROG_NAME ": %llu verdicts did not reach the kernel or were refused by it "
			"(verdict_errors): their packets may be lost\n",
			(unsigned long long)proxy_verdict_errors(p));
		ret = 1;
	}
	return ret;
}

/*
 * FL_RULE_INDEX=0 turns the rule index off: every rule's filter runs for
 * every packet, as before the index. A testing aid (tests/integration
 * 118 compares the verdicts both ways); the verdicts are the same.
 */
static bool rule_index_off(void)
{
	const char *s = getenv("FL_RULE_INDEX");

	return s && !strcmp(s, "0");
}

/*
 * The counters so far (json, borrowed; NULL: none) for the run that
 * follows, in a memory file it inherits across exec (FAULTLINE_CARRY_FD):
 * the environment is too small for a large rule set's counters. Without
 * it the next run counts from 0, and says so.
 */
static void carry_pass(const char *json)
{
	int fd = json ? memfd_create("faultline-counters", 0) : -1;
	size_t len = json ? strlen(json) : 0, off = 0;
	char s[16];

	unsetenv("FAULTLINE_CARRY_FD");
	while (fd >= 0 && off < len) {
		ssize_t w = write(fd, json + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			close(fd);
			fd = -1;
			break;
		}
		off += (size_t)w;
	}
	if (fd < 0) {
		fprintf(stderr, PROG_NAME ": cannot keep the counters for the new namespace: %s; they start "
			"from 0 there\n", json ? strerror(errno) : "none were reported");
		return;
	}
	snprintf(s, sizeof(s), "%d", fd);
	setenv("FAULTLINE_CARRY_FD", s, 1);
}

/*
 * A run that follows a restarted container: the counters of the runs
 * before it (carry_pass), and their seed unless --seed says one. 0, or -1
 * (reported; the run goes on counting from 0 then).
 */
static int carry_take(struct cli_run *r)
{
	const char *s = getenv("FAULTLINE_CARRY_FD");
	char *text = NULL;
	size_t size = 0;
	FILE *f;
	int fd;

	if (!s)
		return 0;
	fd = (int)strtol(s, NULL, 10);
	unsetenv("FAULTLINE_CARRY_FD");
	f = fd > 2 ? fdopen(fd, "r") : NULL;
	if (!f && fd > 2)
		close(fd);
	if (f) {
		FILE *m = open_memstream(&text, &size);
		char buf[4096];
		size_t n;

		rewind(f);
		while (m && (n = fread(buf, 1, sizeof(buf), f)) > 0)
			fwrite(buf, 1, n, m);
		if (m)
			fclose(m);
		fclose(f);
	}
	r->carry = text ? carry_new(text) : NULL;
	free(text);
	if (!r->carry) {
		fprintf(stderr, PROG_NAME ": the counters of the earlier namespace could not be read: this run "
			"counts from 0\n");
		return -1;
	}
	if (!r->have_seed && !carry_seed(r->carry, &r->cfg.seed))
		r->have_seed = true;
	return 0;
}

/*
 * The container restarted: this run has stopped (packets released, chain
 * gone with the old namespace) and faultline starts over as itself, with the
 * same arguments, in the new one. A new process, because the queue's socket
 * and the reader thread belong to the namespace they were made in.
 */
static int follow_again(unsigned attach, char *final_json, int argc, char **argv)
{
	char **args = calloc((size_t)argc + 2, sizeof(*args));
	char n[16];

	if (!args) {
		fprintf(stderr, PROG_NAME ": out of memory\n");
		return 1;
	}
	args[0] = PROG_NAME;
	memcpy(args + 1, argv, (size_t)argc * sizeof(*args));
	snprintf(n, sizeof(n), "%u", attach + 1);
	setenv("FAULTLINE_ATTACH", n, 1);
	carry_pass(final_json);
	free(final_json);
	fflush(NULL);
	execv("/proc/self/exe", args);
	fprintf(stderr, PROG_NAME ": cannot start again in the container's new namespace: %s\n", strerror(errno));
	free(args);
	return FOLLOW_GONE;
}

/*
 * wrap, the run over: the command ends (one still running gets the
 * signal that stopped the run, SIGTERM if none did, and is waited for),
 * then its cgroup goes, unless processes it left run there or the chain
 * that names it stayed. The command's status, or -1 (reported).
 */
static int wrap_finish(struct cli_run *r)
{
	int status = wrap_end(r->wrap, r->stop_signal ? r->stop_signal : SIGTERM), left;
	int ret = r->chain_left ? 0 : wrap_remove(r->wrap, &left);

	if (ret == -EBUSY)
		fprintf(stderr, PROG_NAME ": wrap: %d process%s started by '%s' still run%s in %s: it stays "
			"until they end ('" PROG_NAME " cleanup' removes it then)\n", left, left == 1 ? "" : "es",
			r->wrap_argv[0], left == 1 ? "s" : "", wrap_dir(r->wrap));
	else if (ret)
		fprintf(stderr, PROG_NAME ": wrap: cannot remove %s: %s\n", wrap_dir(r->wrap), strerror(-ret));
	else if (r->chain_left)
		fprintf(stderr, PROG_NAME ": wrap: %s stays with the chain that names it ('" PROG_NAME
			" cleanup' removes both)\n", wrap_dir(r->wrap));
	if (status < 0)
		fprintf(stderr, PROG_NAME ": wrap: cannot wait for '%s': %s\n", r->wrap_argv[0], strerror(-status));
	wrap_free(r->wrap);
	r->wrap = NULL;
	return status;
}

/*
 * wrap's exit status from run's (0 fine, 1 failed, 2 usage, 4 and up:
 * the namespace ended) and the command's: the command's when faultline
 * did all it should, else 125, and the command's said on stderr.
 */
static int wrap_exit(const struct cli_run *r, int ret, bool help)
{
	if (help)
		return 0;
	if (!ret && r->wrap_status >= 0)
		return r->wrap_status;
	if (r->wrap_status >= 0)
		fprintf(stderr, PROG_NAME ": wrap: '%s' exited with %d; faultline failed (see above): exit %d\n",
			r->wrap_argv[0], r->wrap_status, WRAP_EXIT_FAILED);
	return WRAP_EXIT_FAILED;
}

static int run_main(int argc, char **argv, bool wrap)
{
	struct cli_run r;
	struct proxy *p = NULL;
	FILE *events = NULL;
	bool help = false;
	char *final_json = NULL;
	int ret = 2;

	if (cli_run_init(&r, argc)) {
		ret = 1;	/* out of memory, not a usage error */
		goto out;
	}
	r.cfg.queue = PROXY_DEFAULT_QUEUE;
	/* '@NAME' (a container's addresses) is looked up whenever the rules are read. */
	rule_set_names(r.rules, container_names, NULL);
	/* Every rule and usage error is reported before anything touches the system. */
	ret = parse_run(argc, argv, &r, wrap);
	if (ret) {
		help = ret > 0;
		ret = help ? 0 : 2;	/* 1: --help was printed */
		goto out;
	}
	ret = 1;
	r.cfg.rule_scan_all = rule_index_off();
	if (getenv("FAULTLINE_ATTACH"))
		r.attach = (unsigned)strtoul(getenv("FAULTLINE_ATTACH"), NULL, 10);
	r.cfg.netns_follows = r.attach;
	carry_take(&r);
	if (!r.have_seed)
		r.cfg.seed = pick_seed();
	/*
	 * The control socket is made before entering --netns: it listens in
	 * the namespace faultline was started in, where its clients are.
	 */
	if (r.control_path && !(r.sock = ctl_sock_new())) {
		fprintf(stderr, PROG_NAME ": control socket: %s\n", strerror(errno));
		goto out;
	}
	if (run_prepare(&r, &events) || run_proxy(&r, &p))
		goto out;
	ret = run_losses(&r, p, events != NULL);
	if (r.follow_end && r.follow_end != FOLLOW_RESTARTED)
		ret = r.follow_end;
out:
	/* The proxies' forwarding goes with the run, whichever way it ended. */
	if (toxirun_finish(r.toxi) && ret != 2)
		ret = 1;
	if (r.wrap)
		r.wrap_status = wrap_finish(&r);
	/* The loop ran the socket's close callbacks: it and the executor go before the proxy. */
	ctl_sock_free(r.sock);
	play_free(r.play);
	http_free(r.http);
	toxirun_free(r.toxi);
	api_free(r.api);
	ctl_free(r.ctl);
	proxy_free(p);
	/* The counters so far go on to the next run (follow_again), not with this one. */
	final_json = r.final_json;
	r.final_json = NULL;
	cli_run_close(&r);
	/* The proxy flushed the log; a failure it told us of is not said twice. */
	if (events && close_written(events, out_name(r.events_path), r.events_failed))
		r.write_failed = true;
	if (r.write_failed && !ret) {
		fprintf(stderr, PROG_NAME ": packets were forwarded, but not every output was written "
			"(see above)\n");
		ret = 1;
	}
	if (r.follow_end == FOLLOW_RESTARTED)
		return follow_again(r.attach, final_json, argc, argv);
	free(final_json);
	return wrap ? wrap_exit(&r, ret, help) : ret;
}

/*
 * A run writes to peers that may go at any moment: a control client that
 * streams events and is killed, a toxiproxy client that resets. With
 * SIGPIPE at its default, the next write to such a peer on the loop
 * thread ended faultline there and then (exit 141: rules left installed,
 * held packets lost); ignored, it is an EPIPE that the writer handles.
 * The programs a run starts get SIGPIPE back at its default (ipt.c,
 * wrap.c, container.c).
 */
static int cmd_run(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	return run_main(argc, argv, false);
}

static int cmd_wrap(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	return run_main(argc, argv, true);
}

/*
 * What each profile of rule r expands to, as a comment under it, so the
 * output still loads as a rule file.
 */
static void check_print_profiles(const struct rule *r)
{
	for (unsigned a = 0; a < r->n_actions; a++) {
		const struct rule_profile *p;
		char buf[512];
		struct strbuf_fixed o = { .buf = buf, .size = sizeof(buf) };

		if (r->actions[a].type != RULE_ACT_PROFILE)
			continue;
		p = rule_profile_get(r->actions[a].u.profile.id);
		if (!p)
			continue;
		rule_profile_expand(&o, r->actions[a].u.profile.id);
		printf("#   profile %s = %s (%s)\n", p->name, buf, p->source);
	}
}

static int cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rule", required_argument, NULL, 'r' },
		{ "rules", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct cli_run r;
	int c, ret = 2;

	if (cli_run_init(&r, argc)) {
		ret = 1;	/* out of memory, not a usage error */
		goto out;
	}
	/*
	 * '-' first: a FILE argument comes back as option 1 in its place, so
	 * rules keep the order of the command line, as nft -c -f reads files.
	 */
	while ((c = getopt_long(argc, argv, "-:r:f:h", opts, NULL)) != -1) {
		if (c == '?' || c == ':') {
			args_getopt_error("check", c, argv, opts);
			goto out;
		}
		if (c == 'h') {
			usage_print(stdout);
			ret = 0;
			goto out;
		}
		if (c == 1 && access(optarg, F_OK) && strstr(optarg, "=>")) {
			fprintf(stderr, PROG_NAME ": check: '%s' is no file; a rule line needs --rule\n",
				optarg);
			goto out;
		}
		if (rule_option(&r, c == 1 ? 'f' : c, optarg) < 0)
			goto out;
	}
	if (!r.n_rule_args && !r.n_rule_files) {
		fprintf(stderr, PROG_NAME ": check: nothing to check: give FILE, --rule or --rules\n");
		goto out;
	}
	if (!rule_set_count(r.rules)) {
		fprintf(stderr, PROG_NAME ": check: no rules (only blank lines and comments)\n");
		goto out;
	}
	ret = 1;
	for (size_t i = 0; i < rule_set_count(r.rules); i++) {
		/* Whole, however long: a cut line would drop the rule's actions. */
		char *text = rule_print_alloc(rule_set_get(r.rules, i));

		if (!text) {
			fprintf(stderr, PROG_NAME ": check: out of memory\n");
			goto out;
		}
		printf("%s\n", text);
		free(text);
		check_print_profiles(rule_set_get(r.rules, i));
	}
	/* main() checks that stdout took it all. */
	ret = 0;
out:
	cli_run_close(&r);
	return ret;
}

/* What cleanup did with one control socket: told unless it was removed. */
static void on_swept(void *data, const char *path, int result)
{
	bool *failed = data;

	if (result == -EADDRINUSE)
		fprintf(stderr, PROG_NAME ": kept %s: a running faultline listens on it\n", path);
	else if (result == -EEXIST || result == -EPERM)
		fprintf(stderr, PROG_NAME ": kept %s: %s\n", path,
			result == -EEXIST ? "not a socket" : "another user's socket");
	else if (result) {
		fprintf(stderr, PROG_NAME ": cleanup: %s: %s\n", path, strerror(-result));
		*failed = true;
	}
}

/*
 * Remove the control sockets that runs in namespace ns (NULL: the host's)
 * killed with SIGKILL left at their default paths. 0, or -1 when one
 * could not be removed or the directory not read (said on stderr).
 */
static int sweep_sockets(const char *ns)
{
	bool failed = false;
	int n = ctl_sock_sweep(CTL_SOCK_DIR, ns, on_swept, &failed);

	if (n < 0) {
		fprintf(stderr, PROG_NAME ": cleanup: %s: %s\n", CTL_SOCK_DIR, strerror(-n));
		return -1;
	}
	fprintf(stderr, PROG_NAME ": removed %d stale control socket%s\n", n, n == 1 ? "" : "s");
	return failed ? -1 : 0;
}

/* "removed N chains (nf_tables: A, legacy: B)", naming the backends that had any. */
static void say_removed(const int removed[static 3])
{
	int n = removed[IPT_BACKEND_NFT] + removed[IPT_BACKEND_LEGACY];

	fprintf(stderr, PROG_NAME ": removed %d chain%s", n, n == 1 ? "" : "s");
	if (removed[IPT_BACKEND_NFT] && removed[IPT_BACKEND_LEGACY])
		fprintf(stderr, " (nf_tables: %d, legacy: %d)", removed[IPT_BACKEND_NFT],
			removed[IPT_BACKEND_LEGACY]);
	else if (n)
		fprintf(stderr, " (%s)", removed[IPT_BACKEND_NFT] ? "nf_tables" : "legacy");
	fprintf(stderr, "\n");
}

static int cmd_cleanup(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "netns", required_argument, NULL, 'n' },
		{ "netns-path", required_argument, NULL, OPT_NETNS_PATH },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *ns = NULL, *path = NULL;
	bool seen[OPT_SEEN_MAX] = { false };
	struct ipt_error e;
	char err[ERR_LEN];
	int c, removed[3];

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":n:h", opts, NULL)) != -1) {
		if (c == '?' || c == ':') {
			args_getopt_error("cleanup", c, argv, opts);
			return 2;
		}
		if (once(opts, c, seen))
			return 2;
		if (c == 'n') {
			if (check_netns_name("--netns", optarg))
				return 2;
			ns = optarg;
		} else if (c == OPT_NETNS_PATH) {
			if (args_value("--netns-path", optarg))
				return 2;
			path = optarg;
		} else if (c == 'h') {
			usage_print(stdout);
			return 0;
		}
	}
	/* 'cleanup NAME' is 'cleanup --netns NAME', as 'ip netns exec NAME' reads. */
	if (optind < argc) {
		if (ns || path) {
			fprintf(stderr, PROG_NAME ": cleanup: namespace '%s' given besides %s\n",
				argv[optind], ns ? "--netns" : "--netns-path");
			return 2;
		}
		if (optind + 1 < argc) {
			args_stray("cleanup", argv[optind + 1], "one namespace at a time");
			return 2;
		}
		if (check_netns_name("cleanup", argv[optind]))
			return 2;
		ns = argv[optind];
	}
	if (ns && path) {
		fprintf(stderr, PROG_NAME ": --netns and --netns-path exclude each other\n");
		return 2;
	}
	if ((ns || path) && enter_netns(ns, path))
		return 1;
	c = ipt_cleanup(removed, &e);
	/* -EBUSY: the stale chains went, a running faultline's stay. */
	if (!c || c == -EBUSY)
		say_removed(removed);
	if (c) {
		msg_ipt(&e, err, sizeof(err));
		fprintf(stderr, PROG_NAME ": cleanup: %s\n", err[0] ? err : "iptables failed");
	}
	if (!c || c == -EBUSY) {
		/*
		 * The toxiproxy API's nat chains of a killed run, and
		 * route_localnet as it was. Its own error record: the one
		 * above says whose chains were kept.
		 */
		struct ipt_error ne = { 0 };
		int nat_removed, n = nat_cleanup(&nat_removed, &ne);

		if (nat_removed)
			fprintf(stderr, PROG_NAME ": removed the nat chains of %d toxiproxy API run%s\n",
				nat_removed, nat_removed == 1 ? "" : "s");
		if (n && n != -ENOENT) {
			msg_ipt(&ne, err, sizeof(err));
			fprintf(stderr, PROG_NAME ": cleanup: %s\n", err[0] ? err : "iptables (nat) failed");
			c = n;
		}
	}
	/*
	 * The cgroups of killed wrap runs are the host's too; only once the
	 * chains went, which may name them (legacy iptables refuses every
	 * change while a rule names a removed cgroup).
	 */
	if ((!c || c == -EBUSY) && sweep_wrap_cgroups())
		c = -EIO;
	/* The control sockets are files on the host, whatever namespace was entered. */
	if (sweep_sockets(ns))
		return 1;
	return c ? 1 : 0;
}

#define MAX_LOCALS 32

static const struct option replay_opts[] = {
	{ "rule", required_argument, NULL, 'r' },
	{ "rules", required_argument, NULL, 'f' },
	{ "seed", required_argument, NULL, 's' },
	{ "events", required_argument, NULL, 'e' },
	{ "out", required_argument, NULL, 'o' },
	{ "local", required_argument, NULL, 'l' },
	{ "no-track", no_argument, NULL, OPT_NO_TRACK },
	{ "time-wait", required_argument, NULL, OPT_TIME_WAIT },
	{ "pcap", required_argument, NULL, OPT_PCAP },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

/* A replay's configuration and the networks its --local options name. */
struct replay_args {
	struct replay_config rc;
	struct replay_local locals[MAX_LOCALS];
};

/* replay's own options beyond those it shares with run. */
static int replay_option(struct cli_run *r, void *data, int c, const char *arg)
{
	struct replay_args *a = data;

	(void)r;
	switch (c) {
	case 'o':
		if (args_value("--out", arg))
			return -1;
		a->rc.out_path = arg;
		return 1;
	case 'l':
		if (a->rc.n_locals == MAX_LOCALS) {
			fprintf(stderr, PROG_NAME ": --local '%s': at most %d networks\n", arg, MAX_LOCALS);
			return -1;
		}
		if (replay_parse_local(arg, &a->locals[a->rc.n_locals])) {
			fprintf(stderr, PROG_NAME ": --local '%s': not an address or network (10.0.0.2, fd00::/64)\n",
				arg);
			return -1;
		}
		a->rc.n_locals++;
		return 1;
	}
	return -1;
}

/* An output opened over the capture or a rule file would destroy it: 0 or -1 (reported). */
static int replay_outputs_ok(const struct cli_run *r, const struct replay_config *rc)
{
	const char *const names[] = { "--out", "--events", "--pcap" };
	const char *const paths[] = { rc->out_path, r->events_path, rc->pcap_path };

	for (size_t i = 0; i < 3; i++) {
		if (args_same_file(names[i], paths[i], "capture", rc->in_path))
			return -1;
	}
	return check_outputs(r, names, paths, 3);
}

/* 0, -1 after a usage error (printed), 1 after --help. */
static int parse_replay(int argc, char **argv, struct cli_run *r, struct replay_args *a)
{
	struct replay_config *rc = &a->rc;
	const struct shared_dst d = {
		.seed = &rc->seed,
		.pcap_path = &rc->pcap_path,
		.no_track = &rc->no_track,
		.time_wait_ns = &rc->time_wait_ns,
	};
	int ret;

	ret = parse_options(argc, argv, "replay", ":r:f:s:e:o:l:h", replay_opts, r, &d, replay_option, a);
	if (ret)
		return ret;
	if (optind == argc) {
		fprintf(stderr, PROG_NAME ": replay: which capture? (replay IN.pcap --rule ...)\n");
		return -1;
	}
	if (optind + 1 < argc)
		return args_stray("replay", argv[optind + 1], "one capture at a time");
	if (args_value("replay", argv[optind]))
		return -1;
	if (!rule_set_count(r->rules)) {
		fprintf(stderr, PROG_NAME ": no rules: give --rule or --rules\n");
		return -1;
	}
	rc->in_path = argv[optind];
	return replay_outputs_ok(r, rc);
}

static int cmd_replay(int argc, char **argv)
{
	struct replay_args a = { .rc = { .locals = a.locals } };
	struct replay_config *rc = &a.rc;
	struct replay_stats st = { 0 };
	struct replay_error re;
	struct progress_meter meter;
	struct cli_run r;
	FILE *events = NULL;
	char err[ERR_LEN], *json = NULL;
	int ret = 2;

	if (cli_run_init(&r, argc)) {
		ret = 1;	/* out of memory, not a usage error */
		goto out;
	}
	ret = parse_replay(argc, argv, &r, &a);
	if (ret) {
		ret = ret > 0 ? 0 : 2;	/* 1: --help was printed */
		goto out;
	}
	ret = 1;
	rc->rule_scan_all = rule_index_off();
	if (!r.have_seed) {
		rc->seed = pick_seed();
		fprintf(stderr, PROG_NAME ": seed %llu (rerun with --seed %llu)\n",
			(unsigned long long)rc->seed, (unsigned long long)rc->seed);
	}
	if (r.events_path) {
		if (open_events(r.events_path, &events))
			goto out;
		rc->events = events;
		rc->events_path = out_name(r.events_path);
	}
	/*
	 * Progress only where a person watches: stderr on a terminal, and
	 * not mixed into events written to that same terminal.
	 */
	if (isatty(STDERR_FILENO) && !(events == stdout && isatty(STDOUT_FILENO))) {
		progress_meter_init(&meter, stderr, rc->in_path);
		rc->progress = progress_replay;
		rc->progress_data = &meter;
		rc->progress_every = 1024;
	}
	ret = 0;
	if (replay_run(rc, r.rules, &st, &json, &re)) {
		msg_replay(&re, rc, &st, err, sizeof(err));
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
	if (events && close_written(events, out_name(r.events_path), st.events_err))
		ret = 1;
	cli_run_close(&r);
	return ret;
}

/*
 * The guided demo is a script (namespaces, traffic, conclusions); run it
 * from the source tree this binary was built from, with this build. Its
 * arguments are checked here, so that a mistake is one line before the
 * script builds or installs anything.
 */
static int cmd_demo(int argc, char **argv)
{
	static const char *const parts[] = {
		"udp", "reorder", "handshake", "teardown", "timewait", "retransmit", "all",
	};
	static const struct option opts[] = {
		{ "html", required_argument, NULL, OPT_HTML },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	char self[4096], dir[4096], script[4200], tool[4200];
	const char *part = NULL, *html = NULL;
	bool seen[OPT_SEEN_MAX] = { false };
	char *args[6] = { "bash", script };
	size_t na = 2;
	ssize_t n;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "-:h", opts, NULL)) != -1) {
		if (c == '?' || c == ':') {
			args_getopt_error("demo", c, argv, opts);
			return 2;
		}
		if (once(opts, c, seen))
			return 2;
		if (c == 'h') {
			usage_print(stdout);
			return 0;
		}
		if (c == OPT_HTML) {
			if (args_value("--html", optarg))
				return 2;
			html = optarg;
			continue;
		}
		if (part) {
			args_stray("demo", optarg, "one part at a time, or all");
			return 2;
		}
		for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]) && !part; i++) {
			if (!strcmp(optarg, parts[i]))
				part = parts[i];
		}
		if (!part) {
			fprintf(stderr, PROG_NAME ": demo: unknown part '%s' (udp, reorder, handshake, teardown, timewait, retransmit or all)\n",
				optarg);
			return 2;
		}
	}
	n = readlink("/proc/self/exe", self, sizeof(self));
	if (n <= 0 || (size_t)n >= sizeof(self) ||
	    (size_t)snprintf(script, sizeof(script), "%s/scripts/demo.sh", FL_SOURCE_DIR) >=
		    sizeof(script)) {
		fprintf(stderr, PROG_NAME ": demo: cannot find my own binary\n");
		return 1;
	}
	self[n] = 0;
	/* A binary installed apart from its source tree (the container image) has no demo. */
	if (access(script, R_OK)) {
		fprintf(stderr, PROG_NAME ": demo: needs the source tree this binary was built from (%s: %s); "
			"it is not offered in an installed copy such as the container image\n",
			script, strerror(errno));
		return 2;
	}
	memcpy(dir, self, (size_t)n + 1);
	*strrchr(dir, '/') = 0;
	/* An installed binary has no test tools beside it: let the script build them. */
	if ((size_t)snprintf(tool, sizeof(tool), "%s/udpseq", dir) < sizeof(tool) &&
	    access(tool, X_OK) == 0)
		setenv("FL_BUILD", dir, 1);
	if (part)
		args[na++] = (char *)part;
	if (html) {
		args[na++] = "--html";
		args[na++] = (char *)html;
	}
	args[na] = NULL;
	execvp("bash", args);
	fprintf(stderr, PROG_NAME ": demo: cannot run %s: %s\n", script, strerror(errno));
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

	/* A command that failed said why (show reports its own write errors). */
	if (ret)
		return ret;
	return check_written(stdout, "standard output") ? 1 : 0;
}

static int dispatch(const char *cmd, int argc, char **argv)
{
	bool help = cmd && (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help"));
	bool version = cmd && (!strcmp(cmd, "version") || !strcmp(cmd, "--version"));

	if (!cmd) {
		usage_print(stderr);
		return 2;
	}
	if ((help || version) && argc > 2) {
		args_stray(cmd, argv[2], NULL);
		return 2;
	}
	if (help) {
		usage_print(stdout);
		return 0;
	}
	if (version) {
		version_print(stdout);
		return 0;
	}
	/* Sub-commands parse argv from their own name on. */
	argc--;
	argv++;
	if (!strcmp(cmd, "run"))
		return cmd_run(argc, argv);
	if (!strcmp(cmd, "wrap"))
		return cmd_wrap(argc, argv);
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
	if (!strcmp(cmd, "ctl"))
		return cmd_ctl(argc, argv);
	fprintf(stderr, PROG_NAME ": unknown command '%s' (run, wrap, ctl, replay, demo, check, cleanup, show, report, version; see " PROG_NAME " --help)\n",
		cmd);
	return 2;
}
