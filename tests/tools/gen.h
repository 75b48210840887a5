/*
 * gen.h - the core of the deterministic record stream generator: a small
 * simulated population (users with 1-3 devices, some devices shared by two
 * users, a CRM system of record) that turns into canonical JSON Lines
 * (shared/data/scenarios/README.md), one record per gen_next() call.
 *
 * The stream is a pure function of the options: the same seed and rates
 * give the same bytes on every machine (one xorshift generator, integer
 * arithmetic only, no wall clock).  It is meant to be realistic rather than
 * correct: the population's idea of who is logged in on which device can
 * drift from what the hub concludes (a blocked custom_id turns a login into
 * an anonymous identify), exactly like a real client's.
 *
 * What it produces, each with its rate (gen_rate_names): anonymous sessions
 * that later log in, logouts (both forms), user switches on shared devices,
 * reinstalls (new installation IDs), out-of-order event times, resends of
 * recent records (same bytes, so the same message_id), blocked identifier
 * values ("null", "0", "anonymous" ...), attribute writes, deletes and
 * $add/$remove array ops, consent changes, the external ids `crm_id` (limit
 * 1) and `mpid` (limit 3) including conflicting values, aliases,
 * server-side records without an installation or without a login, and
 * occasional erase records.
 *
 * Header-only on purpose: tests/tools/gen_records.c (the CLI) and
 * tests/unit/test_random.c (in-process streams) both include it, so there
 * is one copy of the logic and every .c file in tests/tools stays a
 * standalone tool.  Everything here is static; both includers use the
 * whole API.
 * Never read the environment or the clock here.
 */
#ifndef HUB_TESTS_GEN_H
#define HUB_TESTS_GEN_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The hub configuration the streams are written for. */
#define GEN_CONFIG_YAML                                                        \
	"identity:\n"                                                          \
	"  external:\n"                                                        \
	"    crm_id: {limit: 1, priority: 1}\n"                                \
	"    mpid: {limit: 3, priority: 2}\n"

#define GEN_LINE_MAX 1536 /* one record, newline included; lines stay far below */
#define GEN_RING 64       /* recent records a resend is taken from */
#define GEN_DAY_MS (24LL * 3600 * 1000)

/* Probabilities in [0, 1].  Keep gen_rate_names in the same order. */
enum gen_rate {
	GEN_RATE_DUP,          /* a record is a resend of a recent one */
	GEN_RATE_BLOCKED,      /* an identifier is sent as a blocked value */
	GEN_RATE_OOO,          /* event time jittered backwards (minutes to hours) */
	GEN_RATE_LATE,         /* event time days in the past (a late batch) */
	GEN_RATE_ERASE,        /* a record is an erase request */
	GEN_RATE_ANON,         /* a device's first session starts anonymous */
	GEN_RATE_LOGIN,        /* an anonymous device logs in on its next action */
	GEN_RATE_LOGOUT,       /* a logged-in device logs out */
	GEN_RATE_SHARE,        /* a device is shared by a second user */
	GEN_RATE_SWITCH,       /* on a shared device, the other user logs in */
	GEN_RATE_REINSTALL,    /* a device gets a new installation ID */
	GEN_RATE_ALIAS,        /* a login is sent as an alias */
	GEN_RATE_SERVER,       /* a record comes from a server (no installation) */
	GEN_RATE_CRM,          /* a user has a crm_id (drawn once per user) */
	GEN_RATE_CRM_SEND,     /* an identify or server record carries the crm_id */
	GEN_RATE_CRM_CONFLICT, /* an external id sent is another user's or a second one */
	GEN_RATE_MPID,         /* an identify or server record carries an mpid */
	GEN_RATE_ATTR,         /* an identify carries attributes */
	GEN_RATE_DELETE,       /* an attribute write is a delete (null) */
	GEN_RATE_ARRAY,        /* an attribute write is an $add/$remove op */
	GEN_RATE_INVALID,      /* an attribute value is invalid (dropped with a warning) */
	GEN_RATE_CONSENT,      /* a record carries a consent change */
	GEN_RATE_PUSH,         /* a device record sets push_enabled */
	GEN_RATE_N
};

