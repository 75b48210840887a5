/*
 * bq_error.c - Google's error envelope to a hub_rc and one line for people.
 *
 *   {"error": {"code": 400, "message": "Unrecognized name: x at [1:8]",
 *              "errors": [{"message": "...", "domain": "global",
 *                          "reason": "invalidQuery", "location": "q"}],
 *              "status": "INVALID_ARGUMENT"}}
 *
 * The reason decides before the status: BigQuery answers a rate limit
 * with 403 rateLimitExceeded (retry) and a missing permission with 403
 * accessDenied (disable).  A job that failed may come in a 200 answer
 * instead: errors[] of such reasons and no schema (bq_error_of_job).
 * Never echoes a header or a token: only the envelope's own message,
 * which names tables and columns, not secrets.
 *
 * quotaExceeded is a longer-term quota, for which Google's "Troubleshoot
 * quota and limit errors" says to wait 10 minutes or longer (unlike
 * rateLimitExceeded: seconds, with backoff): HUB_ERR_BUSY, "retry after
 * 600s: " (or the server's Retry-After when longer), so the run ends and
 * the scheduler waits that long before the next, as bq_job.c does for a
 * Retry-After past the run's waits.
 */
#include "bq.h"

#include "../common/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUOTA_WAIT_S 600L /* quotaExceeded: "wait 10 minutes or longer" */

struct reason_rc {
	const char *reason;
	hub_rc rc;
};

/* As BigQuery's error table (cloud.google.com/bigquery/docs/error-messages)
 * says of each: temporary, retried; else what the source's config or
 * credentials must change, which disables it, the reason named.  Job errors
 * (a 200 answer) have no status to fall back on: a reason they may carry is
 * listed even where its status alone would decide. */
static const struct reason_rc reasons[] = {
	{"rateLimitExceeded", HUB_RETRY},
	{"backendError", HUB_RETRY},
	{"internalError", HUB_RETRY},
	{"jobBackendError", HUB_RETRY},
	{"jobInternalError", HUB_RETRY},
	{"jobRateLimitExceeded", HUB_RETRY}, /* 400: a table's operation rate, for now */
	{"tableUnavailable", HUB_RETRY},
	{"quotaExceeded", HUB_ERR_BUSY}, /* 10 minutes or more: the run ends (above) */
	{"blocked", HUB_RETRY},         /* 403: "temporarily denylisted": not credentials */
	{"accessDenied", HUB_ERR_AUTH},
	{"authError", HUB_ERR_AUTH},
	{"forbidden", HUB_ERR_AUTH},
	{"unauthorized", HUB_ERR_AUTH},
	{"billingNotEnabled", HUB_ERR_CONFIG},
	{"billingTierLimitExceeded", HUB_ERR_CONFIG},
	{"invalidQuery", HUB_ERR_CONFIG},
	{"invalid", HUB_ERR_CONFIG},
	{"invalidParameter", HUB_ERR_CONFIG},
	{"invalidUser", HUB_ERR_CONFIG},
	{"notFound", HUB_ERR_CONFIG},
	{"notImplemented", HUB_ERR_CONFIG}, /* 501: a feature the query uses */
	{"responseTooLarge", HUB_ERR_CONFIG},
	{"resourcesExceeded", HUB_ERR_CONFIG},
	{"timeout", HUB_ERR_CONFIG}, /* the job ran past BigQuery's limit: the same query would */
};

static const char *first_reason(json_t *error)
{
	json_t *errors = json_object_get(error, "errors");
	const char *r = json_string_value(json_object_get(json_array_get(errors, 0), "reason"));

	return r ? r : "";
}

const char *bq_error_reason(const char *body, char *buf, size_t size)
{
	json_t *root = body ? json_loads(body, 0, NULL) : NULL;

	snprintf(buf, size, "%s", first_reason(json_object_get(root, "error")));
	json_decref(root);
	return buf;
}

