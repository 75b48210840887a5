/*
 * route_off.h - a push source's route that its configuration leaves off
 * (no secret set for it) answers as a path the hub does not serve: 404
 * not_found "no such route", the hub's own words, so that a caller who
 * holds no credential learns nothing of how the source is configured.
 * The operator learns it from the log: the 1st, 2nd, 4th, 8th... request
 * to a route that is off logs one info line, few lines however many come.
 * Header-only, as text.h, for the fuzz targets.
 */
#ifndef PLUGINS_COMMON_ROUTE_OFF_H
#define PLUGINS_COMMON_ROUTE_OFF_H

#include <hub_plugin.h>

#include <stdatomic.h>

/* What the hub answers a path it does not serve (hub/http_request.c):
 * tests/unit/test_http.c holds both to the same body. */
#define ROUTE_OFF_CODE "not_found"
#define ROUTE_OFF_MESSAGE "no such route"

/* Counts a request to `route`, off for want of `key`, in *n_off (the
 * instance's one counter that changes: atomic), and logs it when the
 * count is a power of two. */
static inline void route_off_log(const struct hub_host *host, const struct hub_instance *inst,
				 atomic_llong *n_off, const char *route, const char *key)
{
	long long n = atomic_fetch_add(n_off, 1) + 1;

	if ((n & (n - 1)) == 0)
		host->log(inst, HUB_LOG_INFO,
			  "%s is off (no %s set): %lld request%s to it answered 404 as an "
			  "unknown path so far",
			  route, key, n, n == 1 ? "" : "s");
}

#endif