static const char *const gen_rate_names[GEN_RATE_N] = {
	"dup", "blocked", "ooo", "late", "erase", "anon", "login", "logout", "share",
	"switch", "reinstall", "alias", "server", "crm", "crm-send", "crm-conflict",
	"mpid", "attr", "delete", "array", "invalid", "consent", "push",
};

static const double gen_rate_defaults[GEN_RATE_N] = {
	[GEN_RATE_DUP] = 0.02,
	[GEN_RATE_BLOCKED] = 0.01,
	[GEN_RATE_OOO] = 0.10,
	[GEN_RATE_LATE] = 0.005,
	[GEN_RATE_ERASE] = 0.0005,
	[GEN_RATE_ANON] = 0.40,
	[GEN_RATE_LOGIN] = 0.25,
	[GEN_RATE_LOGOUT] = 0.03,
	[GEN_RATE_SHARE] = 0.08,
	[GEN_RATE_SWITCH] = 0.10,
	[GEN_RATE_REINSTALL] = 0.005,
	[GEN_RATE_ALIAS] = 0.10,
	[GEN_RATE_SERVER] = 0.10,
	[GEN_RATE_CRM] = 0.70,
	[GEN_RATE_CRM_SEND] = 0.30,
	[GEN_RATE_CRM_CONFLICT] = 0.05,
	[GEN_RATE_MPID] = 0.20,
	[GEN_RATE_ATTR] = 0.60,
	[GEN_RATE_DELETE] = 0.08,
	[GEN_RATE_ARRAY] = 0.20,
	[GEN_RATE_INVALID] = 0.01,
	[GEN_RATE_CONSENT] = 0.05,
	[GEN_RATE_PUSH] = 0.03,
};

struct gen_opts {
	uint64_t seed;
	long n_users;           /* >= 1 */
	int64_t start_ms;       /* time of the first record */
	int64_t span_ms;        /* event time covered by n_records records */
	long n_records;         /* only to pace the clock over span_ms */
	const char *source;     /* NULL: records carry no "source" */
	int has_received_at;    /* write received_at (keeps the hub's clock out) */
	double rates[GEN_RATE_N];
};

struct gen_device {
	int32_t owner;          /* the user who owns it */
	int32_t second;         /* a second user of a shared device, or -1 */
	int32_t current;        /* logged-in user, or -1 */
	uint16_t generation;    /* bumped by a reinstall: a new installation ID */
	uint8_t platform;       /* index into gen_platforms */
	uint8_t is_seen;
};

struct gen_user {
	int32_t devices[3];
	uint8_t n_devices;
	uint8_t has_crm;
};

struct gen {
	struct gen_opts o;
	uint32_t thr[GEN_RATE_N]; /* rates as 32-bit thresholds */
	uint64_t rng;
	struct gen_user *users;
	struct gen_device *devices;
	long n_devices;
	int64_t clock_ms;
	int64_t step_ms;          /* mean clock advance per record */
	uint64_t n_made;
	uint64_t next_mid;
	/* the last date written, "YYYY-MM-DDT" */
	int64_t day_cached;
	char day_text[12];
	/* recent records, for resends */
	char ring[GEN_RING][GEN_LINE_MAX];
	uint16_t ring_len[GEN_RING];
	size_t ring_n;
};

static const char *const gen_platforms[] = {"ios", "android", "web"};

/* ---- randomness ------------------------------------------------------ */

