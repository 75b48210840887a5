/*
 * http_deadline.c - the header deadline (see http_deadline.h).
 *
 * Thread ownership: the watch list is shared between libmicrohttpd's
 * threads (watch, unwatch, headers_in, request_done) and the sweeper, all
 * under `lock`.  The sweeper wakes twice a second at most.
 *
 * The sweeper's shutdown(fd) never reaches a reused descriptor: the watch
 * leaves the list (deadline_unwatch, under `lock`) in libmicrohttpd's
 * MHD_CONNECTION_NOTIFY_CLOSED, which it calls before it closes the
 * socket on every path; so while a watch is listed its fd is still open.
 */
#include "http_deadline.h"

#include "alloc.h"
#include "log.h"
#include "util.h"

#include <pthread.h>
#include <sys/socket.h>
#include <time.h>

#define SWEEP_EVERY_MS 500

struct conn_watch {
	int fd;
	int64_t since_ms;       /* monotonic: when the clock started */
	int is_waiting;         /* headers not in yet */
	int is_cut;
	struct conn_watch *prev, *next;
};

struct deadline {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t sweeper;
	int is_stopping;                    /* under lock */
	int64_t limit_ms;
	int64_t n_cut;                      /* under lock */
	struct conn_watch *head;            /* under lock */
};

static void sweep(struct deadline *d)
{
	int64_t now = time_mono_ms();
	for (struct conn_watch *w = d->head; w; w = w->next) {
		if (!w->is_waiting || w->is_cut || now - w->since_ms <= d->limit_ms)
			continue;
		/* the read side sees EOF: libmicrohttpd closes the connection */
		shutdown(w->fd, SHUT_RDWR);
		w->is_cut = 1;
		d->n_cut++;
		log_debug("http", "closing a connection: no request headers within %lld ms",
			  (long long)d->limit_ms);
	}
}

static void *sweeper_main(void *arg)
{
	struct deadline *d = arg;
	struct timespec ts;

	pthread_setname_np(pthread_self(), "hub-deadline");
	pthread_mutex_lock(&d->lock);
	while (!d->is_stopping) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += SWEEP_EVERY_MS * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&d->wake, &d->lock, &ts);
		if (!d->is_stopping)
			sweep(d);
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

int deadline_start(struct deadline **out, int64_t limit_ms)
{
	struct deadline *d = hub_calloc(1, sizeof(*d));

	if (!d)
		return -1;
	if (time_cond_init(&d->wake)) {
		hub_free(d);
		return -1;
	}
	d->limit_ms = limit_ms;
	pthread_mutex_init(&d->lock, NULL);
	if (pthread_create(&d->sweeper, NULL, sweeper_main, d) != 0) {
		pthread_mutex_destroy(&d->lock);
		pthread_cond_destroy(&d->wake);
		hub_free(d);
		return -1;
	}
	*out = d;
	return 0;
}

void deadline_stop(struct deadline *d)
{
	struct conn_watch *w, *next;

	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	d->is_stopping = 1;
	pthread_cond_signal(&d->wake);
	pthread_mutex_unlock(&d->lock);
	pthread_join(d->sweeper, NULL);
	for (w = d->head; w; w = next) {
		next = w->next;
		hub_free(w);
	}
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->wake);
	hub_free(d);
}

struct conn_watch *deadline_watch(struct deadline *d, int fd)
{
	struct conn_watch *w = hub_calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->fd = fd;
	w->since_ms = time_mono_ms();
	w->is_waiting = 1;
	pthread_mutex_lock(&d->lock);
	w->next = d->head;
	if (d->head)
		d->head->prev = w;
	d->head = w;
	pthread_mutex_unlock(&d->lock);
	return w;
}

void deadline_unwatch(struct deadline *d, struct conn_watch *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&d->lock);
	if (w->prev)
		w->prev->next = w->next;
	else
		d->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	pthread_mutex_unlock(&d->lock);
	hub_free(w);
}

void deadline_headers_in(struct deadline *d, struct conn_watch *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&d->lock);
	w->is_waiting = 0;
	pthread_mutex_unlock(&d->lock);
}

void deadline_request_done(struct deadline *d, struct conn_watch *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&d->lock);
	w->is_waiting = 1;
	w->since_ms = time_mono_ms();
	pthread_mutex_unlock(&d->lock);
}

int64_t deadline_cut_count(struct deadline *d)
{
	int64_t n;
	pthread_mutex_lock(&d->lock);
	n = d->n_cut;
	pthread_mutex_unlock(&d->lock);
	return n;
}
