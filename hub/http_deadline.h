/*
 * http_deadline.h - a deadline for request headers.  libmicrohttpd's
 * timeout is an idle timeout: a client sending one header byte a second is
 * never cut, and enough of them keep everyone else out.  Every connection
 * is watched from accept until its headers are in (and again between two
 * requests on a kept-alive connection); a sweeper thread shuts down the
 * socket of any connection past the deadline, and libmicrohttpd then
 * closes it as a connection the client closed.
 *
 * http.c feeds it from the library's connection notifications; a watch is
 * removed (under the same lock the sweeper holds) when the library says
 * the connection is closed, which it does before closing the socket, so a
 * socket is never shut down after its number was given to another.
 */
#ifndef HUB_HTTP_DEADLINE_H
#define HUB_HTTP_DEADLINE_H

#include <stdint.h>

struct deadline;
struct conn_watch;

/* Starts the sweeper.  0, or -1 (no memory or no thread). */
int deadline_start(struct deadline **out, int64_t limit_ms);
/* Stops the sweeper and frees what is left (after the server stopped). */
void deadline_stop(struct deadline *d);

/* A new connection on socket fd: its headers' clock starts.  NULL when
 * out of memory (that connection is then not watched). */
struct conn_watch *deadline_watch(struct deadline *d, int fd);
void deadline_unwatch(struct deadline *d, struct conn_watch *w);
/* The request's headers are in: no deadline until it is done. */
void deadline_headers_in(struct deadline *d, struct conn_watch *w);
/* The request is answered: the next one's headers have the full time. */
void deadline_request_done(struct deadline *d, struct conn_watch *w);

/* How many connections the sweeper has cut (for tests and metrics). */
int64_t deadline_cut_count(struct deadline *d);

#endif