static hub_rc rc_of(long status, const char *reason)
{
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (strcmp(reason, reasons[i].reason) == 0)
			return reasons[i].rc;
	if (status == 429 || status == 408 || (status >= 500 && status != 501))
		return HUB_RETRY;
	if (status == 401 || status == 403)
		return HUB_ERR_AUTH;
	if (status >= 400 && status < 500)
		return HUB_ERR_CONFIG;
	return HUB_ERR_INTERNAL;
}

static const char *hint(hub_rc rc, const char *reason)
{
	if (rc == HUB_ERR_AUTH)
		return " (the credentials need the BigQuery Job User role on the project and "
		       "Data Viewer on the data)";
	if (strcmp(reason, "notFound") == 0)
		return " (check project, location and the table names in query)";
	if (rc == HUB_ERR_BUSY)
		return " (a longer-term quota: the run ends, and the next starts from the "
		       "checkpoint after the wait)";
	return "";
}

/* "retry after Ns: " of a failure to try again later, or "".  A quota's
 * wait is QUOTA_WAIT_S at least. */
static void retry_prefix(hub_rc rc, const char *retry_after, char *buf, size_t size)
{
	long asked = retry_after && *retry_after ? strtol(retry_after, NULL, 10) : 0;

	buf[0] = '\0';
	if (rc == HUB_ERR_BUSY)
		snprintf(buf, size, "retry after %lds: ",
			 asked > QUOTA_WAIT_S ? asked : QUOTA_WAIT_S);
	else if (rc == HUB_RETRY && retry_after && *retry_after)
		snprintf(buf, size, "retry after %.20ss: ", retry_after);
}

/* One line for people: "[retry after Ns: ]BigQuery REASON (WHERE): MESSAGE[ hint]". */
static void describe(hub_rc rc, const char *reason, const char *msg, const char *where,
		     const char *retry_after, char *err, size_t err_size)
{
	char prefix[64], what[96];

	retry_prefix(rc, retry_after, prefix, sizeof(prefix));
	/* reason and message are UTF-8 (jansson read them): cut at a
	 * character boundary */
	if (*reason)
		snprintf(what, sizeof(what), "%.*s (%s)", (int)text_utf8_prefix(reason, 60),
			 reason, where);
	else
		snprintf(what, sizeof(what), "%s", where);
	snprintf(err, err_size, "%sBigQuery %s: %.*s%s", prefix, what,
		 (int)text_utf8_prefix(msg, 600), msg, hint(rc, reason));
	text_utf8_repair(err); /* in case err_size cut it */
	for (char *p = err; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
}

hub_rc bq_error_decode(long status, const char *body, const char *retry_after, char *err,
		       size_t err_size)
{
	json_t *root = body ? json_loads(body, 0, NULL) : NULL;
	json_t *error = json_object_get(root, "error");
	const char *reason = first_reason(error);
	const char *msg = json_string_value(json_object_get(error, "message"));
	char where[32];
	hub_rc rc = rc_of(status, reason);

	if (!msg)
		msg = json_is_string(error) ? json_string_value(error) : "(no message)";
	snprintf(where, sizeof(where), "HTTP %ld", status);
	describe(rc, reason, msg, where, retry_after, err, err_size);
	json_decref(root);
	return rc;
}

hub_rc bq_error_of_job(json_t *root, char *err, size_t err_size)
{
	json_t *first = json_array_get(json_object_get(root, "errors"), 0);
	const char *reason = json_string_value(json_object_get(first, "reason"));
	const char *msg = json_string_value(json_object_get(first, "message"));
	hub_rc rc;

	if (!json_is_true(json_object_get(root, "jobComplete")) || !first ||
	    json_object_get(root, "schema"))
		return HUB_OK;
	rc = rc_of(0, reason ? reason : "");
	describe(rc, reason ? reason : "", msg ? msg : "(no message)", "the job failed", NULL,
		 err, err_size);
	return rc;
}
