/* SPDX-License-Identifier: MIT */
/*
 * rule: parse, print and hold faultline rule lines.
 *
 *   [NAME: ] FILTER => ITEM [, ITEM ...]
 *
 * NAME is [A-Za-z][A-Za-z0-9_.-]* (at most RULE_MAX_NAME bytes), unique in
 * its set; an unnamed rule is named "rule-N" after its position N, from 1.
 * FILTER is a tcpdump/pcap-filter expression (may be empty: matches every
 * packet), compiled by libpcap for raw IP. An ITEM is an action
 * (drop, delay, reorder, duplicate, corrupt, rate, accept, reset, segment) or a qualifier
 * (in, out, fwd, every N, first N / count N, after DUR, for DUR, from-byte N,
 * if COND [and COND ...]). See README.md for the grammar.
 *
 * A rule set is immutable once loaded, so one set can be shared by several
 * queue workers and swapped between two packets.
 */
#ifndef FL_RULE_H
#define FL_RULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "packet.h"
#include "units.h"

#define RULE_MAX_ACTIONS 8
#define RULE_MAX_CONDS 8

/*
 * Bounds on what a rule set is made of; past them the parser stops with a
 * located error, it never cuts. Each rule is evaluated for every packet and
 * act reports a rule by a 16-bit index; a filter of 64 KiB already takes
 * libpcap's optimiser seconds.
 */
#define RULE_MAX_RULES 10000		/* rules in one set */
#define RULE_MAX_LINE 65536		/* bytes in one line, comment included */
#define RULE_MAX_FILE (1024 * 1024)	/* bytes in one rule file */
#define RULE_MAX_NAME 64		/* bytes in a rule's name */

/* Probability as parts per million: 1000000 = always. */
#define RULE_PPM_ALWAYS UNITS_PPM_ALWAYS

/*
 * The actions. Each has one entry in two tables indexed by this enum: its
 * syntax in rules/actions.c (name, parser, printer, equality) and its
 * decision step in proxy/decide/act.c (what it does, its counter, its
 * event name). The order is the one messages and the report list them in.
 */
enum rule_action_type {
	RULE_ACT_DROP = 0,
	RULE_ACT_DELAY,
	RULE_ACT_REORDER,
	RULE_ACT_DUPLICATE,
	RULE_ACT_CORRUPT,
	RULE_ACT_RATE,
	RULE_ACT_ACCEPT,	/* stop evaluating further rules, pass as decided so far */
	RULE_ACT_SLOT,		/* netem's slotted delivery */
	RULE_ACT_PROFILE,	/* a named link: delay, jitter, loss and rate each way */
	RULE_ACT_RESET,		/* drop a TCP segment, send a RST to both endpoints */
	RULE_ACT_SEGMENT,	/* cut TCP data segments into pieces of at most N bytes */
	RULE_ACT__COUNT,
};

enum rule_dist {
	RULE_DIST_UNIFORM = 0,
	RULE_DIST_NORMAL,
	RULE_DIST_PARETO,
	RULE_DIST_PARETONORMAL,	/* netem's: 1/4 normal + 3/4 pareto of one draw */
};

/* How 'drop' decides (the models' state lives per rule and flow direction). */
enum rule_loss_model {
	RULE_LOSS_BERNOULLI = 0,	/* each packet on its own, with P% */
	RULE_LOSS_CORRELATED,		/* 'correlation C%': rate P, lag-1 correlation C */
	RULE_LOSS_GEMODEL,		/* Gilbert-Elliott: p, r, 1-h, 1-k */
	RULE_LOSS_STATE,		/* netem's 4-state model: p13, p31, p32, p23, p14 */
};

#define RULE_LOSS_MAX_PARAMS 5

