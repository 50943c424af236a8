// SPDX-License-Identifier: MIT
#include <string.h>

#include "profile.h"
#include "units.h"

#define MS 1000000ull
#define KBIT 1000ull

/*
 * The figures of comcast's README, "Network Condition Profiles"
 * (github.com/tylertreat/comcast): latency in ms, bandwidth in kbit/s and
 * packet loss in %, one figure per profile. comcast adds them with netem
 * on one interface's egress, so a round trip sees the latency once. Here
 * each direction gets half of it (a round trip again sees it once), the
 * bandwidth and the loss. comcast gives no jitter: none here.
 */
#define COMCAST(n, lat_ms, kbit, bw, loss)                                                        \
	{                                                                                         \
		.name = n, .source = "comcast README: " #lat_ms " ms, " bw ", " #loss "%",           \
		.up = { .delay_ns = (lat_ms) * MS / 2, .loss_ppm = (uint32_t)((loss) * 10000),    \
			.rate_bps = (kbit) * KBIT },                                              \
		.down = { .delay_ns = (lat_ms) * MS / 2, .loss_ppm = (uint32_t)((loss) * 10000),  \
			  .rate_bps = (kbit) * KBIT },                                            \
	}

static const struct rule_profile profiles[] = {
	COMCAST("gprs", 500, 50, "50 kbit/s", 2),
	COMCAST("edge", 300, 250, "250 kbit/s", 1.5),
	COMCAST("3g", 250, 750, "750 kbit/s", 1.5),
	COMCAST("dialup", 185, 40, "40 kbit/s", 2),
	COMCAST("dsl-poor", 70, 2000, "2000 kbit/s", 2),
	COMCAST("dsl", 40, 8000, "8000 kbit/s", 0.5),
	COMCAST("wifi", 40, 30000, "30000 kbit/s", 0.2),
	/* comcast gives the satellite link no bandwidth ("-"): none here. */
	COMCAST("satellite", 1500, 0, "no bandwidth given", 0.2),
};

const struct rule_profile *rule_profile_get(unsigned id)
{
	return id < sizeof(profiles) / sizeof(profiles[0]) ? &profiles[id] : NULL;
}

int rule_profile_lookup(const char *name)
{
	for (unsigned i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++)
		if (!strcmp(profiles[i].name, name))
			return (int)i;
	return -1;
}

void rule_profile_names(struct strbuf_fixed *o)
{
	for (unsigned i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++)
		strbuf_fixed_printf(o, "%s%s", i ? ", " : "", profiles[i].name);
}

static void put_dir(struct strbuf_fixed *o, const char *way, const struct rule_profile_dir *d)
{
	strbuf_fixed_printf(o, "%s:", way);
	if (d->loss_ppm)
		units_put_percent(o, " drop ", d->loss_ppm);
	if (d->loss_ppm && (d->delay_ns || d->rate_bps))
		strbuf_fixed_printf(o, ",");
	units_put_duration(o, " delay ", d->delay_ns);
	if (d->jitter_ns)
		units_put_duration(o, " jitter ", d->jitter_ns);
	if (d->rate_bps)
		units_put_rate(o, ", rate ", d->rate_bps);
}

void rule_profile_expand(struct strbuf_fixed *o, unsigned id)
{
	const struct rule_profile *p = rule_profile_get(id);

	if (!p)
		return;
	put_dir(o, "out", &p->up);
	put_dir(o, "; in, fwd", &p->down);
}
