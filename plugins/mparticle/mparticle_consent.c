/*
 * mparticle_consent.c - which GDPR consent purposes set which subscription
 * channel: the `gdpr_purposes` map ({purpose: channel or [channels]}), or,
 * without it, gdpr_email_purpose / gdpr_sms_purpose (defaults
 * email_marketing and sms_marketing).  Purposes and channels are compared
 * without case.
 *
 * A purpose a batch sends that no setting maps is checked and not stored:
 * the plugin logs it once per purpose name (up to MP_UNMAPPED_MAX names),
 * so consent the hub drops is never dropped silently.  It is logged as the
 * batch is read, also when the request is then refused: the line is about
 * the source's settings, true whatever that request's fate (its fixed
 * resend is not logged again), and "only for stored batches" cannot be
 * kept: the hub may still refuse a record or fail the commit after the
 * plugin emitted, and never tells the plugin.
 */
#include "mparticle.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MP_UNMAPPED_MAX 32 /* unmapped purpose names logged, then one last line */

/* The names already logged: shared by the HTTP threads. */
struct mp_unmapped {
	pthread_mutex_t lock;
	char *names[MP_UNMAPPED_MAX];
	size_t n;
	int full_said;
};

static const struct {
	const char *name;
	unsigned bit;
} mp_channels[] = {
	{"email_marketing", MP_CH_EMAIL},
	{"sms_marketing", MP_CH_SMS},
};

static unsigned channel_bit(const char *name)
{
	for (size_t i = 0; i < sizeof(mp_channels) / sizeof(mp_channels[0]); i++)
		if (strcasecmp(name, mp_channels[i].name) == 0)
			return mp_channels[i].bit;
	return 0;
}

/* One value of the map: "email_marketing", or a list of channels. */
static hub_rc purpose_channels(const char *purpose, json_t *v, unsigned *bits, char *err,
			       size_t err_size)
{
	size_t i;
	json_t *item;

	*bits = 0;
	if (json_is_string(v))
		*bits = channel_bit(json_string_value(v));
	json_array_foreach(v, i, item) {
		unsigned bit = json_is_string(item) ? channel_bit(json_string_value(item)) : 0;
		if (!bit) {
			*bits = 0;
			break;
		}
		*bits |= bit;
	}
	if (*bits)
		return HUB_OK;
	snprintf(err, err_size, "gdpr_purposes.%.40s: must be a channel, email_marketing or "
		 "sms_marketing, or a list of them", purpose);
	return HUB_ERR_CONFIG;
}

static hub_rc purpose_add(struct mp_purposes *p, const char *name, unsigned bits)
{
	struct mp_purpose *grown;

	for (size_t i = 0; i < p->n; i++) {
		if (strcasecmp(p->items[i].name, name) == 0) {
			p->items[i].channels |= bits; /* one purpose named in both keys */
			return HUB_OK;
		}
	}
	if (!(grown = realloc(p->items, (p->n + 1) * sizeof(*grown))))
		return HUB_ERR_NOMEM;
	p->items = grown;
	if (!(p->items[p->n].name = strdup(name)))
		return HUB_ERR_NOMEM;
	p->items[p->n++].channels = bits;
	return HUB_OK;
}

/* gdpr_purposes: {purpose: channel(s)}. */
static hub_rc purposes_from_map(const char *text, struct mp_purposes *p, char *err,
				size_t err_size)
{
	json_t *map = json_loads(text, 0, NULL), *v;
	const char *purpose;
	unsigned bits;
	hub_rc rc = HUB_OK;

	if (!json_is_object(map) || json_object_size(map) == 0) {
		snprintf(err, err_size, "gdpr_purposes: must be a map of purpose: channel "
					"(email_marketing or sms_marketing)");
		rc = HUB_ERR_CONFIG;
		goto out;
	}
	json_object_foreach(map, purpose, v) {
		if (!*purpose) {
			snprintf(err, err_size, "gdpr_purposes: a purpose name is empty");
			rc = HUB_ERR_CONFIG;
			goto out;
		}
		if ((rc = purpose_channels(purpose, v, &bits, err, err_size)) ||
		    (rc = purpose_add(p, purpose, bits)))
			goto out;
	}
out:
	json_decref(map);
	return rc;
}

void mp_purposes_free(struct mp_purposes *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->items[i].name);
	free(p->items);
	p->items = NULL;
	p->n = 0;
}

