/*
 * transient.h - what the warehouse plugins (BigQuery, Snowflake's SQL API)
 * share about failures worth another try: which libcurl errors are
 * transient, and a wait between tries that ends early when the hub stops.
 * Header-only, as retry_wait.h, so that a fuzz target may include several
 * plugins into one translation unit.
 */
#ifndef PLUGINS_COMMON_TRANSIENT_H
#define PLUGINS_COMMON_TRANSIENT_H

#include <hub_plugin.h>

#include <curl/curl.h>
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

#endif
