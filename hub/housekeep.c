/*
 * housekeep.c - the store's upkeep in `profilehub run` that no request or
 * worker owns (housekeep.h): one thread, with a store connection of its
 * own, runs a pass at start and then every interval.  A pass deletes the
 * erase blocks that are long over (privacy.c says when) and the privacy
 * request records past the last PRIVACY_REQUESTS_KEPT, and logs how many
 * of each went; a failed pass is logged and the next one tries again,
 * nothing waits for it.
 *
 * Its own connection, never the intake writer's: the writer's cache of the
 * block list (SQLite) is dropped at its next transaction, which sees that
 * another connection committed (the file's data version).  Every process
 * sharing a PostgreSQL store runs its own passes; they skip each other's
 * rows (store_pg.c).  No SQL here.
 */
#include "housekeep.h"

#include "alloc.h"
#include "log.h"
#include "privacy.h"
#include "store.h"
#include "util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#define HOUSEKEEP_INTERVAL_MS (3600 * 1000LL)

static _Atomic int64_t housekeep_interval_ms = HOUSEKEEP_INTERVAL_MS;

struct housekeep {
	pthread_t thread;
	int has_thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	atomic_int stop;             /* set under lock; read by the pass too */
	struct store *store;         /* the thread's */
	int erase_block_days;
};

void housekeep_set_interval(int64_t ms)
{
	atomic_store(&housekeep_interval_ms, ms > 0 ? ms : HOUSEKEEP_INTERVAL_MS);
}

static void housekeep_pass(struct housekeep *h)
{
	int64_t now = time_now_ms();
	size_t n = 0;
	int rc = privacy_blocks_prune(h->store, h->erase_block_days, now, &h->stop, &n);

	if (n)
		log_info("privacy", "deleted %zu erase block%s that ended %d day%s ago or more", n,
			 plural_s(n), h->erase_block_days, plural_s((size_t)h->erase_block_days));
	if (rc)
		log_warn("privacy", "deleting the erase blocks that are over: %s (tried again"
			 " in the next pass)", store_error(h->store));
	if (privacy_requests_prune(h->store, PRIVACY_REQUESTS_KEPT, &n))
		log_warn("privacy", "deleting the oldest privacy request records: %s (tried again"
			 " in the next pass)", store_error(h->store));
	else if (n)
		log_info("privacy", "deleted %zu privacy request record%s, the oldest: the last %d"
			 " are kept", n, plural_s(n), PRIVACY_REQUESTS_KEPT);
}

static void *housekeep_main(void *arg)
{
	struct housekeep *h = arg;

	pthread_setname_np(pthread_self(), "hub-housekeep");
	pthread_mutex_lock(&h->lock);
	while (!atomic_load(&h->stop)) {
		struct timespec deadline;
		int rc = 0;

		pthread_mutex_unlock(&h->lock);
		housekeep_pass(h);
		pthread_mutex_lock(&h->lock);
		time_deadline(&deadline, CLOCK_MONOTONIC, atomic_load(&housekeep_interval_ms));
		while (!atomic_load(&h->stop) && rc == 0)
			rc = pthread_cond_timedwait(&h->wake, &h->lock, &deadline);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

int housekeep_start(struct housekeep **out, const struct hub_config *cfg, char *err,
		    size_t err_size)
{
	struct housekeep *h = hub_calloc(1, sizeof(*h));

	*out = NULL;
	if (!h) {
		err_set(err, err_size, "out of memory");
		return -1;
	}
	/* the pause between passes is on the monotonic clock (time_deadline):
	 * a wall clock set back cannot stretch it */
	if (time_cond_init(&h->wake)) {
		hub_free(h);
		err_set(err, err_size, "cannot set up the housekeeping thread's clock");
		return -1;
	}
	pthread_mutex_init(&h->lock, NULL);
	atomic_init(&h->stop, 0);
	h->erase_block_days = cfg->erase_block_days > 0 ? cfg->erase_block_days : 30;
	if (store_open_existing(cfg, &h->store, err, err_size))
		goto fail;
	if (pthread_create(&h->thread, NULL, housekeep_main, h) != 0) {
		err_set(err, err_size, "cannot start the housekeeping thread");
		goto fail;
	}
	h->has_thread = 1;
	*out = h;
	return 0;
fail:
	housekeep_stop(h);
	return -1;
}

void housekeep_stop(struct housekeep *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	atomic_store(&h->stop, 1);
	pthread_cond_broadcast(&h->wake);
	pthread_mutex_unlock(&h->lock);
	if (h->has_thread)
		pthread_join(h->thread, NULL);
	if (h->store)
		store_close(h->store);
	pthread_cond_destroy(&h->wake);
	pthread_mutex_destroy(&h->lock);
	hub_free(h);
}