struct rule_action {
	enum rule_action_type type;
	uint32_t prob_ppm;		/* P%: chance the action applies; default always */
	union {
		struct {
			enum rule_loss_model model;
			/*
			 * In ppm. CORRELATED: P (the action's prob_ppm is
			 * then always), C. GEMODEL: p, r, 1-h,
			 * 1-k. STATE: p13, p31, p32, p23, p14. Defaults
			 * (netem's) filled in by the parser.
			 */
			uint32_t param[RULE_LOSS_MAX_PARAMS];
		} drop;
		struct {
			uint64_t delay_ns;
			uint64_t jitter_ns;
			enum rule_dist dist;
			uint32_t corr_ppm;	/* 'correlation C%', 0: none */
		} delay;
		struct {
			uint32_t count;		/* N: group size, >= 2 */
			uint64_t timeout_ns;	/* default 100 ms */
		} reorder;
		struct {
			uint32_t copies;	/* extra copies, default 1 */
		} duplicate;
		struct {
			uint64_t bits_per_sec;
			uint32_t limit;		/* packets allowed to wait, default 1000 */
		} rate;
		struct {
			uint32_t size;		/* payload bytes a piece carries at most */
			uint32_t vary;		/* 'vary V': a piece carries size +- V bytes, V < size */
			uint64_t gap_ns;	/* 'gap D': between one piece and the next, 0: none */
		} segment;
		struct {
			uint64_t min_ns, max_ns;	/* the gap between slots, max >= min */
			uint32_t packets;		/* per slot, 0: no limit */
			uint64_t bytes;			/* per slot, 0: no limit */
		} slot;
		struct {
			unsigned id;			/* index in rule_profiles() */
		} profile;
	} u;
};

/*
 * Conditions after 'if'. Packet-only conditions are evaluated from the
 * packet; the tracker conditions (issue 3) need the shadow TCP state.
 */
enum rule_cond_type {
	RULE_COND_SYN = 0,	/* SYN without ACK */
	RULE_COND_SYN_ACK,	/* SYN+ACK */
	RULE_COND_FIN,
	RULE_COND_RST,
	RULE_COND_ACK_ONLY,	/* ACK, no payload, no SYN/FIN/RST */
	RULE_COND_DATA,		/* transport payload length > 0 */
	RULE_COND__PACKET_ONLY, /* conditions below need the tracker */
	RULE_COND_STATE = RULE_COND__PACKET_ONLY, /* 'state S': the receiving endpoint's state */
	RULE_COND_PEER_STATE,	/* 'peer-state S': the sending endpoint's state */
	RULE_COND_FIRST_DATA,
	RULE_COND_RETRANSMISSION,
	RULE_COND_OUT_OF_ORDER,
	RULE_COND_DUP_ACK,
	RULE_COND_STALE,
	RULE_COND__COUNT,
};

struct rule_cond {
	enum rule_cond_type type;
	bool negate;		/* 'not COND' */
	uint8_t state;		/* for STATE/PEER_STATE: a track state number */
};

struct rule {
	unsigned index;		/* 0-based position in the set (users see index + 1) */
	char *name;		/* always set: as given, or "rule-N"; owned */
	bool named;		/* the name was given (rule_print writes it) */
	bool disabled;		/* act skips it; its counters stay (rule_set_enable) */
	char *text;		/* the line as given, trimmed; owned */
	char *filter_text;	/* the filter part, trimmed; owned ("" = all) */
	char *filter_expr;	/* what libpcap compiled: filter_text with each @NAME replaced; owned, NULL = filter_text */
	struct rule_filter *filter; /* compiled filter, NULL matches all; owned */

	struct rule_action actions[RULE_MAX_ACTIONS];
	unsigned n_actions;

