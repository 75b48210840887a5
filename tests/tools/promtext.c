/*
 * promtext.c - a strict check of a Prometheus text exposition (format
 * 0.0.4), for the tests of GET /metrics: neither promtool nor a Prometheus
 * client library is assumed on the machine.
 *
 * It holds the grammar (HELP and TYPE lines, metric and label names, label
 * values with only \\ \" \n escaped, float values, the text ending in a
 * newline) and what a scraper takes on trust: every family typed once,
 * before its samples, its lines one group; no series twice; a counter
 * named *_total and never below 0, other types never *_total; a
 * histogram's buckets rising to le="+Inf", cumulative, with _sum, and
 * _count equal to +Inf.  Names are snake_case.  Comment lines other than
 * HELP and TYPE, blank lines and timestamps are refused: the hub writes
 * none.
 *
 * Usage: promtext <scrape.txt   (exit 0: sound; 1: each problem on stderr
 * with its line number)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FAMILIES 256
#define MAX_SERIES 4096
#define NAME_SIZE 128
#define LINE_SIZE 8192
#define MAX_LABELS 64

struct family {
	char name[NAME_SIZE];
	char type[16]; /* "" until its TYPE line */
	int has_help, has_samples, is_closed;
	double inf_count; /* histogram: the +Inf bucket's, -1 none yet */
	double last_le, last_bucket;
	int n_count, n_sum;
};

struct check {
	struct family fam[MAX_FAMILIES];
	size_t n_fam;
	struct family *current; /* the family of the last line */
	char *series[MAX_SERIES];
	size_t n_series;
	unsigned line_no;
	int n_problems;
};

static void problem(struct check *c, const char *what, const char *line)
{
	fprintf(stderr, "promtext: line %u: %s: %s\n", c->line_no, what, line);
	c->n_problems++;
}

/* Length of the snake_case metric name at s (a-z _ 0-9, not first), 0: none. */
static size_t name_len(const char *s)
{
	size_t n = 0;

	while ((s[n] >= 'a' && s[n] <= 'z') || s[n] == '_' || (n && s[n] >= '0' && s[n] <= '9'))
		n++;
	return n < NAME_SIZE ? n : 0;
}

static int has_suffix(const char *s, size_t len, const char *suffix)
{
	size_t k = strlen(suffix);

	return len > k && strncmp(s + len - k, suffix, k) == 0;
}

static struct family *family_find(struct check *c, const char *name, size_t len)
{
	for (size_t i = 0; i < c->n_fam; i++)
		if (strlen(c->fam[i].name) == len && strncmp(c->fam[i].name, name, len) == 0)
			return &c->fam[i];
	return NULL;
}

/* The family named by a HELP or TYPE line, made if new; it must not have
 * ended (its lines one group).  NULL: too many. */
static struct family *family_at(struct check *c, const char *name, size_t len, const char *line)
{
	struct family *f = family_find(c, name, len);

	if (!f && c->n_fam < MAX_FAMILIES) {
		f = &c->fam[c->n_fam++];
		memcpy(f->name, name, len);
		f->inf_count = -1;
		f->last_le = -INFINITY;
	}
	if (!f)
		return NULL;
	if (f->is_closed || f->has_samples)
		problem(c, "a HELP or TYPE line after the family's samples or apart from them",
			line);
	if (c->current && c->current != f)
		c->current->is_closed = 1;
	c->current = f;
	return f;
}

/* A HELP docstring escapes only backslash (\\) and newline (\n). */
static int is_help_text(const char *s)
{
	for (; *s; s++)
		if (*s == '\\' && s[1] != '\\' && s[1] != 'n')
			return 0;
		else if (*s == '\\')
			s++;
	return 1;
}

static void check_comment(struct check *c, const char *line)
{
	int is_help = strncmp(line, "# HELP ", 7) == 0, is_type = strncmp(line, "# TYPE ", 7) == 0;
	const char *name = line + 7, *rest;
	struct family *f;
	size_t len;

	if (!is_help && !is_type) {
		problem(c, "a comment other than HELP or TYPE", line);
		return;
	}
	len = name_len(name);
	rest = name + len;
	if (!len || *rest != ' ' || !(f = family_at(c, name, len, line))) {
		problem(c, "no metric name (snake_case) then one blank", line);
		return;
	}
	rest++;
	if (is_help) {
		if (f->has_help++)
			problem(c, "a second HELP of the family", line);
		if (!*rest || !is_help_text(rest))
			problem(c, "HELP empty, or a backslash not \\\\ or \\n", line);
		return;
	}
	if (f->type[0])
		problem(c, "a second TYPE of the family", line);
	if (strcmp(rest, "counter") && strcmp(rest, "gauge") && strcmp(rest, "histogram") &&
	    strcmp(rest, "summary") && strcmp(rest, "untyped"))
		problem(c, "not a type", line);
	snprintf(f->type, sizeof(f->type), "%s", rest);
	if ((strcmp(rest, "counter") == 0) != has_suffix(name, len, "_total"))
		problem(c, "a counter's name ends in _total, and only a counter's", line);
}

