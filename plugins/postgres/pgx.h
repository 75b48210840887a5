/*
 * pgx.h - what the files of the postgres plugin share (private to the
 * plugin: the hub never sees it).
 *
 *   postgres.c   descriptor, config keys, create/destroy, the connection,
 *                a batch's transaction
 *   pgx_batch.c  how a batch is cut into statements and what a SQLSTATE
 *                means for it: no libpq, so a unit test compiles it in
 */
#ifndef PGX_H
#define PGX_H

#include <hub_plugin.h>

#include <stddef.h>

/* The most JSON one statement of a batch binds: jsonb holds at most
 * 268435455 bytes (256 MB, SQLSTATE 54000 past it), and a document can
 * grow on its way from text to jsonb.  A test build of the plugin lowers
 * it (PGX_TEST_CHUNK_MAX_BYTES, Makefile) so that a batch of several
 * statements is a few MB, not 128. */
#ifndef PGX_CHUNK_MAX_BYTES
#define PGX_CHUNK_MAX_BYTES (64u << 20)
#endif

/* The end (exclusive) of the chunk of changes[from..n) that starts at
 * `from`: as many changes as their JSON array ("[c,c,...]") holds in
 * max_bytes, and at least one (a change larger than that goes alone). */
size_t pgx_chunk_end(const char *const *changes, size_t n, size_t from, size_t max_bytes);

/* What a SQLSTATE (NULL: none, a client-side failure) means for a batch. */
hub_rc pgx_sqlstate_rc(const char *state);

#endif
