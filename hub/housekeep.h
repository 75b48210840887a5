/*
 * housekeep.h - the store's upkeep in `profilehub run` that no request or
 * worker owns: today, deleting the erase blocks that are long over
 * (privacy_blocks_prune), at start and then every hour.
 */
#ifndef HUB_HOUSEKEEP_H
#define HUB_HOUSEKEEP_H

#include "config.h"

#include <stddef.h>
#include <stdint.h>

struct housekeep;

/* Opens a store connection of its own and starts the thread, whose first
 * pass runs at once.  0, or -1 with err set (no store, no thread). */
int housekeep_start(struct housekeep **out, const struct hub_config *cfg, char *err,
		    size_t err_size);

/* Stops the thread (a pass in progress ends after its current
 * transaction) and closes its connection.  NULL is ignored. */
void housekeep_stop(struct housekeep *h);

/* Tests: the time between two passes (0: the default, an hour).  Set
 * before housekeep_start. */
void housekeep_set_interval(int64_t ms);

#endif
