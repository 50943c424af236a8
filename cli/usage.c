// SPDX-License-Identifier: MIT
#include <stdio.h>

#include "capture.h"
#include "ctl.h"
#include "ctlcmd.h"
#include "pipeline.h"
#include "proxy.h"
#include "sock.h"
#include "track.h"
#include "usage.h"

#define PROG_NAME "faultline"

/* The text says "256M" and "60s": only whole units print that way. */
_Static_assert(PROXY_DEFAULT_MAX_HELD_BYTES % (1u << 20) == 0, "--max-held-bytes default in MiB");
_Static_assert(TRACK_DEFAULT_TIME_WAIT_NS % 1000000000ull == 0, "--time-wait default in seconds");
_Static_assert(TRACK_DEFAULT_IDLE_NS % 1000000000ull == 0, "--track-idle default in seconds");

void usage_print(FILE *f)
{
	fprintf(f,
		"usage: " PROG_NAME " <command> [options]\n"
		"\n"
		"commands:\n"
		"  run       divert packets through the rules until SIGINT/SIGTERM\n"
		"  ctl       change the rules of a running faultline, read its counters\n"
		"  replay    run a capture file through the rules, offline (no root)\n"
		"  demo      the guided demo in namespaces it makes and removes:\n"
		"            demo [udp|reorder|handshake|teardown|timewait|retransmit|all] [--html FILE]\n"
		"  check     parse rules and print them in canonical form:\n"
		"            check [FILE ...] [-r LINE] [-f FILE] (a FILE is read as with -f)\n"
		"  cleanup   remove every chain faultline left in iptables/ip6tables:\n"
		"            cleanup [NAME | --netns NAME | --netns-path PATH] (NAME: a namespace)\n"
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
		"  -q, --queue N          NFQUEUE queue number (default %u)\n"
		"      --forward          also divert routed packets (FORWARD)\n"
		"      --max-held N       bound on held packets (default %u)\n"
		"      --max-held-bytes N bound on their bytes on the wire, k/M/G suffixes\n"
		"                         (default %lluM); at a bound the soonest due leaves early\n"
		"      --queue-maxlen N   kernel queue length (default %u)\n"
		"      --max-flows N      non-TCP flows remembered for seeded decisions (default %u)\n"
		"      --mark N           firewall mark of injected copies (default %#x)\n"
		"  -e, --events FILE      write JSON-lines events to FILE ('-' = stdout)\n"
		"      --events-backlog N bytes of event lines that may wait for a slow reader\n"
		"                         (default %u); lines beyond are dropped and counted\n"
		"      --pcap FILE        write every packet as captured (interface 'in') and as\n"
		"                         released ('out') to a pcapng file, verdicts in comments\n"
		"      --pcap-backlog N   bytes of --pcap records that may wait for a slow reader\n"
		"                         (default %u); records beyond are dropped and counted\n"
		"      --no-track         do not run the TCP shadow-state tracker\n"
		"      --full-copy        copy whole packets from the kernel even when the rules\n"
		"                         need only headers\n"
		"      --time-wait DUR    how long the tracker keeps TIME_WAIT (2*MSL, default %llus)\n"
		"      --track-idle DUR   forget idle connections after DUR (default %llus)\n"
		"      --max-conns N      connections the tracker holds (default %u)\n"
		"      --control PATH     the control socket (default " CTL_SOCK_DIR "/queue-N.sock,\n"
		"                         " CTL_SOCK_DIR "/NAME.queue-N.sock with --netns NAME)\n"
		"      --no-control       no control socket (SIGHUP still reloads)\n"
		"      --scenario FILE    play a timeline of rule changes: 'at 10s add cut: tcp port\n"
		"                         5432 => drop', 'on conn port 5432 state ESTABLISHED del cut',\n"
		"                         'at 30s end' (see README); each step in the event log\n"
		"\n"
		"On SIGUSR1 the counters are printed as JSON; at exit too. On SIGHUP the -f\n"
		"files and -r lines are read again: a good set swaps in, a bad one changes nothing.\n"
		"Numbers are decimal or 0x hex; only -r, -f and -l may be given more than once.\n"
		"A rule file has at most 1 MiB, a line 64 KiB, a rule set 10000 rules.\n"
		"\n"
		"replay IN.pcap [options]: the same decisions on a capture, in virtual time\n"
		"  -r/--rule, -f/--rules, -s/--seed, -e/--events as for run\n"
		"  -o, --out FILE         write the packets as they leave (nanosecond pcap, raw IP)\n"
		"  -l, --local NET        addresses of the host faultline stood for (repeatable):\n"
		"                         packets from them are 'out', to them 'in', others 'fwd'\n"
		"                         (Linux cooked captures, tcpdump -i any, carry it already)\n"
		"      --pcap FILE, --no-track, --time-wait DUR as for run\n"
		"\n"
		"ctl [--control PATH | --queue N [--netns NAME]] [--json] COMMAND: drive a run\n"
		"  list                   the rules: name, enabled, counters (a table; --json: raw)\n"
		"  get NAME               one rule\n"
		"  add 'LINE' [NAME]      add a rule at the end (named NAME, else rule-N)\n"
		"  del NAME               remove a rule\n"
		"  enable NAME, disable NAME\n"
		"  replace FILE           swap in FILE's rules, all at once or not at all\n"
		"  stats                  the counters JSON, as on SIGUSR1\n"
		"  reset                  back to the rules the run started with\n"
		"  reload                 read the -f files and -r lines again (as SIGHUP)\n"
		"  events                 stream event lines until faultline stops\n"
		"  wait COND [--timeout DUR]  block until COND holds\n"
		"  exit status: 0 done, 1 refused (why on stderr), 2 usage, %d wait timed out\n"
		"  requests: one JSON line each, at most %u MiB\n",
		PROXY_DEFAULT_QUEUE, PIPELINE_DEFAULT_MAX_HELD,
		(unsigned long long)(PROXY_DEFAULT_MAX_HELD_BYTES >> 20), CAPTURE_DEFAULT_QUEUE_MAXLEN,
		PIPELINE_DEFAULT_MAX_FLOWS, PROXY_DEFAULT_MARK, PROXY_DEFAULT_EVENTS_BACKLOG,
		PROXY_DEFAULT_PCAP_BACKLOG, (unsigned long long)(TRACK_DEFAULT_TIME_WAIT_NS / 1000000000ull),
		(unsigned long long)(TRACK_DEFAULT_IDLE_NS / 1000000000ull), TRACK_DEFAULT_MAX_CONNS,
		CTLCMD_EXIT_TIMEOUT, CTL_MAX_REQUEST >> 20);
}
