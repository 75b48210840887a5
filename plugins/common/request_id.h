/*
 * request_id.h - the random request IDs (UUID v4 text) the warehouse
 * plugins send so that a retried statement is not run twice (BigQuery's
 * requestId, Snowflake's requestId with retry=true).  Header-only, like
 * text.h, so that a fuzz target may include several plugins.
 *
 * Two different statements must never share an ID: the warehouse would
 * answer the second with the first one's rows.  So when OpenSSL's
 * generator fails, the kernel's is asked, and when that fails too, the ID
 * is made unique from the clock, the process and a counter (not secret,
 * which a request ID need not be).  Never rand(): unseeded, every process
 * draws the same sequence.
 */
#ifndef PLUGINS_COMMON_REQUEST_ID_H
#define PLUGINS_COMMON_REQUEST_ID_H

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

/* 16 bytes from the kernel; 0 when it gave them. */
static inline int request_id_kernel_bytes(unsigned char *r, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t k = getrandom(r + got, n - got, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		got += (size_t)k;
	}
	return 0;
}

/* The last resort: unique in this process (a counter) and across processes
 * (the pid and the clock at the first call). */
static inline void request_id_unique_bytes(unsigned char r[16])
{
	static atomic_uint_fast64_t counter;
	struct timespec now;
	uint64_t a, b;

	clock_gettime(CLOCK_REALTIME, &now);
	a = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
	b = ((uint64_t)getpid() << 40) ^ atomic_fetch_add(&counter, 1);
	memcpy(r, &a, 8);
	memcpy(r + 8, &b, 8);
}

/* A new UUID v4 text ("xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx") in out
 * (at least 37 bytes). */
static inline void request_id_new(char *out, size_t size)
{
	unsigned char r[16];

	if (RAND_bytes(r, sizeof(r)) != 1 && request_id_kernel_bytes(r, sizeof(r)) != 0)
		request_id_unique_bytes(r);
	r[6] = (unsigned char)((r[6] & 0x0F) | 0x40);
	r[8] = (unsigned char)((r[8] & 0x3F) | 0x80);
	snprintf(out, size,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0],
		 r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13],
		 r[14], r[15]);
}

#endif
