/*
 * web_assets.h - the Profiles View page (the files of hub/web), embedded into the
 * binary at build time by scripts/embed.c, so the single binary serves it.
 * The generated table lives in the build directory, never in git.
 */
#ifndef HUB_WEB_ASSETS_H
#define HUB_WEB_ASSETS_H

#include <stddef.h>

struct web_asset {
	const char *path;         /* "/", "/app.js", "/style.css" */
	const char *content_type;
	const unsigned char *data;
	size_t size;
};

/* The asset served at `path`, or NULL. */
const struct web_asset *web_asset_find(const char *path);

#endif
