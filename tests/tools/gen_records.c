/*
 * gen_records.c - writes a deterministic stream of canonical records (JSON
 * Lines) to stdout, for the randomized tests and the benchmarks:
 *
 *     gen_records --seed N --users U --records R [--RATE-rate P ...]
 *
 * The simulation itself lives in gen.h (shared with tests/unit/test_random.c);
 * this file only reads options and writes lines, in large blocks so that a
 * few million records a second reach the pipe.  The same options always
 * give the same bytes.  The stream expects the hub configuration that
 * `--print-config` prints (crm_id as an external id with limit 1).
 */
#include "gen.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OUT_BLOCK (1 << 20)

static void usage(FILE *f)
{
	fprintf(f,
		"usage: gen_records --seed N --users U --records R [options]\n"
		"  --start TIME       first event time, RFC 3339 day or ms (default 2025-01-01)\n"
		"  --days D           event time the stream covers (default 60)\n"
		"  --source NAME      write \"source\" into every record (default: none, the\n"
		"                     importer's --source applies)\n"
		"  --no-received-at   leave received_at out (the hub's clock then applies)\n"
		"  --print-config     print the identity configuration the stream expects\n"
		"  --RATE-rate P      probability in [0, 1] of one feature; RATE and default:\n");
	for (int i = 0; i < GEN_RATE_N; i++)
		fprintf(f, "      %-14s %g\n", gen_rate_names[i], gen_rate_defaults[i]);
}

static int parse_long(const char *s, long min, long *out)
{
	char *end;
	errno = 0;
	*out = strtol(s, &end, 10);
	return errno || end == s || *end || *out < min ? -1 : 0;
}

static int parse_rate(const char *s, double *out)
{
	char *end;
	errno = 0;
	*out = strtod(s, &end);
	return errno || end == s || *end || !(*out >= 0 && *out <= 1) ? -1 : 0;
}

/* "2025-01-01" (UTC midnight) or milliseconds since the epoch. */
static int parse_start(const char *s, int64_t *ms)
{
	int y, m, d;
	long v;
	char tail;

	if (sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) == 3 && m >= 1 && m <= 12 &&
	    d >= 1 && d <= 31 && y >= 1970) {
		/* days from civil (Howard Hinnant), y >= 1970 */
		int yy = y - (m <= 2);
		int era = yy / 400, yoe = yy - era * 400;
		int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
		int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
		*ms = ((int64_t)era * 146097 + doe - 719468) * GEN_DAY_MS;
		return 0;
	}
	if (parse_long(s, 0, &v))
		return -1;
	*ms = v;
	return 0;
}

/* --NAME-rate: the rate's index, or -1. */
static int rate_index(const char *arg)
{
	size_t n = strlen(arg);
	if (n < 8 || strncmp(arg, "--", 2) != 0 || strcmp(arg + n - 5, "-rate") != 0)
		return -1;
	for (int i = 0; i < GEN_RATE_N; i++)
		if (strlen(gen_rate_names[i]) == n - 7 &&
		    strncmp(arg + 2, gen_rate_names[i], n - 7) == 0)
			return i;
	return -1;
}

static int write_all(const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(STDOUT_FILENO, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct gen_opts o;
	struct gen *g = NULL;
	char *block = NULL;
	size_t used = 0;
	long seed = -1, users = -1, records = -1, days = 60;
	int rc = 1;

	gen_opts_default(&o);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int r = rate_index(a);
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(a, "--print-config") == 0) {
			fputs(GEN_CONFIG_YAML, stdout);
			return 0;
		} else if (strcmp(a, "--no-received-at") == 0) {
			o.has_received_at = 0;
			continue;
		}
		if (!v)
			goto bad;
		i++;
		if (r >= 0) {
			if (parse_rate(v, &o.rates[r]))
				goto bad;
		} else if (strcmp(a, "--seed") == 0) {
			if (parse_long(v, 0, &seed))
				goto bad;
		} else if (strcmp(a, "--users") == 0) {
			if (parse_long(v, 1, &users))
				goto bad;
		} else if (strcmp(a, "--records") == 0) {
			if (parse_long(v, 0, &records))
				goto bad;
		} else if (strcmp(a, "--days") == 0) {
			if (parse_long(v, 1, &days))
				goto bad;
		} else if (strcmp(a, "--start") == 0) {
			if (parse_start(v, &o.start_ms))
				goto bad;
		} else if (strcmp(a, "--source") == 0) {
			o.source = v;
		} else {
			goto bad;
		}
	}
	if (seed < 0 || users < 1 || records < 0)
		goto bad;
	o.seed = (uint64_t)seed;
	o.n_users = users;
	o.n_records = records;
	o.span_ms = (int64_t)days * GEN_DAY_MS;

	g = malloc(sizeof(*g));
	block = malloc(OUT_BLOCK + GEN_LINE_MAX);
	if (!g || !block || gen_init(g, &o)) {
		fprintf(stderr, "gen_records: out of memory\n");
		goto out;
	}
	for (long n = 0; n < records; n++) {
		used += gen_next(g, block + used);
		if (used >= OUT_BLOCK) {
			if (write_all(block, used))
				goto write_failed;
			used = 0;
		}
	}
	if (write_all(block, used))
		goto write_failed;
	rc = 0;
	goto out;
write_failed:
	if (errno != EPIPE)
		fprintf(stderr, "gen_records: write: %s\n", strerror(errno));
out:
	if (g)
		gen_free(g);
	free(g);
	free(block);
	return rc;
bad:
	usage(stderr);
	return 2;
}
