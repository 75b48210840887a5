/*
 * transient.h - what the warehouse plugins (BigQuery, Snowflake's SQL API)
 * share about failures worth another try: which libcurl errors are
 * transient, a wait between tries that ends early when the hub stops, and
 * a transfer's own bounds: it ends at a deadline (transient_transfer_ms)
 * and when the hub stops (struct transient_stop), however slowly the
 * server trickles its answer (curl's low-speed limit alone lets a server
 * sending a byte a second hold a pull, and a shutdown, for ever).
 * Header-only, as retry_wait.h, so that a fuzz target may include several
 * plugins into one translation unit.
 */
#ifndef PLUGINS_COMMON_TRANSIENT_H
#define PLUGINS_COMMON_TRANSIENT_H

#include <hub_plugin.h>

#include "mono_clock.h"

#include <curl/curl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

/* 1 when a transfer that failed with c may pass when sent again: the
 * network or the server's side failed (no answer, a cut answer, a body
 * whose gzip is broken in transit); 0 for the errors of the request's own
 * making (a bad URL, an option libcurl lacks), which the same request
 * meets again. */
static inline int transient_curl(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_BAD_CONTENT_ENCODING:
		return 1;
	default:
		return 0;
	}
}

/* Waits ms in slices of 50 ms at most; 1 when the hub asks the call to
 * stop meanwhile (call NULL: outside a pull, never). */
static inline int transient_wait(const struct hub_host *host, const struct hub_call *call,
				 long ms)
{
	while (ms > 0) {
		long slice = ms < 50 ? ms : 50;
		struct timespec d = {0, slice * 1000000L};
		if (call && host->should_stop(call))
			return 1;
		nanosleep(&d, NULL);
		ms -= slice;
	}
	return call && host->should_stop(call);
}

/*
 * A transfer that ends when the hub asks the pull to stop.  curl calls
 * transient_on_progress at least once a second while a transfer waits or
 * reads, and it ends the transfer (CURLE_ABORTED_BY_CALLBACK) once
 * should_stop() says so, setting is_stopped.  The call is the pull's, on
 * its thread (curl calls back on the thread that runs the transfer); NULL
 * (outside a pull, or a cancel, which must go out while the hub stops):
 * never.  Clear is_stopped before each transfer.
 */
struct transient_stop {
	const struct hub_host *host;
	const struct hub_call *call;
	int is_stopped;
};

static inline int transient_on_progress(void *ctx, curl_off_t dl_total, curl_off_t dl_now,
					curl_off_t ul_total, curl_off_t ul_now)
{
	struct transient_stop *s = ctx;

	(void)dl_total, (void)dl_now, (void)ul_total, (void)ul_now;
	if (!s->is_stopped && s->call && s->host->should_stop(s->call))
		s->is_stopped = 1;
	return s->is_stopped;
}

/* Has c's transfers end when s says (s outlives c's transfers). */
static inline void transient_stop_install(CURL *c, struct transient_stop *s)
{
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, transient_on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, s);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
}

/* A transfer's deadline is never below this: Snowflake holds a statement's
 * POST up to 45 s before it answers 202, BigQuery a call up to its
 * timeoutMs (10 s here). */
#define TRANSIENT_TRANSFER_MIN_MS 60000

/*
 * The most one transfer (a request and its whole answer) may take:
 * query_timeout (ms; 0: none set, default_ms), at least
 * TRANSIENT_TRANSFER_MIN_MS.  One answer taking longer than the query it
 * belongs to may run is a server that stalls or trickles it; the run is
 * retried rather than held.
 */
static inline long transient_transfer_ms(int64_t query_timeout_ms, int64_t default_ms)
{
	int64_t ms = query_timeout_ms > 0 ? query_timeout_ms : default_ms;

	if (ms < TRANSIENT_TRANSFER_MIN_MS)
		ms = TRANSIENT_TRANSFER_MIN_MS;
	return ms > LONG_MAX ? LONG_MAX : (long)ms;
}

/* 1 when a transfer that failed with c after elapsed_ms ran out of its
 * transfer_ms, not of its connect or low-speed bound (curl may end it a
 * few ms before it by our clock). */
static inline int transient_is_past(CURLcode c, int64_t elapsed_ms, long transfer_ms)
{
	return c == CURLE_OPERATION_TIMEDOUT && elapsed_ms + 100 >= transfer_ms;
}

/* A transfer that ran out of its transfer_ms, said into err: "<what>
 * <where>: ..." (where may be NULL).  A pull's bound
 * (TRANSIENT_TRANSFER_MIN_MS or more) names the key that sets it; a
 * shorter one is a cancel's own. */
static inline void transient_timed_out(char *err, size_t err_size, const char *what,
				       const char *where, long transfer_ms)
{
	const char *sep = where ? " " : "";

	where = where ? where : "";
	if (transfer_ms >= TRANSIENT_TRANSFER_MIN_MS)
		snprintf(err, err_size, "%s%s%s: no whole answer within %ld s (query_timeout, "
			 "%d s at least): the server stalled, the run is retried", what, sep,
			 where, transfer_ms / 1000, TRANSIENT_TRANSFER_MIN_MS / 1000);
	else
		snprintf(err, err_size, "%s%s%s: no whole answer within %ld ms", what, sep, where,
			 transfer_ms);
}

#endif