static uint64_t gen_rand(struct gen *g)
{
	/* xorshift64* */
	uint64_t x = g->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	g->rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* Uniform in [0, n) by multiply-shift (a bias of n / 2^32 at most). */
static uint32_t gen_below(struct gen *g, uint32_t n)
{
	return (uint32_t)(((gen_rand(g) >> 32) * (uint64_t)n) >> 32);
}

static int gen_roll(struct gen *g, enum gen_rate which)
{
	return (uint32_t)(gen_rand(g) >> 32) < g->thr[which];
}

/* ---- writing --------------------------------------------------------- */

struct gen_out {
	char *p;
};

static void out_lit(struct gen_out *o, const char *s)
{
	size_t n = strlen(s);
	memcpy(o->p, s, n);
	o->p += n;
}

static void out_u64(struct gen_out *o, uint64_t v)
{
	char tmp[24];
	int n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*o->p++ = tmp[--n];
}

static void out_2(struct gen_out *o, int v)
{
	*o->p++ = (char)('0' + v / 10);
	*o->p++ = (char)('0' + v % 10);
}

/* "YYYY-MM-DD" for days since the epoch (Howard Hinnant's algorithm). */
static void gen_day_text(int64_t z, char out[12])
{
	int64_t era, doe, yoe, doy, mp, y;
	int m, d;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = (int)(doy - (153 * mp + 2) / 5 + 1);
	m = (int)(mp < 10 ? mp + 3 : mp - 9);
	y = yoe + era * 400 + (m <= 2);
	out[0] = (char)('0' + y / 1000 % 10);
	out[1] = (char)('0' + y / 100 % 10);
	out[2] = (char)('0' + y / 10 % 10);
	out[3] = (char)('0' + y % 10);
	out[4] = '-';
	out[5] = (char)('0' + m / 10);
	out[6] = (char)('0' + m % 10);
	out[7] = '-';
	out[8] = (char)('0' + d / 10);
	out[9] = (char)('0' + d % 10);
	out[10] = 'T';
	out[11] = '\0';
}

/* "\"2025-01-01T00:00:00.000Z\"" (ms >= 0: gen_rec_init clamps). */
static void out_time(struct gen *g, struct gen_out *o, int64_t ms)
{
	int64_t day = ms / GEN_DAY_MS, rem = ms % GEN_DAY_MS;
	int msec = (int)(rem % 1000);

	if (day != g->day_cached) {
		gen_day_text(day, g->day_text);
		g->day_cached = day;
	}
	*o->p++ = '"';
	memcpy(o->p, g->day_text, 11);
	o->p += 11;
	rem /= 1000;
	out_2(o, (int)(rem / 3600));
	*o->p++ = ':';
	out_2(o, (int)(rem / 60 % 60));
	*o->p++ = ':';
	out_2(o, (int)(rem % 60));
	*o->p++ = '.';
	*o->p++ = (char)('0' + msec / 100);
	out_2(o, msec % 100);
	out_lit(o, "Z\"");
}

/* ---- the population -------------------------------------------------- */

/* Values IDENTITY.md section 1 blocks, as clients really send them. */
static const char *const gen_blocked_words[] = {
	"null", "0", "anonymous", "undefined", "", "-1", "None", "(null)", "guest",
	"00000000-0000-0000-0000-000000000000", "[object Object]", "NaN",
};

static void gen_set_rates(struct gen *g)
{
	for (int i = 0; i < GEN_RATE_N; i++) {
		double r = g->o.rates[i];
		g->thr[i] = r <= 0 ? 0 : r >= 1 ? UINT32_MAX : (uint32_t)(r * 4294967296.0);
	}
}

/* Defaults for everything; the caller sets seed, users and records. */
static void gen_opts_default(struct gen_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->seed = 1;
	o->n_users = 1000;
	o->n_records = 10000;
	o->start_ms = 1735689600000LL; /* 2025-01-01T00:00:00Z */
	o->span_ms = 60 * GEN_DAY_MS;
	o->has_received_at = 1;
	memcpy(o->rates, gen_rate_defaults, sizeof(o->rates));
}

/* Sets up the population.  Returns 0, or -1 when out of memory (the
 * struct is then freed by gen_free as usual). */
static int gen_init(struct gen *g, const struct gen_opts *opts)
{
	long n_dev = 0;

	memset(g, 0, sizeof(*g));
	g->o = *opts;
	if (g->o.n_users < 1)
		g->o.n_users = 1;
	gen_set_rates(g);
	g->rng = (opts->seed + 1) * 0x9E3779B97F4A7C15ULL;
	if (!g->rng)
		g->rng = 1;
	g->clock_ms = g->o.start_ms;
	g->step_ms = g->o.n_records > 0 ? g->o.span_ms / g->o.n_records : 1000;
	if (g->step_ms < 2)
		g->step_ms = 2;
	g->day_cached = -1;
	g->users = calloc((size_t)g->o.n_users, sizeof(*g->users));
	g->devices = calloc((size_t)g->o.n_users * 3, sizeof(*g->devices));
	if (!g->users || !g->devices)
		return -1;
	for (long u = 0; u < g->o.n_users; u++) {
		struct gen_user *usr = &g->users[u];
		/* 1 device for half the users, 2 for a third, 3 for the rest */
		uint32_t r = gen_below(g, 6);
		usr->n_devices = r < 3 ? 1 : r < 5 ? 2 : 3;
		usr->has_crm = gen_roll(g, GEN_RATE_CRM);
		for (int k = 0; k < usr->n_devices; k++) {
			struct gen_device *d = &g->devices[n_dev];
			d->owner = (int32_t)u;
			d->second = -1;
			d->current = -1;
			d->platform = (uint8_t)gen_below(g, 3);
			usr->devices[k] = (int32_t)n_dev++;
		}
	}
	g->n_devices = n_dev;
	/* shared devices: a family tablet, a shop's kiosk */
	for (long i = 0; i < n_dev && g->o.n_users > 1; i++) {
		if (gen_roll(g, GEN_RATE_SHARE)) {
			int32_t other = (int32_t)gen_below(g, (uint32_t)g->o.n_users);
			if (other != g->devices[i].owner)
				g->devices[i].second = other;
		}
	}
	return 0;
}

static void gen_free(struct gen *g)
{
	free(g->users);
	free(g->devices);
	g->users = NULL;
	g->devices = NULL;
}

/* Active users are few, the long tail is long: u = n * x^2. */
static int32_t gen_pick_user(struct gen *g)
{
	uint64_t x = gen_rand(g) >> 32;
	return (int32_t)(((x * x) >> 32) * (uint64_t)g->o.n_users >> 32);
}

/* ---- one record ------------------------------------------------------ */

struct gen_rec {
	const char *type;
	int64_t ts_ms;
	int32_t custom;     /* user index, -1 none */
	int32_t device;     /* device index, -1 none */
	int32_t crm;        /* user whose crm_id is sent, -1 none */
	int crm_second;     /* send the user's second (conflicting) crm_id */
	int32_t mpid;       /* user whose mpid is sent, -1 none */
	int custom_null;    /* "custom_id": null (Batch-style logout) */
	int32_t previous;   /* alias: device whose installation is previous_id */
	int32_t prev_user;  /* alias: user whose custom_id is previous_id */
	int has_email;      /* identifiers.email */
	int has_attrs;
	int has_consent;
	int event;          /* track: index into gen_events */
	int push;           /* -1 none, 0, 1 */
	int erase_by;       /* erase: 0 custom_id, 1 installation_id, 2 crm_id; else -1 */
};

static const char *const gen_events[] = {"$screen", "$page", "add_to_cart", "purchase",
					 "open_app", "search"};

static void out_custom_id(struct gen *g, struct gen_out *o, int32_t u)
{
	out_lit(o, "\"custom_id\":\"");
	if (gen_roll(g, GEN_RATE_BLOCKED)) {
		uint32_t n = (uint32_t)(sizeof(gen_blocked_words) / sizeof(gen_blocked_words[0]));
		out_lit(o, gen_blocked_words[gen_below(g, n)]);
	} else {
		out_lit(o, "u");
		out_u64(o, (uint64_t)u);
	}
	*o->p++ = '"';
}

static void out_installation_value(struct gen *g, struct gen_out *o, int32_t dev)
{
	out_lit(o, "i");
	out_u64(o, (uint64_t)dev);
	if (g->devices[dev].generation) {
		out_lit(o, "r");
		out_u64(o, g->devices[dev].generation);
	}
}

static void out_installation(struct gen *g, struct gen_out *o, int32_t dev)
{
	out_lit(o, "\"installation_id\":\"");
	/* a device's SDK sends the blocked value a quarter as often */
	if (gen_below(g, 4) == 0 && gen_roll(g, GEN_RATE_BLOCKED))
		out_lit(o, gen_blocked_words[gen_below(g, 3)]);
	else
		out_installation_value(g, o, dev);
	*o->p++ = '"';
}

static void out_crm(struct gen_out *o, int32_t u, int second)
{
	out_lit(o, "\"crm_id\":\"K");
	out_u64(o, (uint64_t)u);
	if (second)
		*o->p++ = 'b';
	*o->p++ = '"';
}

static void out_identifiers(struct gen *g, struct gen_out *o, const struct gen_rec *r)
{
	int n = 0;

	out_lit(o, ",\"identifiers\":{");
	if (r->custom_null) {
		out_lit(o, "\"custom_id\":null");
		n++;
	} else if (r->custom >= 0) {
		out_custom_id(g, o, r->custom);
		n++;
	}
	if (r->device >= 0) {
		if (n++)
			*o->p++ = ',';
		out_installation(g, o, r->device);
	}
	if (r->crm >= 0) {
		if (n++)
			*o->p++ = ',';
		out_crm(o, r->crm, r->crm_second);
	}
	if (r->mpid >= 0) {
		if (n++)
			*o->p++ = ',';
		out_lit(o, "\"mpid\":\"M");
		out_u64(o, (uint64_t)r->mpid);
		*o->p++ = '"';
	}
	if (r->has_email && r->custom >= 0) {
		if (n++)
			*o->p++ = ',';
		out_lit(o, "\"email\":\"u");
		out_u64(o, (uint64_t)r->custom);
		out_lit(o, "@example.com\"");
	}
	*o->p++ = '}';
}

#define GEN_ATTR_TAGS 8 /* key 8 is the array; 0..7 are plain values */

static void out_one_attr(struct gen *g, struct gen_out *o, int32_t u, uint32_t k)
{
	static const char *const keys[] = {"\"plan\":", "\"score\":", "\"vip\":",
					   "\"$language\":", "\"$timezone\":",
					   "\"$email_address\":", "\"$phone_number\":",
					   "\"visits\":"};
	static const char *const plans[] = {"free", "basic", "pro", "gold"};
	static const char *const langs[] = {"en", "fr", "de", "pt-BR"};
	static const char *const zones[] = {"Europe/Paris", "America/New_York", "UTC",
					    "Asia/Tokyo"};
	uint64_t who = u >= 0 ? (uint64_t)u : 900000 + gen_below(g, 100000);

	if (k == GEN_ATTR_TAGS) {
		uint32_t mode = gen_below(g, 4); /* 0, 1: $add; 2: $remove; 3: both */
		out_lit(o, "\"tags\":{");
		if (mode != 2) {
			out_lit(o, "\"$add\":[\"t");
			out_u64(o, gen_below(g, 12));
			out_lit(o, "\",\"t");
			out_u64(o, gen_below(g, 12));
			out_lit(o, "\"]");
		}
		if (mode >= 2) {
			out_lit(o, mode == 3 ? ",\"$remove\":[\"t" : "\"$remove\":[\"t");
			out_u64(o, gen_below(g, 12));
			out_lit(o, "\"]");
		}
		*o->p++ = '}';
		return;
	}
	out_lit(o, keys[k]);
	if (gen_roll(g, GEN_RATE_DELETE)) {
		out_lit(o, "null");
		return;
	}
	if (gen_roll(g, GEN_RATE_INVALID)) {
		/* wrong for the native ones, an object for the custom ones */
		out_lit(o, k >= 3 && k <= 6 ? "\"not valid here\"" : "{\"x\":1}");
		return;
	}
	switch (k) {
	case 0:
		*o->p++ = '"';
		out_lit(o, plans[gen_below(g, 4)]);
		*o->p++ = '"';
		break;
	case 1: out_u64(o, gen_below(g, 1000)); break;
	case 2: out_lit(o, gen_below(g, 2) ? "true" : "false"); break;
	case 3:
		*o->p++ = '"';
		out_lit(o, langs[gen_below(g, 4)]);
		*o->p++ = '"';
		break;
	case 4:
		*o->p++ = '"';
		out_lit(o, zones[gen_below(g, 4)]);
		*o->p++ = '"';
		break;
	case 5:
		out_lit(o, "\"u");
		out_u64(o, who);
		out_lit(o, gen_below(g, 8) ? "@example.com\"" : "@work.example\"");
		break;
	case 6:
		out_lit(o, "\"+3361");
		out_u64(o, 1000000 + who % 8999999);
		*o->p++ = '"';
		break;
	default: out_u64(o, gen_below(g, 50)); break;
	}
}

/* One to three distinct keys: JSON with a duplicate key is rejected. */
static void out_attributes(struct gen *g, struct gen_out *o, int32_t u)
{
	uint32_t n = 1 + gen_below(g, 3), used = 0;

	out_lit(o, ",\"attributes\":{");
	for (uint32_t i = 0; i < n; i++) {
		uint32_t k = gen_roll(g, GEN_RATE_ARRAY) ? GEN_ATTR_TAGS
							 : gen_below(g, GEN_ATTR_TAGS);
		if (used & (1u << k))
			continue;
		if (used)
			*o->p++ = ',';
		used |= 1u << k;
		out_one_attr(g, o, u, k);
	}
	*o->p++ = '}';
}

static void out_consent(struct gen *g, struct gen_out *o)
{
	static const char *const states[] = {"\"subscribed\"", "\"unsubscribed\"", "null"};
	uint32_t which = gen_below(g, 3);

	out_lit(o, ",\"consent\":{");
	if (which != 1) {
		out_lit(o, "\"email_marketing\":");
		out_lit(o, states[gen_below(g, 3)]);
	}
	if (which != 0) {
		if (which == 2)
			*o->p++ = ',';
		out_lit(o, "\"sms_marketing\":");
		out_lit(o, states[gen_below(g, 3)]);
	}
	*o->p++ = '}';
}

static void out_event(struct gen *g, struct gen_out *o, int event)
{
	out_lit(o, ",\"event\":{\"name\":\"");
	out_lit(o, gen_events[event]);
	out_lit(o, "\",\"properties\":{");
	switch (event) {
	case 0: out_lit(o, "\"screen\":\"s"); out_u64(o, gen_below(g, 20)); *o->p++ = '"'; break;
	case 1: out_lit(o, "\"path\":\"/p/"); out_u64(o, gen_below(g, 200)); *o->p++ = '"'; break;
	case 2:
	case 3:
		out_lit(o, "\"sku\":\"k");
		out_u64(o, gen_below(g, 500));
		out_lit(o, "\",\"price_cents\":");
		out_u64(o, 100 + gen_below(g, 20000));
		break;
	case 5: out_lit(o, "\"q\":\"w"); out_u64(o, gen_below(g, 99)); *o->p++ = '"'; break;
	default: break;
	}
	out_lit(o, "}}");
}

static size_t gen_write(struct gen *g, const struct gen_rec *r, char *line)
{
	struct gen_out o = {line};

	out_lit(&o, "{\"type\":\"");
	out_lit(&o, r->type);
	*o.p++ = '"';
	if (g->o.source) {
		out_lit(&o, ",\"source\":\"");
		out_lit(&o, g->o.source);
		*o.p++ = '"';
	}
	out_lit(&o, ",\"message_id\":\"m");
	out_u64(&o, g->next_mid++);
	out_lit(&o, "\",\"timestamp\":");
	out_time(g, &o, r->ts_ms);
	if (g->o.has_received_at) {
		out_lit(&o, ",\"received_at\":");
		out_time(g, &o, g->clock_ms + 40 + gen_below(g, 2000));
	}
	if (r->previous >= 0 || r->prev_user >= 0) {
		out_lit(&o, ",\"previous_id\":\"");
		if (r->prev_user >= 0) {
			*o.p++ = 'u';
			out_u64(&o, (uint64_t)r->prev_user);
		} else {
			out_installation_value(g, &o, r->previous);
		}
		*o.p++ = '"';
	}
	out_identifiers(g, &o, r);
	if (r->device >= 0 && r->erase_by < 0) {
		out_lit(&o, ",\"platform\":\"");
		out_lit(&o, gen_platforms[g->devices[r->device].platform]);
		*o.p++ = '"';
	}
	if (r->push >= 0)
		out_lit(&o, r->push ? ",\"push_enabled\":true" : ",\"push_enabled\":false");
	if (r->has_attrs)
		out_attributes(g, &o, r->custom);
	if (r->has_consent)
		out_consent(g, &o);
	if (r->event >= 0)
		out_event(g, &o, r->event);
	out_lit(&o, "}\n");
	return (size_t)(o.p - line);
}

/* ---- what happens next ----------------------------------------------- */

static void gen_rec_init(struct gen *g, struct gen_rec *r, const char *type)
{
	memset(r, 0, sizeof(*r));
	r->type = type;
	r->custom = r->device = r->crm = r->mpid = r->previous = r->prev_user = -1;
	r->event = r->push = -1;
	r->erase_by = -1;
	r->ts_ms = g->clock_ms;
	if (gen_roll(g, GEN_RATE_OOO))
		r->ts_ms -= 60000LL * (1 + gen_below(g, 6 * 60)); /* up to 6 h back */
	if (gen_roll(g, GEN_RATE_LATE))
		r->ts_ms -= GEN_DAY_MS * (1 + gen_below(g, 5));
	if (r->ts_ms < 0)
		r->ts_ms = 0;
}

/* The mpid (a device-sync ID) a record about user u sends, if any. */
static void gen_pick_mpid(struct gen *g, struct gen_rec *r, int32_t u)
{
	if (gen_roll(g, GEN_RATE_MPID))
		r->mpid = gen_roll(g, GEN_RATE_CRM_CONFLICT) ? gen_pick_user(g) : u;
}

/* The external ids an identify or server record of user u sends, if any. */
static void gen_pick_externals(struct gen *g, struct gen_rec *r, int32_t u)
{
	gen_pick_mpid(g, r, u);
	if (!gen_roll(g, GEN_RATE_CRM_SEND))
		return;
	if (gen_roll(g, GEN_RATE_CRM_CONFLICT)) {
		/* a CRM merge gone wrong: someone else's, or a second one */
		if (gen_below(g, 2)) {
			r->crm = gen_pick_user(g);
		} else {
			r->crm = u;
			r->crm_second = 1;
		}
	} else if (g->users[u].has_crm) {
		r->crm = u;
	}
}

static void gen_erase(struct gen *g, struct gen_rec *r)
{
	/* half from the active users, half from anyone */
	int32_t u = gen_below(g, 2) ? gen_pick_user(g)
				    : (int32_t)gen_below(g, (uint32_t)g->o.n_users);
	gen_rec_init(g, r, "erase");
	r->erase_by = (int)gen_below(g, 4);
	if (r->erase_by == 1) {
		r->device = g->users[u].devices[0];
	} else if (r->erase_by == 2 && g->users[u].has_crm) {
		r->crm = u;
	} else {
		r->erase_by = 0;
		r->custom = u;
	}
}

/* A backend talking about a user: no installation. */
static void gen_server(struct gen *g, struct gen_rec *r)
{
	int32_t u = gen_pick_user(g);
	uint32_t k = gen_below(g, 10);

	if (k < 4) {
		gen_rec_init(g, r, "track");
		r->custom = u;
		r->event = 3; /* purchase, from the order system */
	} else if (k < 7) {
		gen_rec_init(g, r, "attributes");
		r->custom = u;
		r->has_attrs = 1;
		gen_pick_externals(g, r, u);
	} else if (k < 8) {
		gen_rec_init(g, r, "consent");
		r->custom = u;
		r->has_consent = 1;
	} else {
		/* a device sync: the crm_id, an mpid and a device, not the login */
		gen_rec_init(g, r, "identify");
		r->crm = u;
		if (!g->users[u].has_crm || gen_roll(g, GEN_RATE_CRM_CONFLICT))
			r->crm_second = 1;
		gen_pick_mpid(g, r, u);
		r->device = g->users[u].devices[gen_below(g, g->users[u].n_devices)];
		r->has_attrs = gen_roll(g, GEN_RATE_ATTR);
	}
}

static void gen_login(struct gen *g, struct gen_rec *r, int32_t dev, int32_t who)
{
	struct gen_device *d = &g->devices[dev];

	if (gen_roll(g, GEN_RATE_ALIAS)) {
		gen_rec_init(g, r, "alias");
		r->custom = who;
		/* mostly the anonymous ID; sometimes an older user ID, which the
		 * hub refuses when that user is known */
		if (gen_below(g, 8) == 0)
			r->prev_user = gen_pick_user(g);
		else
			r->previous = dev;
	} else {
		gen_rec_init(g, r, "identify");
		r->custom = who;
		r->device = dev;
		r->has_attrs = gen_roll(g, GEN_RATE_ATTR);
		r->has_email = gen_below(g, 8) == 0;
		r->has_consent = gen_roll(g, GEN_RATE_CONSENT);
		gen_pick_externals(g, r, who);
	}
	d->current = who;
}

static void gen_anonymous_action(struct gen *g, struct gen_rec *r, int32_t dev)
{
	if (gen_below(g, 10) == 0) {
		gen_rec_init(g, r, "identify"); /* an anonymous identify: traits, no login */
		r->device = dev;
		r->has_attrs = 1;
	} else {
		gen_rec_init(g, r, "track");
		r->device = dev;
		r->event = (int)gen_below(g, 2); /* browsing */
	}
}

static void gen_known_action(struct gen *g, struct gen_rec *r, int32_t dev, int32_t who)
{
	uint32_t k = gen_below(g, 20);

	if (k < 13) {
		gen_rec_init(g, r, "track");
		r->event = (int)gen_below(g, 6);
	} else if (k < 16) {
		gen_rec_init(g, r, "identify");
		r->has_attrs = gen_roll(g, GEN_RATE_ATTR);
		r->has_consent = gen_roll(g, GEN_RATE_CONSENT);
		gen_pick_externals(g, r, who);
	} else if (k < 19) {
		gen_rec_init(g, r, "attributes");
		r->has_attrs = 1;
	} else {
		gen_rec_init(g, r, "consent");
		r->has_consent = 1;
	}
	r->custom = who;
	r->device = dev;
}

static void gen_device_action(struct gen *g, struct gen_rec *r)
{
	int32_t u = gen_pick_user(g);
	int32_t dev = g->users[u].devices[gen_below(g, g->users[u].n_devices)];
	struct gen_device *d = &g->devices[dev];

	if (d->current < 0) {
		int is_first = !d->is_seen;
		d->is_seen = 1;
		if (is_first ? !gen_roll(g, GEN_RATE_ANON) : gen_roll(g, GEN_RATE_LOGIN)) {
			int32_t who = d->second >= 0 && gen_below(g, 2) ? d->second : d->owner;
			gen_login(g, r, dev, who);
		} else {
			gen_anonymous_action(g, r, dev);
		}
	} else if (gen_roll(g, GEN_RATE_LOGOUT)) {
		int is_batch_style = gen_below(g, 2);
		gen_rec_init(g, r, is_batch_style ? "identify" : "logout");
		r->custom_null = is_batch_style;
		r->device = dev;
		d->current = -1;
	} else if (d->second >= 0 && gen_roll(g, GEN_RATE_SWITCH)) {
		gen_login(g, r, dev, d->current == d->owner ? d->second : d->owner);
	} else if (gen_roll(g, GEN_RATE_REINSTALL)) {
		d->generation++;
		d->current = -1;
		gen_anonymous_action(g, r, dev);
	} else {
		gen_known_action(g, r, dev, d->current);
	}
	if (r->device >= 0 && gen_roll(g, GEN_RATE_PUSH))
		r->push = (int)gen_below(g, 2);
}

/* Writes the next record (one line, '\n' included, no NUL) into line
 * (GEN_LINE_MAX bytes) and returns its length. */
static size_t gen_next(struct gen *g, char *line)
{
	struct gen_rec r;
	size_t len, slot;

	g->clock_ms += 1 + (int64_t)gen_below(g, (uint32_t)(2 * g->step_ms));
	g->n_made++;
	if (g->ring_n && gen_roll(g, GEN_RATE_DUP)) {
		/* a client retrying a request it saw time out */
		slot = gen_below(g, (uint32_t)(g->ring_n < GEN_RING ? g->ring_n : GEN_RING));
		len = g->ring_len[slot];
		memcpy(line, g->ring[slot], len);
		return len;
	}
	if (gen_roll(g, GEN_RATE_ERASE))
		gen_erase(g, &r);
	else if (gen_roll(g, GEN_RATE_SERVER))
		gen_server(g, &r);
	else
		gen_device_action(g, &r);
	len = gen_write(g, &r, line);
	slot = g->ring_n++ % GEN_RING;
	memcpy(g->ring[slot], line, len);
	g->ring_len[slot] = (uint16_t)len;
	return len;
}

#endif
