/*
 * version.h - profilehub's own version: what `profilehub --version` prints
 * and /metrics' profilehub_build_info says (the plugin ABI's version is
 * hub_plugin.h's).
 */
#ifndef HUB_VERSION_H
#define HUB_VERSION_H

#define HUB_VERSION "0.1.0"

#endif