hub_rc mp_purposes_read(const struct hub_host *host, const struct hub_instance *inst,
			struct mp_purposes *p, char *err, size_t err_size)
{
	const char *map = host->config_json ? host->config_json(inst, "gdpr_purposes") : NULL;
	const char *email = host->config_string(inst, "gdpr_email_purpose");
	const char *sms = host->config_string(inst, "gdpr_sms_purpose");
	hub_rc rc;

	p->items = NULL;
	p->n = 0;
	if ((email && !*email) || (sms && !*sms)) {
		snprintf(err, err_size, "%s: must not be empty",
			 email && !*email ? "gdpr_email_purpose" : "gdpr_sms_purpose");
		return HUB_ERR_CONFIG;
	}
	if (map && (email || sms)) {
		snprintf(err, err_size, "set gdpr_purposes or gdpr_email_purpose / "
					"gdpr_sms_purpose, not both");
		return HUB_ERR_CONFIG;
	}
	if (map)
		rc = purposes_from_map(map, p, err, err_size);
	else if ((rc = purpose_add(p, email ? email : "email_marketing", MP_CH_EMAIL)) == HUB_OK)
		rc = purpose_add(p, sms ? sms : "sms_marketing", MP_CH_SMS);
	if (rc)
		mp_purposes_free(p);
	return rc;
}

unsigned mp_purpose_channels(const struct mp_state *st, const char *purpose)
{
	for (size_t i = 0; i < st->purposes.n; i++)
		if (strcasecmp(st->purposes.items[i].name, purpose) == 0)
			return st->purposes.items[i].channels;
	return 0;
}

/* ---- unmapped purposes: logged once per name ----------------------------- */

struct mp_unmapped *mp_unmapped_new(void)
{
	struct mp_unmapped *u = calloc(1, sizeof(*u));

	if (u && pthread_mutex_init(&u->lock, NULL) != 0) {
		free(u);
		return NULL;
	}
	return u;
}

void mp_unmapped_free(struct mp_unmapped *u)
{
	if (!u)
		return;
	for (size_t i = 0; i < u->n; i++)
		free(u->names[i]);
	pthread_mutex_destroy(&u->lock);
	free(u);
}

/* 1: `purpose` is new (now remembered), 0: said before, -1: the table is
 * full or could not grow (*full_first says whether this is the first time,
 * *n_named how many it holds). */
static int unmapped_note(struct mp_unmapped *u, const char *purpose, int *full_first,
			 size_t *n_named)
{
	int rc = 1;

	pthread_mutex_lock(&u->lock);
	for (size_t i = 0; i < u->n && rc == 1; i++)
		if (strcasecmp(u->names[i], purpose) == 0)
			rc = 0;
	if (rc == 1 && (u->n == MP_UNMAPPED_MAX || !(u->names[u->n] = strdup(purpose)))) {
		rc = -1;
		*full_first = !u->full_said;
		*n_named = u->n;
		u->full_said = 1;
	} else if (rc == 1) {
		u->n++;
	}
	pthread_mutex_unlock(&u->lock);
	return rc;
}

/* The purpose as it may appear in a log line: printable ASCII, cut. */
static void printable(const char *in, char *out, size_t out_size)
{
	size_t n = 0;

	for (; *in && n + 1 < out_size; in++)
		out[n++] = (*in >= 0x20 && *in < 0x7f && *in != '"') ? *in : '?';
	out[n] = '\0';
}

void mp_unmapped_purpose(const struct mp_state *st, const char *purpose)
{
	char shown[65];
	int full_first = 0;
	size_t n_named = 0;
	int rc;

	if (!st->unmapped ||
	    (rc = unmapped_note(st->unmapped, purpose, &full_first, &n_named)) == 0)
		return;
	if (rc < 0) {
		if (full_first)
			st->host->log(st->inst, HUB_LOG_WARN, "more unmapped GDPR purposes: no longer "
				      "logged (%zu named already%s)", n_named,
				      n_named < MP_UNMAPPED_MAX ? "; out of memory" : "");
		return;
	}
	printable(purpose, shown, sizeof(shown));
	st->host->log(st->inst, HUB_LOG_WARN, "consent_state.gdpr.\"%s\": no subscription "
		      "channel for this purpose (gdpr_purposes): its consent is not stored "
		      "(logged once per purpose)", shown);
}