	/* Qualifiers: all must hold for the rule to fire. */
	uint8_t dir_mask;	/* bit (1 << enum pkt_dir); 0 = any direction */
	uint32_t every;		/* fire on every Nth matching packet; 0 = each */
	uint32_t first;		/* fire on the first N matching packets only; 0 = no limit */
	uint64_t after_ns;	/* fire only from this long after start */
	uint64_t for_ns;	/* ... and for this long; 0 = forever */
	/*
	 * 'conn-after DUR': only from DUR after the rule first saw the
	 * packet's flow direction (its first packet, or its first since the
	 * rule was added), each flow on its own clock; 0 = not given.
	 */
	uint64_t conn_after_ns;
	/*
	 * 'from-byte N': only TCP segments at or past byte N of their
	 * direction's stream (needs the tracker); 0 = not given.
	 */
	uint32_t from_byte;
	/*
	 * 'conn P% [key K]': only for P% of the flows (TCP connections), each
	 * flow decided once from the seed, the flow's identity and K (so two
	 * rules with the same K decide alike); has_conn false: every flow.
	 */
	bool has_conn;
	uint32_t conn_ppm;
	uint32_t conn_key;
	struct rule_cond conds[RULE_MAX_CONDS];
	unsigned n_conds;

	/* Source location, for messages. file is owned. */
	char *file;
	int line;
};

/*
 * A parse error; printed by the CLI as "file:line:col: msg". file is
 * borrowed from the caller's argument ("" if none). line 0: the error is
 * about the file as a whole; col 0: about the line. msg is never cut: user
 * text quoted in it is shortened to its first 60 bytes and "...".
 */
struct rule_error {
	const char *file;
	int line;
	int col;		/* 1-based, in bytes */
	char msg[512];
};

struct rule_set;

/* Returns an empty set or NULL (errno set). */
struct rule_set *rule_set_new(void);

/*
 * What '@NAME' in a filter stands for (a container's addresses): write a
 * list of its addresses for name (borrowed) into out, as libpcap takes
 * after "host": "(172.17.0.2 or fd00::2)". Returns 0, -ENOENT for an unknown name (a located rule
 * error), or another -errno. The core calls it, it never looks anything up.
 */
typedef int (*rule_name_cb)(void *data, const char *name, char *out, size_t size);

/*
 * Let rules added to rs from now on use '@NAME' (cb may be NULL: none may).
 * Sets made from rs (rule_set_clone) and by rule_set_names_from keep it.
 */
void rule_set_names(struct rule_set *rs, rule_name_cb cb, void *data);
/* Give rs the '@NAME' resolver of from (either may be NULL). */
void rule_set_names_from(struct rule_set *rs, const struct rule_set *from);
/* Frees the set, its rules and their compiled filters. NULL-safe. */
void rule_set_free(struct rule_set *rs);

struct rule_memo_wide;

/*
 * Makes the set's wide memo plans (memo.h: rule_memo_wide_plan() for each
 * class) once, for every pipeline that takes the set: call it before the
 * set goes to the packet path, where act would otherwise make them itself
 * under the queue's lock (with 256 rules, a couple of milliseconds of
 * packets waiting). A rule joining or leaving drops them. Returns 0 or
 * -ENOMEM (act then plans for itself). Not for a set already published:
 * readers may be asking rule_set_wide_plans().
 */
int rule_set_plan(struct rule_set *rs);
/* The plans rule_set_plan() made, RULE_MEMO_NCLASS of them (tags 0), or NULL. Both NULL-safe. */
const struct rule_memo_wide *rule_set_wide_plans(const struct rule_set *rs);

/*
 * Parse one rule line and append it. Blank lines and '#' comments are
 * accepted and add nothing (returns 0). 'file' names the source for error
 * messages (copied into the rule, borrowed by err), 'line' its line number.
 * An unnamed rule is named "rule-N", N its position in the set from 1.
 * On error returns -EINVAL (a bad rule, a line over RULE_MAX_LINE bytes),
 * -EEXIST (its name, given or automatic, is another rule's already: the
 * message says where that one is), -E2BIG (the set already has
 * RULE_MAX_RULES rules) or -ENOMEM, and fills err; the set is unchanged.
 */
