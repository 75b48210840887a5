/*
 * metrics.c - counters under one mutex, and their Prometheus text form.
 *
 * Route labels are registered once, before the HTTP threads start, so a
 * request is counted by index (no string work on the hot path).  Statuses
 * per route are a small table filled as they occur; a route that somehow
 * sees more distinct statuses than it has slots counts the rest under
 * status="other".  Intake series (applied, queue depth, commit latency),
 * the exports' lag and the syncs' outcomes are not copied here:
 * metrics_render() reads them from the intake, the exporter (the store)
 * and the scheduler.
 *
 * Never put request data in a label: labels are route templates only.
 * (Two series say which process answers: its start time and its build.)
 */
#include "metrics.h"

#include "alloc.h"
#include "export.h"
#include "scheduler.h"
#include "util.h"
#include "version.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define STATUS_SLOTS 24

struct status_count {
	unsigned status; /* 0: other */
	int64_t n;
};

struct route_counts {
	char *label;
	struct status_count slots[STATUS_SLOTS];
	size_t n_slots;
};

/* The items one push source's plugin skip()ped. */
struct source_count {
	char *source;
	int64_t n;
};

struct metrics {
	pthread_mutex_t lock;
	struct route_counts *routes; /* the table: set up before serving */
	size_t n_routes;
	int64_t rejected;            /* under lock */
	struct source_count *skipped; /* under lock: per push source, as they skip */
	size_t n_skipped;
	int waiting;                 /* under lock */
};

/* Upper bounds of intake_stats.commit_us_buckets (intake.c,
 * commit_bounds_us), as Prometheus "le" in seconds; the last bucket is +Inf. */
static const char *const commit_le[] = {
	"0.001", "0.002", "0.005", "0.01", "0.025", "0.05", "0.1",
	"0.25",  "0.5",   "1",     "2.5",  "5",     "10",  "30",
};
_Static_assert(sizeof(commit_le) / sizeof(commit_le[0]) + 1 ==
		       sizeof(((struct intake_stats *)0)->commit_us_buckets) / sizeof(int64_t),
	       "one le per bucket of intake_stats.commit_us_buckets but +Inf");

/* When this process started, wall clock, ms since the epoch: noted before
 * main() runs (this file is linked into the hub), read-only after. */
static int64_t process_start_ms;

__attribute__((constructor)) static void process_start_note(void)
{
	process_start_ms = time_now_ms();
}

struct metrics *metrics_new(void)
{
	struct metrics *m = hub_calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	pthread_mutex_init(&m->lock, NULL);
	if (metrics_route_add(m, "unmatched") != METRICS_ROUTE_UNMATCHED) {
		metrics_free(m);
		return NULL;
	}
	return m;
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n_routes; i++)
		hub_free(m->routes[i].label);
	hub_free(m->routes);
	for (size_t i = 0; i < m->n_skipped; i++)
		hub_free(m->skipped[i].source);
	hub_free(m->skipped);
	pthread_mutex_destroy(&m->lock);
	hub_free(m);
}

int metrics_route_add(struct metrics *m, const char *label)
{
	struct route_counts *grown;
	char *copy;

	for (size_t i = 0; i < m->n_routes; i++)
		if (strcmp(m->routes[i].label, label) == 0)
			return (int)i;
	copy = hub_strdup(label);
	grown = copy ? hub_realloc(m->routes, (m->n_routes + 1) * sizeof(*grown)) : NULL;
	if (!grown) {
		hub_free(copy);
		return -1;
	}
	m->routes = grown;
	memset(&m->routes[m->n_routes], 0, sizeof(m->routes[0]));
	m->routes[m->n_routes].label = copy;
	return (int)m->n_routes++;
}

/* The slot of `status` in route r; under lock. */
static struct status_count *slot_find(struct route_counts *r, unsigned status, int create)
{
	for (size_t i = 0; i < r->n_slots; i++)
		if (r->slots[i].status == status)
			return &r->slots[i];
	if (!create)
		return NULL;
	if (r->n_slots >= STATUS_SLOTS - 1 && status != 0)
		return slot_find(r, 0, 1);
	r->slots[r->n_slots].status = status;
	r->slots[r->n_slots].n = 0;
	return &r->slots[r->n_slots++];
}