/* The value of label le, which ends at `end` (its closing quote), in *le;
 * a float or +Inf: no NaN, no blank (strtod skips one ahead). */
static int le_parse(const char *v, const char *end, double *le)
{
	char *stop;

	if (v == end || strchr(" \t\n\v\f\r", *v))
		return -1;
	*le = strtod(v, &stop);
	return stop == end && !isnan(*le) ? 0 : -1;
}

static int label_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The n labels at starts (each `name="value"`, NUL-terminated) into out
 * in name order, each followed by ',': one series is one key whatever
 * the order written.  Returns NULL, or the problem (a name twice). */
static const char *labels_sorted(char **starts, size_t n, char *out, size_t size)
{
	size_t o = 0;

	qsort(starts, n, sizeof(*starts), label_cmp);
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(starts[i]);
		if (i && strncmp(starts[i - 1], starts[i], strcspn(starts[i], "=") + 1) == 0)
			return "a label given twice in one sample";
		if (o + len + 2 > size)
			return "labels too long";
		memcpy(out + o, starts[i], len);
		o += len;
		out[o++] = ',';
	}
	out[o] = '\0';
	return NULL;
}

/* Parses the labels at *p ('{' ... '}') into out as `name="value",` in
 * name order; *le gets le's value, *has_le whether there is one.
 * Returns NULL, or the problem (then *p is left). */
static const char *labels_parse(const char **p, char *out, size_t size, double *le, int *has_le)
{
	const char *s = *p + 1;
	char text[LINE_SIZE], *starts[MAX_LABELS];
	size_t o = 0, n = 0;

	*has_le = 0;
	while (*s != '}') {
		const char *label = s, *v;
		size_t len = name_len(s);
		if (!len || strncmp(s, "__", 2) == 0 || s[len] != '=' || s[len + 1] != '"')
			return "a label is not name=\"value\"";
		if (o + len + 4 >= sizeof(text) || n == MAX_LABELS)
			return "labels too long";
		starts[n++] = text + o;
		memcpy(text + o, s, len + 2);
		o += len + 2;
		v = s + len + 2;
		for (s = v; *s && *s != '"'; s++) {
			if (*s == '\\' && s[1] != '\\' && s[1] != '"' && s[1] != 'n')
				return "a label value escapes more than \\\\ \\\" \\n";
			if (o + 3 >= sizeof(text))
				return "labels too long";
			text[o++] = *s;
			if (*s == '\\')
				text[o++] = *++s;
		}
		if (*s != '"')
			return "a label value without its closing quote";
		if (len == 2 && strncmp(label, "le", 2) == 0) {
			if (*has_le || le_parse(v, s, le))
				return "le twice, or not a number";
			*has_le = 1;
		}
		text[o++] = '"';
		text[o++] = '\0';
		if (*++s == ',')
			s++;
		else if (*s != '}')
			return "labels not separated by a comma";
	}
	*p = s + 1;
	return labels_sorted(starts, n, out, size);
}

/* The sample's value, the line's end: a decimal float, NaN, +Inf or -Inf. */
static int value_parse(const char *s, double *v)
{
	char *end;

	if (strcmp(s, "NaN") == 0 || strcmp(s, "+Inf") == 0 || strcmp(s, "-Inf") == 0) {
		*v = s[0] == 'N' ? NAN : s[0] == '+' ? INFINITY : -INFINITY;
		return 0;
	}
	if (!*s || s[strspn(s, "0123456789.eE+-")] != '\0')
		return -1;
	*v = strtod(s, &end);
	return *end == '\0' ? 0 : -1;
}

/* The family of a sample named name (a histogram's *_bucket, _sum and
 * _count are its base's); *part: 'b', 's', 'c' of those, else 0. */
static struct family *family_of_sample(struct check *c, const char *name, size_t len, int *part)
{
	static const char *const parts[] = {"_bucket", "_sum", "_count"};
	struct family *f;

	*part = 0;
	for (size_t i = 0; i < 3; i++) {
		size_t k = strlen(parts[i]);
		if (!has_suffix(name, len, parts[i]))
			continue;
		f = family_find(c, name, len - k);
		if (f && strcmp(f->type, "histogram") == 0) {
			*part = parts[i][1];
			return f;
		}
	}
	return family_find(c, name, len);
}