int rule_set_add_line(struct rule_set *rs, const char *text, const char *file,
		      int line, struct rule_error *err);

/*
 * Where rule_set_load() reads a rule file's text: up to size bytes into
 * buf. Returns the count, 0 at the end, or -errno. (rules/file.c reads a
 * file with it, outside the core: the core opens no file.)
 */
typedef ssize_t (*rule_read_cb)(void *data, char *buf, size_t size);

/*
 * Parse a whole rule file's text, read through read(data, ...); path names
 * it in rules and messages (borrowed by err). Rules are named as by
 * rule_set_add_line(). On the first error returns -EINVAL (a bad line, a
 * line over RULE_MAX_LINE bytes), -EEXIST (a name taken), -EFBIG (more than
 * RULE_MAX_FILE bytes), -E2BIG (more than RULE_MAX_RULES rules in the set),
 * -ENOMEM, or the -errno of a failed read; err says where and why, and the
 * set is unchanged.
 */
int rule_set_load(struct rule_set *rs, const char *path, rule_read_cb read, void *data,
		  struct rule_error *err);

size_t rule_set_count(const struct rule_set *rs);
/* Borrowed; valid while the set lives. */
const struct rule *rule_set_get(const struct rule_set *rs, size_t i);
/* The 0-based index of the rule named name (borrowed), or -ENOENT. */
int rule_set_find(const struct rule_set *rs, const char *name);

/*
 * Building a new set from a running one (the control layer): a set is
 * immutable once the pipeline has it, so a change is made on a clone,
 * which then replaces the old set whole. Names stay with their rules:
 * the pipeline carries a rule's counters over to the new set by name.
 */

/*
 * A new set holding the rules of rs, parsed again from their text, with
 * their names (given or automatic), enabled state and file:line. Returns
 * NULL + errno (ENOMEM).
 */
struct rule_set *rule_set_clone(const struct rule_set *rs);

/*
 * Parse one rule line and append it to a set being built, as
 * rule_set_add_line() with these differences: 'name' (borrowed; NULL: the
 * line's own "NAME: ", if any) names the rule; an unnamed rule is named
 * "rule-N" with N its position, or the first free N above it (a name
 * carried from the older set may hold it); a blank or comment line is an
 * error. Returns 0, -EINVAL (a bad line or name, a blank line, two
 * different names), -EEXIST (the name is taken), -E2BIG or -ENOMEM, with
 * err filled; the set is unchanged on error.
 */
int rule_set_add(struct rule_set *rs, const char *text, const char *name, const char *file,
		 int line, struct rule_error *err);

/* Remove the rule named name (borrowed); later rules move up. 0 or -ENOENT. */
int rule_set_del(struct rule_set *rs, const char *name);

/* Enable or disable the rule named name (borrowed) of a set being built. 0 or -ENOENT. */
int rule_set_enable(struct rule_set *rs, const char *name, bool enabled);

/* Is s a valid rule name ([A-Za-z][A-Za-z0-9_.-]*, at most RULE_MAX_NAME bytes)? */
bool rule_name_valid(const char *s);
/*
 * Is name just "rule-N" for N = number (a rule's number, from 1)? Then
 * "rule N" says all of it, and messages need not repeat the name.
 */
bool rule_name_is_number(const char *name, unsigned number);

/*
 * How many leading bytes of each packet the set needs to decide and act:
 * what its filters can read, or UINT32_MAX when a rule rewrites or copies
 * packets (duplicate, corrupt) or a filter's reach is unbounded.
 */
uint32_t rule_set_bytes_needed(const struct rule_set *rs);

/* Has r a condition that needs the tracker (state, retransmission, ...)? */
bool rule_has_tracker_cond(const struct rule *r);

/*
 * Does any rule of rs (disabled ones too: they may be enabled at run
 * time) need each packet's arrival time? An action that holds or paces
 * packets counts from it, and a tracker condition needs the tracker to
 * tell retransmissions from out-of-order segments by elapsed time, as
 * Wireshark does. Rules of drop, corrupt and accept with packet-only
 * conditions do not. NULL: no.
 */
