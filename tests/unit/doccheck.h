/*
 * doccheck.h - checks that a profile document keeps its own rules
 * (IDENTITY.md section 9, Output; scenarios/README.md), and helpers to
 * compare documents regardless of list order.
 */
#ifndef HUB_DOCCHECK_H
#define HUB_DOCCHECK_H

#include <jansson.h>
#include <stddef.h>

/* 0 when the document is consistent; else writes why into err. */
int doccheck_rules(const json_t *doc, int all_events, char *err, size_t err_size);

/* A deep copy with every array of strings sorted (for order-free compare). */
json_t *doccheck_sorted(const json_t *v);

#endif
