/*
 * metrics.h - the hub's counters and their Prometheus text form (format
 * 0.0.4): HTTP requests by route and status, records rejected at the door,
 * records skipped per source,
 * requests waiting for their commit, and, read from the intake when
 * rendered, records applied, queue depth and the commit latency histogram,
 * each export's lag and each pull source's last success and failure; also
 * the readiness answer (/readyz), read from the intake too.  Every
 * rendering starts with process_start_time_seconds and
 * profilehub_build_info{version=...} 1, so that a restart shows.
 */
#ifndef HUB_METRICS_H
#define HUB_METRICS_H

#include "intake.h"

#include <stdint.h>

struct metrics;

/* The route label of requests that matched no route. */
#define METRICS_ROUTE_UNMATCHED 0

/* A new set of counters with the one route "unmatched".  NULL: no memory. */
struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* Registers a route label ("/healthz", "/in/web/v1/batch") and returns its
 * id, or -1 (no memory).  Call before the counters are shared between
 * threads: the label table is read without a lock afterwards. */
int metrics_route_add(struct metrics *m, const char *label);

/* Thread-safe updates. */
void metrics_count_request(struct metrics *m, int route_id, unsigned status);
void metrics_add_rejected(struct metrics *m, int64_t n_records);
/* Registers a push source, whose records_skipped_total is shown from the
 * start (0), before it first skips.  0, or -1 (no memory). */
int metrics_source_add(struct metrics *m, const char *source);
/* Items a push route of `source` skip()ped (ABI 1.12) in an accepted
 * request (records_skipped_total{source=...}). */
void metrics_add_skipped(struct metrics *m, const char *source, int64_t n_items);
void metrics_waiting_add(struct metrics *m, int delta);

/* Reads, for tests and the text form. */
int64_t metrics_requests(struct metrics *m, int route_id, unsigned status);
int64_t metrics_rejected(struct metrics *m);
int metrics_waiting(struct metrics *m);

/* The answer of GET /readyz (readiness; /healthz is liveness): 200
 * {"status":"ok"} while the intake's groups commit (or there is no intake),
 * 503 {"status":"failing","store":"commits failing since <time> (<n>
 * batches refused); the cause is in the hub's log"} while they cannot
 * (intake_stats.failing_since_ms).  Never the store's own error: it names
 * the file or the server, and the probe needs no token.  *status gets the
 * HTTP status; returns a hub_malloc'd string or NULL (no memory). */
char *metrics_readiness(struct intake *in, unsigned *status);

struct exporter;
struct scheduler;

/* What /metrics reads besides its own counters when rendered (borrowed;
 * each may be NULL: no series of it). */
struct metrics_feeds {
	struct intake *intake;     /* records, queue, commits */
	struct exporter *exports;  /* export_lag_changes, per export */
	struct scheduler *sched;   /* sync_last_success_timestamp_seconds and
				    * sync_last_run_failed, per pull source */
};

/* The Prometheus text of everything; `f` may be NULL (the counters only).
 * Returns a hub_malloc'd string or NULL (no memory). */
char *metrics_render(struct metrics *m, const struct metrics_feeds *f);

#endif