bool rule_set_needs_arrival(const struct rule_set *rs);

/*
 * Print a rule in canonical form (parses back to an equal rule with the
 * same name), "NAME: " first when the name was given. Returns the length
 * it needed, like snprintf.
 */
int rule_print(const struct rule *r, char *buf, size_t size);
/* The canonical form, whole, in a new string (caller frees); NULL on ENOMEM. */
char *rule_print_alloc(const struct rule *r);
/* The same without the name ("FILTER => ITEMS"), for where the name has its own field. */
char *rule_print_body_alloc(const struct rule *r);

/*
 * What part of r counts packets across flows, as written in a rule
 * ("every", "first", "rate", "slot", "profile"; static), or NULL when
 * its decisions depend on each flow's own packets only. Such state is
 * one per queue: a run over several queues refuses such rules.
 */
const char *rule_cross_flow(const struct rule *r);

/* Compare the parsed content of two rules (not name, text, location or enabled state). */
bool rule_equal(const struct rule *a, const struct rule *b);

/*
 * A packet's candidate rules: a superset of those whose filter matches
 * it, in rule order (rules/index.h says how they are found). Kept on the
 * caller's stack; valid while the set lives and is not changed.
 */
#define RULE_INDEX_DIMS 8	/* fields a class's rules are filed by, at most */

struct rule_cands {
	const uint32_t *at[RULE_INDEX_DIMS + 1], *end[RULE_INDEX_DIMS + 1];
	unsigned n;		/* lists to merge */
	bool all;		/* no index: every rule from next to last */
	uint32_t next, last;
};

/* Fill *c with v's candidates among the rules of rs (both borrowed). */
void rule_set_cands(const struct rule_set *rs, const struct pkt_view *v, struct rule_cands *c);

/* Every one of the first n rules a candidate: what a linear scan looks at. */
static inline void rule_cands_all(struct rule_cands *c, size_t n)
{
	c->n = 0;
	c->all = true;
	c->next = 0;
	c->last = (uint32_t)n;
}

/* The next candidate's index, ascending, or -1 after the last. */
static inline int rule_cands_next(struct rule_cands *c)
{
	uint32_t min = UINT32_MAX;

	if (c->all)
		return c->next < c->last ? (int)c->next++ : -1;
	if (c->n == 1)
		return c->at[0] < c->end[0] ? (int)*c->at[0]++ : -1;
	/* A few sorted lists (the "always" one and one per field): merge their heads. */
	for (unsigned i = 0; i < c->n; i++)
		if (c->at[i] < c->end[i] && *c->at[i] < min)
			min = *c->at[i];
	if (min == UINT32_MAX)
		return -1;
	for (unsigned i = 0; i < c->n; i++)
		if (c->at[i] < c->end[i] && *c->at[i] == min)
			c->at[i]++;
	return (int)min;
}

/* Does the rule's filter match this packet? (Qualifiers are not checked.) */
bool rule_filter_match(const struct rule *r, const struct pkt_view *v);

/* The expression libpcap compiled for the rule: its filter with each @NAME replaced. */
static inline const char *rule_filter_source(const struct rule *r)
{
	return r->filter_expr ? r->filter_expr : r->filter_text;
}

/* Names used in the grammar, for printing and JSON. */
const char *rule_action_name(enum rule_action_type t);
/* "syn", "syn-ack", "state", ... (static string; "?" if out of range). */
const char *rule_cond_name(enum rule_cond_type t);

/*
 * Parse a duration as the rules write it ("30s", "1.5ms"), for the CLI's
 * options: units_parse_duration(). Returns 0, or -EINVAL with *why (a
 * static string) saying what is wrong when why is not NULL.
 */
int rule_parse_duration(const char *s, uint64_t *ns, const char **why);

#endif