static void series_note(struct check *c, const char *name, size_t len, const char *labels,
			const char *line)
{
	char key[NAME_SIZE + LINE_SIZE + 2];

	snprintf(key, sizeof(key), "%.*s{%s}", (int)len, name, labels);
	for (size_t i = 0; i < c->n_series; i++) {
		if (strcmp(c->series[i], key) == 0) {
			problem(c, "a series given twice", line);
			return;
		}
	}
	if (c->n_series == MAX_SERIES || !(c->series[c->n_series] = strdup(key)))
		problem(c, "too many series to check (or no memory)", line);
	else
		c->n_series++;
}

/* One histogram sample: buckets rise and accumulate to +Inf, then _sum
 * and _count (= +Inf's).  One series of labels besides le. */
static void check_histogram(struct check *c, struct family *f, int part, int has_le, double le,
			    double v, const char *line)
{
	if (!part) {
		problem(c, "a histogram's sample other than _bucket, _sum or _count", line);
		return;
	}
	if (part == 'b' && !has_le) {
		problem(c, "a bucket without le", line);
		return;
	}
	if (part != 'b' && has_le) {
		problem(c, "le on a histogram's _sum or _count", line);
		return;
	}
	if (part == 'b') {
		if (f->inf_count >= 0 || le <= f->last_le || v < f->last_bucket)
			problem(c, "buckets not rising in le and count, up to +Inf", line);
		f->last_le = le;
		f->last_bucket = v;
		if (le == INFINITY)
			f->inf_count = v;
		return;
	}
	if (f->inf_count < 0)
		problem(c, "_sum or _count before the +Inf bucket", line);
	if (part == 'c' && v != f->inf_count)
		problem(c, "_count is not the +Inf bucket's count", line);
	if (part == 'c')
		f->n_count++;
	else
		f->n_sum++;
}

static void check_sample(struct check *c, const char *line)
{
	size_t len = name_len(line);
	const char *p = line + len;
	char labels[LINE_SIZE] = "";
	struct family *f;
	const char *why;
	int part, has_le = 0;
	double le = 0, v;

	if (!len) {
		problem(c, "no metric name (snake_case)", line);
		return;
	}
	if (*p == '{' && (why = labels_parse(&p, labels, sizeof(labels), &le, &has_le))) {
		problem(c, why, line);
		return;
	}
	if (*p != ' ' || value_parse(p + 1, &v)) {
		problem(c, "not `name{labels} value` (one blank, a float, no timestamp)", line);
		return;
	}
	f = family_of_sample(c, line, len, &part);
	if (!f || !f->type[0] || !f->has_help) {
		problem(c, "a sample of a family without its HELP and TYPE before", line);
		return;
	}
	if (f != c->current || f->is_closed)
		problem(c, "a family's samples apart from the rest of it", line);
	f->has_samples = 1;
	series_note(c, line, len, labels, line);
	if (strcmp(f->type, "counter") == 0 && !(v >= 0))
		problem(c, "a counter below 0", line);
	if (strcmp(f->type, "histogram") == 0)
		check_histogram(c, f, part, has_le, le, v, line);
	else if (has_le)
		problem(c, "le outside a histogram", line);
}

static void check_end(struct check *c)
{
	for (size_t i = 0; i < c->n_fam; i++) {
		const struct family *f = &c->fam[i];
		if (strcmp(f->type, "histogram") || !f->has_samples)
			continue;
		if (f->inf_count < 0 || f->n_sum != 1 || f->n_count != 1) {
			fprintf(stderr, "promtext: histogram %s: no +Inf bucket, _sum or _count\n",
				f->name);
			c->n_problems++;
		}
	}
}

int main(void)
{
	static struct check c;
	char line[LINE_SIZE];
	int is_ended = 1;

	while (fgets(line, sizeof(line), stdin)) {
		size_t n = strlen(line);
		c.line_no++;
		is_ended = n && line[n - 1] == '\n';
		if (is_ended)
			line[--n] = '\0';
		if (n == 0 || line[n - 1] == ' ' || strchr(line, '\r'))
			problem(&c, "a blank line, or one ending in a blank or CR", line);
		else if (line[0] == '#')
			check_comment(&c, line);
		else
			check_sample(&c, line);
	}
	if (!is_ended) {
		fprintf(stderr, "promtext: the text does not end in a newline\n");
		c.n_problems++;
	}
	if (c.line_no == 0) {
		fprintf(stderr, "promtext: no text\n");
		c.n_problems++;
	}
	check_end(&c);
	for (size_t i = 0; i < c.n_series; i++)
		free(c.series[i]);
	return c.n_problems ? 1 : 0;
}
