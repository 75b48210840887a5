/*
 * parse_ceiling.c - the parse ceiling of the ingest benchmark: how many
 * request bodies (and events) a second a bare jansson parse of the
 * benchmark's own bodies reaches on this machine, with nothing else done
 * (no auth, no mapping, no store, no HTTP).
 *
 * Usage: parse_ceiling FILE EVENTS_PER_BODY SECONDS [THREADS]
 *   FILE: one JSON body a line (bench/ingest/gen_bodies.awk).  Each thread
 *   parses the bodies in turn (json_loadb with JSON_REJECT_DUPLICATES, as
 *   strict as the hub's intake) and frees them, for SECONDS.
 * Prints one line:
 *   parse: threads=T bodies=N events=E seconds=S bodies_per_s=B events_per_s=V MB_per_s=M
 * Exit 1 on an unreadable file or a body that does not parse.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct body {
	char *text;
	size_t len;
};

static struct body *bodies;
static size_t nbodies;
static double seconds;

struct worker {
	pthread_t thread;
	size_t start;
	unsigned long long parsed;
	unsigned long long bytes;
	int failed;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *run(void *arg)
{
	struct worker *w = arg;
	double end = now() + seconds;
	size_t i = w->start;
	while (!w->failed) {
		/* check the clock every 16 bodies: a batch body takes ~0.5 ms */
		for (int k = 0; k < 16; k++) {
			json_error_t err;
			json_t *j = json_loadb(bodies[i].text, bodies[i].len,
					       JSON_REJECT_DUPLICATES, &err);
			if (!j) {
				fprintf(stderr, "parse_ceiling: body %zu: %s (line %d)\n", i + 1,
					err.text, err.line);
				w->failed = 1;
				break;
			}
			json_decref(j);
			w->parsed++;
			w->bytes += bodies[i].len;
			if (++i == nbodies)
				i = 0;
		}
		if (now() >= end)
			break;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: parse_ceiling FILE EVENTS_PER_BODY SECONDS [THREADS]\n");
		return 2;
	}
	double per_body = atof(argv[2]);
	seconds = atof(argv[3]);
	int nthreads = argc == 5 ? atoi(argv[4]) : 1;
	if (per_body <= 0 || seconds <= 0 || nthreads < 1 || nthreads > 64) {
		fprintf(stderr, "parse_ceiling: bad arguments\n");
		return 2;
	}
	FILE *f = fopen(argv[1], "rb");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	size_t cap = 0;
	char *line = NULL;
	size_t linecap = 0;
	ssize_t n;
	while ((n = getline(&line, &linecap, f)) > 0) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			n--;
		if (n == 0)
			continue;
		if (nbodies == cap) {
			cap = cap ? cap * 2 : 1024;
			bodies = realloc(bodies, cap * sizeof *bodies);
			if (!bodies) {
				perror("realloc");
				return 1;
			}
		}
		bodies[nbodies].text = malloc((size_t)n);
		if (!bodies[nbodies].text) {
			perror("malloc");
			return 1;
		}
		memcpy(bodies[nbodies].text, line, (size_t)n);
		bodies[nbodies].len = (size_t)n;
		nbodies++;
	}
	free(line);
	fclose(f);
	if (nbodies == 0) {
		fprintf(stderr, "parse_ceiling: no bodies in %s\n", argv[1]);
		return 1;
	}

	struct worker *w = calloc((size_t)nthreads, sizeof *w);
	if (!w) {
		perror("calloc");
		return 1;
	}
	double t0 = now();
	for (int t = 0; t < nthreads; t++) {
		w[t].start = (nbodies / (size_t)nthreads) * (size_t)t;
		if (pthread_create(&w[t].thread, NULL, run, &w[t]) != 0) {
			fprintf(stderr, "parse_ceiling: pthread_create failed\n");
			return 1;
		}
	}
	unsigned long long parsed = 0, bytes = 0;
	int failed = 0;
	for (int t = 0; t < nthreads; t++) {
		pthread_join(w[t].thread, NULL);
		parsed += w[t].parsed;
		bytes += w[t].bytes;
		failed |= w[t].failed;
	}
	double el = now() - t0;
	if (failed)
		return 1;
	printf("parse: threads=%d bodies=%llu events=%.0f seconds=%.2f bodies_per_s=%.0f "
	       "events_per_s=%.0f MB_per_s=%.1f\n",
	       nthreads, parsed, (double)parsed * per_body, el, (double)parsed / el,
	       (double)parsed * per_body / el, (double)bytes / el / 1048576.0);
	for (size_t i = 0; i < nbodies; i++)
		free(bodies[i].text);
	free(bodies);
	free(w);
	return 0;
}