void metrics_count_request(struct metrics *m, int route_id, unsigned status)
{
	if (route_id < 0 || (size_t)route_id >= m->n_routes)
		route_id = METRICS_ROUTE_UNMATCHED;
	pthread_mutex_lock(&m->lock);
	slot_find(&m->routes[route_id], status, 1)->n++;
	pthread_mutex_unlock(&m->lock);
}

void metrics_add_rejected(struct metrics *m, int64_t n_records)
{
	pthread_mutex_lock(&m->lock);
	m->rejected += n_records;
	pthread_mutex_unlock(&m->lock);
}

/* source's count, added when registered or at its first skip; NULL out of
 * memory.  Under lock. */
static struct source_count *skipped_of(struct metrics *m, const char *source)
{
	struct source_count *grown;
	char *copy;

	for (size_t i = 0; i < m->n_skipped; i++)
		if (strcmp(m->skipped[i].source, source) == 0)
			return &m->skipped[i];
	copy = hub_strdup(source);
	grown = copy ? hub_realloc(m->skipped, (m->n_skipped + 1) * sizeof(*grown)) : NULL;
	if (!grown) {
		hub_free(copy);
		return NULL;
	}
	m->skipped = grown;
	m->skipped[m->n_skipped] = (struct source_count){copy, 0};
	return &m->skipped[m->n_skipped++];
}

int metrics_source_add(struct metrics *m, const char *source)
{
	int rc;

	pthread_mutex_lock(&m->lock);
	rc = skipped_of(m, source) ? 0 : -1;
	pthread_mutex_unlock(&m->lock);
	return rc;
}

void metrics_add_skipped(struct metrics *m, const char *source, int64_t n_items)
{
	struct source_count *c;

	if (n_items <= 0)
		return;
	pthread_mutex_lock(&m->lock);
	if ((c = skipped_of(m, source)) != NULL)
		c->n += n_items;
	pthread_mutex_unlock(&m->lock);
}

void metrics_waiting_add(struct metrics *m, int delta)
{
	pthread_mutex_lock(&m->lock);
	m->waiting += delta;
	pthread_mutex_unlock(&m->lock);
}

int64_t metrics_requests(struct metrics *m, int route_id, unsigned status)
{
	const struct status_count *s;
	int64_t n = 0;

	if (route_id < 0 || (size_t)route_id >= m->n_routes)
		return 0;
	pthread_mutex_lock(&m->lock);
	s = slot_find(&m->routes[route_id], status, 0);
	if (s)
		n = s->n;
	pthread_mutex_unlock(&m->lock);
	return n;
}

int64_t metrics_rejected(struct metrics *m)
{
	int64_t n;

	pthread_mutex_lock(&m->lock);
	n = m->rejected;
	pthread_mutex_unlock(&m->lock);
	return n;
}

int metrics_waiting(struct metrics *m)
{
	int n;

	pthread_mutex_lock(&m->lock);
	n = m->waiting;
	pthread_mutex_unlock(&m->lock);
	return n;
}

/* A label value with \ " and newline escaped, as the format requires. */
static void put_label_value(struct strbuf *sb, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			strbuf_puts(sb, "\\\\");
		else if (*s == '"')
			strbuf_puts(sb, "\\\"");
		else if (*s == '\n')
			strbuf_puts(sb, "\\n");
		else
			strbuf_append(sb, s, 1);
	}
}

static void put_header(struct strbuf *sb, const char *name, const char *type, const char *help)
{
	strbuf_printf(sb, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Which process answers: a counter lower than at the last scrape with a
 * later start time is a restart, not a reset; the build says what runs. */
static void render_process(struct strbuf *sb)
{
	put_header(sb, "process_start_time_seconds", "gauge",
		   "Start time of the process since unix epoch in seconds.");
	strbuf_printf(sb, "process_start_time_seconds %lld.%03lld\n",
		      (long long)(process_start_ms / 1000), (long long)(process_start_ms % 1000));
	put_header(sb, "profilehub_build_info", "gauge",
		   "The profilehub build answering, by its version (as profilehub --version"
		   " prints it); always 1.");
	strbuf_puts(sb, "profilehub_build_info{version=\"");
	put_label_value(sb, HUB_VERSION);
	strbuf_puts(sb, "\"} 1\n");
}

/* Every route's counts; under lock. */
static void render_requests(struct metrics *m, struct strbuf *sb)
{
	put_header(sb, "http_requests_total", "counter",
		   "HTTP requests answered, by route and status.");
	for (size_t i = 0; i < m->n_routes; i++) {
		const struct route_counts *r = &m->routes[i];
		for (size_t j = 0; j < r->n_slots; j++) {
			strbuf_puts(sb, "http_requests_total{route=\"");
			put_label_value(sb, r->label);
			if (r->slots[j].status)
				strbuf_printf(sb, "\",status=\"%u\"} %lld\n", r->slots[j].status,
					      (long long)r->slots[j].n);
			else
				strbuf_printf(sb, "\",status=\"other\"} %lld\n",
					      (long long)r->slots[j].n);
		}
	}
}

static void render_intake(const struct intake_stats *st, struct strbuf *sb)
{
	int64_t cumulative = 0;

	put_header(sb, "records_applied_total", "counter",
		   "Records applied to profiles by the intake writer.");
	strbuf_printf(sb, "records_applied_total %lld\n", (long long)st->applied);
	put_header(sb, "records_duplicates_total", "counter",
		   "Records dropped as duplicates: their (source, message_id) was stored before.");
	strbuf_printf(sb, "records_duplicates_total %lld\n", (long long)st->duplicates);
	put_header(sb, "records_blocked_total", "counter",
		   "Records dropped because an identifier they carry is on the erasure block list"
		   " (an erased person's, privacy.erase_block_days).");
	strbuf_printf(sb, "records_blocked_total %lld\n", (long long)st->blocked);
	put_header(sb, "records_refused_total", "counter",
		   "Records the identity rules refused after validation: an alias of two"
		   " known profiles (IDENTITY.md).");
	strbuf_printf(sb, "records_refused_total %lld\n", (long long)st->refused);
	put_header(sb, "intake_queue_depth", "gauge", "Batches waiting in the intake queue.");
	strbuf_printf(sb, "intake_queue_depth %d\n", st->queue_depth);
	put_header(sb, "intake_commit_seconds", "histogram",
		   "Duration of the intake's durable commits.");
	for (size_t i = 0; i < ARRAY_SIZE(st->commit_us_buckets); i++) {
		cumulative += st->commit_us_buckets[i];
		strbuf_printf(sb, "intake_commit_seconds_bucket{le=\"%s\"} %lld\n",
			      i < ARRAY_SIZE(commit_le) ? commit_le[i] : "+Inf",
			      (long long)cumulative);
	}
	/* exact: whole microseconds, printed as seconds with six decimals */
	strbuf_printf(sb, "intake_commit_seconds_sum %lld.%06lld\n",
		      (long long)(st->commit_us_sum / 1000000),
		      (long long)(st->commit_us_sum % 1000000));
	strbuf_printf(sb, "intake_commit_seconds_count %lld\n", (long long)cumulative);
	put_header(sb, "intake_commit_failures_total", "counter",
		   "Group commits that failed (their requests were answered 503).");
	strbuf_printf(sb, "intake_commit_failures_total %lld\n", (long long)st->failed_commits);
}

/* The line `name`{`label`="`label_value`"} `value` of a series. */
static void put_sample(struct strbuf *sb, const char *name, const char *label,
		       const char *label_value, const char *value)
{
	strbuf_printf(sb, "%s{%s=\"", name, label);
	put_label_value(sb, label_value);
	strbuf_printf(sb, "\"} %s\n", value);
}

/* Each export's lag, read from the store (export_lag_provider: indexed
 * probes, no scan), and how old that read is (another scrape's read may
 * be under way); nothing when it cannot be read (logged there). */
static void render_exports(struct exporter *ex, struct strbuf *sb)
{
	size_t max = export_count(ex);
	struct export_lag *lags = max ? hub_calloc(max, sizeof(*lags)) : NULL;
	int64_t age_ms = 0;
	int n = lags ? export_lag_provider(ex, lags, max, &age_ms) : 0;
	char value[24];

	if (n > 0)
		put_header(sb, "export_lag_changes", "gauge",
			   "Seqs of the change feed past the export's cursor (an upper bound"
			   " of the changes it has still to deliver; 0: caught up).");
	for (int i = 0; i < n; i++) {
		int64_t lag = lags[i].last_seq - lags[i].cursor;
		snprintf(value, sizeof(value), "%lld", (long long)(lag > 0 ? lag : 0));
		put_sample(sb, "export_lag_changes", "export", lags[i].name, value);
	}
	if (n > 0) {
		put_header(sb, "export_lag_age_seconds", "gauge",
			   "Seconds since export_lag_changes was read from the store (0: by this"
			   " scrape; more: the last read's, shown while another scrape's read"
			   " waits on the store).");
		strbuf_printf(sb, "export_lag_age_seconds %lld.%03lld\n",
			      (long long)(age_ms / 1000), (long long)(age_ms % 1000));
	}
	hub_free(lags);
}

/* The value of series k of render_export_stats() for st, in value: the
 * last (export_failing_seconds) in seconds with milliseconds. */
static void export_stat_value(const struct export_stat *st, size_t k, char *value, size_t len)
{
	const int64_t v[] = {st->delivered,  st->dead_lettered, st->is_disabled,
			     st->is_leased,  st->is_failing,    st->failed_attempts};

	if (k < ARRAY_SIZE(v))
		snprintf(value, len, "%lld", (long long)v[k]);
	else
		snprintf(value, len, "%lld.%03lld", (long long)(st->failing_ms / 1000),
			 (long long)(st->failing_ms % 1000));
}

/* Of each export this process runs: its deliveries and dead letters since
 * it started, whether it is disabled, whether it holds the lease and
 * whether its attempts fail (from the workers, no store read: shown also
 * while the store cannot be read). */
static void render_export_stats(struct exporter *ex, struct strbuf *sb)
{
	static const struct {
		const char *name, *type, *help;
	} series[] = {
		{"export_delivered_total", "counter",
		 "Changes the export delivered (its plugin accepted), in this process."},
		{"export_dead_lettered_total", "counter",
		 "Changes the export dead-lettered (refused by its receiver), in this process."},
		{"export_disabled", "gauge",
		 "1 while the export is disabled (refused credentials, a wrong url or table):"
		 " it waits for a change of its configuration or `profilehub exports enable`."},
		{"export_lease_held", "gauge",
		 "1 while this process holds the export's lease (it alone delivers the export),"
		 " else 0; summed over the processes: 1."},
		{"export_failing", "gauge",
		 "1 while the export's attempts fail (its receiver down or refusing for now, the"
		 " store refusing its cursor): it retries with backoff; 0 once one delivers, and"
		 " in a process waiting for the lease another holds (that one says)."},
		{"export_failed_attempts", "gauge",
		 "Attempts of the export that failed in a row (0: its last one delivered)."},
		{"export_failing_seconds", "gauge",
		 "Seconds since the export's first failed attempt in a row (0: not failing)."},
	};
	size_t max = export_count(ex);
	struct export_stat *st = max ? hub_calloc(max, sizeof(*st)) : NULL;
	size_t n = st ? export_stats(ex, st, max) : 0;
	char value[32];

	for (size_t k = 0; n > 0 && k < ARRAY_SIZE(series); k++) {
		put_header(sb, series[k].name, series[k].type, series[k].help);
		for (size_t i = 0; i < n; i++) {
			export_stat_value(&st[i], k, value, sizeof(value));
			put_sample(sb, series[k].name, "export", st[i].name, value);
		}
	}
	hub_free(st);
}

/* records_skipped_total per source: each push source that skipped, and
 * each pull source (its runs since the hub started, the running one so
 * far).  Pulls were counted in their reports and status only, and the
 * pushes' one unlabelled total named no source. */
static void render_skipped(struct metrics *m, struct scheduler *sched, struct strbuf *sb)
{
	size_t max = scheduler_source_count(sched), n;
	struct sched_sync_stat *st = max ? hub_calloc(max, sizeof(*st)) : NULL;
	char value[24];

	put_header(sb, "records_skipped_total", "counter",
		   "Items a source's plugin deliberately did not store (skip(): an mParticle"
		   " batch of an environment the source does not keep), per source: a push"
		   " source's in accepted requests, a pull source's in its syncs. Not an error:"
		   " see records_rejected_total for those.");
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->n_skipped; i++) {
		snprintf(value, sizeof(value), "%lld", (long long)m->skipped[i].n);
		put_sample(sb, "records_skipped_total", "source", m->skipped[i].source, value);
	}
	pthread_mutex_unlock(&m->lock);
	n = st ? scheduler_sync_stats(sched, st, max) : 0;
	for (size_t i = 0; i < n; i++) {
		snprintf(value, sizeof(value), "%lld", (long long)st[i].skipped);
		put_sample(sb, "records_skipped_total", "source", st[i].name, value);
	}
	hub_free(st);
}

/* Each pull source's last success (only those with one) and whether its
 * last run failed. */
static void render_syncs(struct scheduler *sched, struct strbuf *sb)
{
	size_t max = scheduler_source_count(sched), n;
	struct sched_sync_stat *st = max ? hub_calloc(max, sizeof(*st)) : NULL;
	char value[32];

	n = st ? scheduler_sync_stats(sched, st, max) : 0;
	if (n == 0)
		goto out;
	put_header(sb, "sync_last_success_timestamp_seconds", "gauge",
		   "When the source's last successful sync ended (Unix time), in this"
		   " process since it started.");
	for (size_t i = 0; i < n; i++) {
		snprintf(value, sizeof(value), "%lld.%03lld", (long long)(st[i].last_ok_ms / 1000),
			 (long long)(st[i].last_ok_ms % 1000));
		if (st[i].last_ok_ms)
			put_sample(sb, "sync_last_success_timestamp_seconds", "source", st[i].name,
				   value);
	}
	put_header(sb, "sync_last_run_failed", "gauge",
		   "1 when the source's last sync failed (or its plugin refused its"
		   " configuration), else 0.");
	for (size_t i = 0; i < n; i++)
		put_sample(sb, "sync_last_run_failed", "source", st[i].name,
			   st[i].is_last_failed ? "1" : "0");
out:
	hub_free(st);
}

char *metrics_readiness(struct intake *in, unsigned *status)
{
	struct intake_stats st = {0};
	struct strbuf sb;
	char since[40];

	if (in)
		intake_get_stats(in, &st);
	*status = st.failing_since_ms || st.stalled_ms ? 503 : 200;
	if (*status == 200)
		return hub_strdup("{\"status\":\"ok\"}");
	strbuf_init(&sb);
	if (st.failing_since_ms)
		strbuf_printf(&sb, "{\"status\":\"failing\",\"store\":\"commits failing since %s"
			      " (%lld batches refused); the cause is in the hub's log\"}",
			      time_format_ms(st.failing_since_ms, since, sizeof(since)),
			      (long long)st.failing_refused);
	else
		strbuf_printf(&sb, "{\"status\":\"stalled\",\"store\":\"a commit has waited %lld s"
			      " for the store (on PostgreSQL: a lock another session holds on a"
			      " table, see pg_locks); requests wait with it\"}",
			      (long long)(st.stalled_ms / 1000));
	if (sb.failed) {
		strbuf_free(&sb);
		return NULL;
	}
	return strbuf_take(&sb);
}

char *metrics_render(struct metrics *m, const struct metrics_feeds *f)
{
	struct strbuf sb;
	struct intake_stats st;

	strbuf_init(&sb);
	render_process(&sb);
	pthread_mutex_lock(&m->lock);
	render_requests(m, &sb);
	put_header(&sb, "records_rejected_total", "counter",
		   "Records refused at the door: invalid, or handed over by a request that was"
		   " refused. A request its plugin refused before handing a record over (bad"
		   " JSON, an event it could not read) counts none: see http_requests_total"
		   " by status.");
	strbuf_printf(&sb, "records_rejected_total %lld\n", (long long)m->rejected);
	put_header(&sb, "http_requests_waiting_commit", "gauge",
		   "Requests whose records are queued or being committed.");
	strbuf_printf(&sb, "http_requests_waiting_commit %d\n", m->waiting);
	pthread_mutex_unlock(&m->lock);
	render_skipped(m, f ? f->sched : NULL, &sb);
	if (f && f->intake) {
		intake_get_stats(f->intake, &st);
		render_intake(&st, &sb);
	}
	if (f && f->exports) {
		render_exports(f->exports, &sb);
		render_export_stats(f->exports, &sb);
	}
	if (f && f->sched)
		render_syncs(f->sched, &sb);
	if (sb.failed) {
		strbuf_free(&sb);
		return NULL;
	}
	return strbuf_take(&sb);
}
