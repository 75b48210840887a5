/*
 * cfg_check.c - reading a parsed configuration tree (cfg_tree.c): members,
 * typed scalars, JSON text, and checks of a mapping against a declarative
 * key table (struct hub_config_key) with "did you mean" suggestions.
 *
 * Typed readers look at the text only: quoting matters for JSON conversion
 * (a quoted "3" stays a string), not for cfg_as_int.  A null value fails
 * every reader, and so does a number with a leading zero ("010": octal 8
 * to YAML 1.1, 10 to YAML 1.2); as JSON of an ANY key it stays text.
 *
 * Never put a value in a message: a type error says what was expected.
 */
#include "config.h"

#include "alloc.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PATH_LEN 256

/* ---- reading ------------------------------------------------------- */

const struct cfg_node *cfg_get(const struct cfg_node *map, const char *key)
{
	if (!map || map->kind != CFG_MAP)
		return NULL;
	for (size_t i = 0; i < map->n_children; i++)
		if (strcmp(map->children[i].key, key) == 0)
			return &map->children[i];
	return NULL;
}

/* Steps over the [i] after a key ("lines[2]"): *n the item, or NULL. */
static const char *path_indexes(const char *p, const struct cfg_node **n)
{
	while (*n && *p == '[') {
		char *end;
		unsigned long i;

		if (!isdigit((unsigned char)p[1]))
			return NULL;
		i = strtoul(p + 1, &end, 10);
		if (*end != ']' || (*n)->kind != CFG_SEQ || i >= (*n)->n_children)
			return NULL;
		*n = &(*n)->children[i];
		p = end + 1;
	}
	return *n ? p : NULL;
}

/* The member of map whose key p starts with, followed by what ends a key
 * in a path ('.', '[' or ':'); the longest such key ("a.b" before "a"),
 * so a key of any text ("$email_address", "date(signup)") is found.
 * *len its length; NULL when none. */
static const struct cfg_node *path_member(const struct cfg_node *map, const char *p,
					  size_t *len)
{
	const struct cfg_node *found = NULL;

	*len = 0;
	for (size_t i = 0; map && map->kind == CFG_MAP && i < map->n_children; i++) {
		const char *key = map->children[i].key;
		size_t k = strlen(key);

		if (k > *len && strncmp(p, key, k) == 0 && p[k] && strchr(".[:", p[k])) {
			found = &map->children[i];
			*len = k;
		}
	}
	return found;
}

const struct cfg_node *cfg_path_lead(const struct cfg_node *map, const char *text)
{
	const struct cfg_node *n = map;
	const char *p = text;

	for (;;) {
		size_t len;

		if (!(n = path_member(n, p, &len)) || !(p = path_indexes(p + len, &n)))
			return NULL;
		if (*p == ':' && (p[1] == ' ' || p[1] == '\0'))
			return n;
		if (*p++ != '.')
			return NULL;
	}
}

static const char *scalar_text(const struct cfg_node *n)
{
	return n && n->kind == CFG_SCALAR && !n->is_null && n->value ? n->value : NULL;
}

/* An integer written with a leading zero ("010", "-007"; "0" is not):
 * YAML 1.1 readers take 010 as octal 8, YAML 1.2 ones as 10, so what was
 * meant is unsure.  No typed reader takes it; the check says why. */
static int has_leading_zero(const char *s)
{
	s += *s == '+' || *s == '-';
	return s[0] == '0' && s[1] && strspn(s, "0123456789") == strlen(s);
}

/* Decimal integer with an optional sign, nothing around it. */
static int parse_int(const char *s, int64_t *out)
{
	const char *d = s + (*s == '+' || *s == '-');
	char *end;
	long long v;

	if (*d < '0' || *d > '9' || has_leading_zero(s))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

int cfg_as_int(const struct cfg_node *n, int64_t *out)
{
	const char *s = scalar_text(n);
	return s ? parse_int(s, out) : -1;
}

int cfg_as_bool(const struct cfg_node *n, int *out)
{
	static const char *const yes[] = {"true", "yes", "on"};
	static const char *const no[] = {"false", "no", "off"};
	const char *s = scalar_text(n);

	if (!s)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

/* [-+]? ( .digits | digits ( . digits? )? ) ( [eE] [-+]? digits )? */
static int looks_like_float(const char *s)
{
	int n_digits = 0;

	if (*s == '+' || *s == '-')
		s++;
	while (*s >= '0' && *s <= '9')
		s++, n_digits++;
	if (*s == '.') {
		s++;
		while (*s >= '0' && *s <= '9')
			s++, n_digits++;
	}
	if (!n_digits)
		return 0;
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (*s < '0' || *s > '9')
			return 0;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return *s == '\0';
}

static int parse_float(const char *s, double *out)
{
	double v;

	if (!looks_like_float(s) || has_leading_zero(s))
		return -1;
	errno = 0;
	v = strtod(s, NULL);
	if (errno == ERANGE && fabs(v) > 1.0)
		return -1;
	if (!isfinite(v))
		return -1;
	*out = v;
	return 0;
}

int cfg_as_float(const struct cfg_node *n, double *out)
{
	const char *s = scalar_text(n);
	return s ? parse_float(s, out) : -1;
}

int cfg_as_duration_ms(const struct cfg_node *n, int64_t *out)
{
	const char *s = scalar_text(n);
	return s && !has_leading_zero(s) && duration_parse_ms(s, out) == 0 ? 0 : -1;
}

/* An integer or a duration written right but too large for the reader:
 * "expected an integer" would send the operator looking for a typo. */
static int is_out_of_range(const struct cfg_node *n, enum hub_config_type type)
{
	const char *s = scalar_text(n);
	int64_t v;

	if (!s)
		return 0;
	if (type == HUB_CFG_DURATION)
		return duration_parse_ms(s, &v) == -2;
	s += *s == '+' || *s == '-';
	return *s && strspn(s, "0123456789") == strlen(s); /* parse_int failed */
}

/* ---- JSON ---------------------------------------------------------- */

static json_t *scalar_to_json(const struct cfg_node *n)
{
	const char *s = n->value ? n->value : "";
	int64_t i;
	double d;

	if (n->is_quoted)
		return json_string(s);
	if (n->is_null)
		return json_null();
	if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
		return json_true();
	if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
		return json_false();
	if (parse_int(s, &i) == 0)
		return json_integer((json_int_t)i);
	/* An integer too large for 64 bits keeps its exact digits as text. */
	if (strpbrk(s, ".eE") && parse_float(s, &d) == 0)
		return json_real(d);
	return json_string(s);
}

/* The scalar value of a key of `type`, read as the typed readers read it
 * (cfg_as_*): a STRING its text, a DURATION integer milliseconds.  As
 * scalar_to_json() for ANY, lists, objects, and a value not of the type
 * (cfg_check_type refuses it before). */
static json_t *typed_scalar_to_json(const struct cfg_node *n, enum hub_config_type type)
{
	int64_t i;
	double d;
	int b;

	if (n->is_null)
		return json_null();
	switch (type) {
	case HUB_CFG_STRING:
		return json_string(n->value ? n->value : "");
	case HUB_CFG_INT:
		if (cfg_as_int(n, &i) == 0)
			return json_integer((json_int_t)i);
		break;
	case HUB_CFG_BOOL:
		if (cfg_as_bool(n, &b) == 0)
			return json_boolean(b);
		break;
	case HUB_CFG_FLOAT:
		if (cfg_as_float(n, &d) == 0)
			return json_real(d);
		break;
	case HUB_CFG_DURATION:
		if (cfg_as_duration_ms(n, &i) == 0)
			return json_integer((json_int_t)i);
		break;
	case HUB_CFG_STRING_LIST:
	case HUB_CFG_OBJECT:
	case HUB_CFG_ANY:
		break;
	}
	return scalar_to_json(n);
}

static json_t *node_to_json(const struct cfg_node *n)
{
	json_t *j;

	if (n->kind == CFG_SCALAR)
		return scalar_to_json(n);
	j = n->kind == CFG_MAP ? json_object() : json_array();
	if (!j)
		return NULL;
	for (size_t i = 0; i < n->n_children; i++) {
		json_t *c = node_to_json(&n->children[i]);
		int rc;

		if (!c)
			goto fail;
		if (n->kind == CFG_MAP)
			rc = json_object_set_new(j, n->children[i].key, c);
		else
			rc = json_array_append_new(j, c);
		if (rc)
			goto fail;
	}
	return j;
fail:
	json_decref(j);
	return NULL;
}

char *cfg_to_json(const struct cfg_node *n)
{
	return cfg_to_json_as(n, HUB_CFG_ANY);
}

char *cfg_to_json_as(const struct cfg_node *n, enum hub_config_type type)
{
	json_t *j;
	char *text, *copy;

	if (!n)
		return NULL;
	j = n->kind == CFG_SCALAR ? typed_scalar_to_json(n, type) : node_to_json(n);
	if (!j)
		return NULL;
	/* 15 significant digits: 0.1 prints as 0.1, not 0.10000000000000001 */
	text = json_dumps_whole(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER |
				     JSON_REAL_PRECISION(15));
	json_decref(j);
	if (!text)
		return NULL;
	copy = hub_strdup(text);
	free(text); /* jansson's allocation */
	return copy;
}

/* ---- key tables ---------------------------------------------------- */

static int same_letter(char a, char b)
{
	return tolower((unsigned char)a) == tolower((unsigned char)b);
}

/* Edit distance of two short strings counting a swap of two neighbouring
 * letters as one edit (optimal string alignment), or 99 when it is surely
 * more than 2.  Letters compare without case: keys are lower case, and
 * "HTTP" (four edits, as many as its letters) got no "did you mean". */
static int edit_distance(const char *a, const char *b)
{
	enum { MAX = 64 };
	size_t la = strlen(a), lb = strlen(b);
	int rows[3][MAX + 1]; /* i-2, i-1, i */

	if (la > MAX || lb > MAX || (la > lb ? la - lb : lb - la) > 2)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		rows[1][j] = (int)j;
	for (size_t i = 1; i <= la; i++) {
		int *cur = rows[(i + 1) % 3], *prev = rows[i % 3], *prev2 = rows[(i + 2) % 3];
		cur[0] = (int)i;
		for (size_t j = 1; j <= lb; j++) {
			int sub = prev[j - 1] + !same_letter(a[i - 1], b[j - 1]);
			int del = prev[j] + 1, ins = cur[j - 1] + 1;
			int best = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
			if (i > 1 && j > 1 && same_letter(a[i - 1], b[j - 2]) &&
			    same_letter(a[i - 2], b[j - 1]) && prev2[j - 2] + 1 < best)
				best = prev2[j - 2] + 1;
			cur[j] = best;
		}
	}
	return rows[(la + 1) % 3][lb];
}

static const struct hub_config_key *find_key(const struct hub_config_key *keys,
					     const char *name)
{
	for (; keys && keys->name; keys++)
		if (strcmp(keys->name, name) == 0)
			return keys;
	return NULL;
}

/* Keeps cand in *best when it is nearer to name than *best_d edits. */
static void closest_take(const char *name, const char *cand, const char **best, int *best_d)
{
	int d = edit_distance(name, cand);

	if (d < *best_d) {
		*best_d = d;
		*best = cand;
	}
}

/* A suggestion worth making: fewer edits than the name has letters. */
static const char *closest_worth(const char *name, const char *best, int best_d)
{
	return best && (size_t)best_d < strlen(name) ? best : NULL;
}

static void closest_key(const struct hub_config_key *keys, const char *name,
			const char **best, int *best_d)
{
	for (; keys && keys->name; keys++)
		closest_take(name, keys->name, best, best_d);
}

const char *cfg_closest_name(const char *name, const char *const *names, size_t n)
{
	const char *best = NULL;
	int best_d = 3;

	for (size_t i = 0; i < n; i++)
		closest_take(name, names[i], &best, &best_d);
	return closest_worth(name, best, best_d);
}

static const char *type_expectation(enum hub_config_type type)
{
	switch (type) {
	case HUB_CFG_STRING:
		return "expected a string";
	case HUB_CFG_INT:
		return "expected an integer";
	case HUB_CFG_BOOL:
		return "expected a boolean";
	case HUB_CFG_FLOAT:
		return "expected a number";
	case HUB_CFG_DURATION:
		return "expected a duration like 30s, 15m, 1h30m or 2d";
	case HUB_CFG_STRING_LIST:
		return "expected a list of strings";
	case HUB_CFG_OBJECT:
		return "expected a mapping";
	case HUB_CFG_ANY:
		break;
	}
	return "expected a value";
}

/* A number with a leading zero: what to write instead, the value shown
 * unless it is a secret's (or too long to be a number anyone meant). */
static void leading_zero_error(const struct cfg_node *v, const char *path, int is_secret,
			       char *err, size_t err_size)
{
	const char *s = v->value, *digits = s + (*s == '+' || *s == '-');
	size_t zeros = strspn(digits, "0");

	if (digits[zeros] == '\0')
		zeros--; /* "000": 0 */
	if (is_secret || strlen(s) > 40)
		cfg_errorf(err, err_size, v, 0, path, "a leading zero, which YAML 1.1 reads as"
			   " octal (010 is 8): write the number without it");
	else
		cfg_errorf(err, err_size, v, 0, path, "%s has a leading zero, which YAML 1.1 reads"
			   " as octal (010 is 8): write %.*s%s", s, (int)(digits - s), s,
			   digits + zeros);
}

static int check_type(const struct cfg_node *v, const char *path, enum hub_config_type type,
		      int is_secret, char *err, size_t err_size)
{
	const struct cfg_node *bad = v;
	int64_t i;
	double d;
	int b;

	switch (type) {
	case HUB_CFG_STRING:
		if (scalar_text(v))
			return 0;
		break;
	case HUB_CFG_INT:
		if (cfg_as_int(v, &i) == 0)
			return 0;
		break;
	case HUB_CFG_BOOL:
		if (cfg_as_bool(v, &b) == 0)
			return 0;
		break;
	case HUB_CFG_FLOAT:
		if (cfg_as_float(v, &d) == 0)
			return 0;
		break;
	case HUB_CFG_DURATION:
		if (cfg_as_duration_ms(v, &i) == 0)
			return 0;
		break;
	case HUB_CFG_STRING_LIST:
		if (v->kind != CFG_SEQ)
			break;
		for (size_t k = 0; k < v->n_children; k++) {
			if (!scalar_text(&v->children[k])) {
				bad = &v->children[k]; /* point at the item */
				goto fail;
			}
		}
		return 0;
	case HUB_CFG_OBJECT:
		if (v->kind == CFG_MAP)
			return 0;
		break;
	case HUB_CFG_ANY:
		return 0;
	}
fail:
	if ((type == HUB_CFG_INT || type == HUB_CFG_FLOAT || type == HUB_CFG_DURATION) &&
	    scalar_text(v) && has_leading_zero(scalar_text(v)))
		leading_zero_error(v, path, is_secret, err, err_size);
	else if ((type == HUB_CFG_INT || type == HUB_CFG_DURATION) && is_out_of_range(v, type))
		cfg_errorf(err, err_size, v, 0, path, "%s",
			   type == HUB_CFG_INT
				   ? "integer out of range (-9223372036854775808 to"
				     " 9223372036854775807)"
				   : "duration too long (at most 106751991167d)");
	else
		cfg_errorf(err, err_size, bad, 0, path, "%s", type_expectation(type));
	return -1;
}

int cfg_check_type(const struct cfg_node *v, const char *path, enum hub_config_type type,
		   char *err, size_t err_size)
{
	return check_type(v, path, type, 0, err, err_size);
}

/* A secret, or each secret of a list, is not empty: an empty or unset
 * ${VAR} must not leave a door open (a webhook signed with an empty key).
 * Nor blank (spaces or line breaks only): as guessable as an empty one.  A
 * secret file holding only its line break ("\n", mounted as ${VAR}) is
 * empty: expansion drops one trailing line break (cfg_tree.c). */
static int check_secret_set(const struct cfg_node *n, const char *path, char *err,
			    size_t err_size)
{
	char item[PATH_LEN];

	if (n->kind == CFG_SCALAR && n->value && !n->value[0]) {
		cfg_errorf(err, err_size, n, 0, path, "must not be empty");
		return -1;
	}
	if (n->kind == CFG_SCALAR && n->value && !n->value[strspn(n->value, " \t\r\n")]) {
		cfg_errorf(err, err_size, n, 0, path,
			   "must not be blank (spaces or line breaks only)");
		return -1;
	}
	/* "$HUB_API_TOKEN", as Compose or a shell would expand it, is the
	 * variable's name taken as the secret: anyone reading the file knows
	 * it.  The value is not printed (it might be a real secret). */
	if (n->kind == CFG_SCALAR && n->is_shell_ref) {
		cfg_errorf(err, err_size, n, 0, path,
			   "written as $NAME, which is kept as written, not read from the "
			   "environment: write ${NAME} (or $$ for a literal $)");
		return -1;
	}
	for (size_t i = 0; n->kind == CFG_SEQ && i < n->n_children; i++) {
		cfg_path_index(item, sizeof(item), path, i);
		if (check_secret_set(&n->children[i], item, err, err_size))
			return -1;
	}
	return 0;
}

static int check_member(const struct cfg_node *m, const char *path,
			const struct hub_config_key *keys, const struct hub_config_key *extra,
			char *err, size_t err_size)
{
	const struct hub_config_key *k = find_key(keys, m->key);
	char sub[PATH_LEN];

	if (!k)
		k = find_key(extra, m->key);
	cfg_path_key(sub, sizeof(sub), path, m->key);
	if (!k && strchr(m->key, ':')) {
		/* {api_secret:S} is one key "api_secret:S": named up to its
		 * colon, since what follows may be a secret */
		char name[PATH_LEN];
		snprintf(name, sizeof(name), "%.*s", (int)(strchr(m->key, ':') - m->key), m->key);
		cfg_path_key(sub, sizeof(sub), path, name);
		cfg_errorf(err, err_size, m, 1, sub, "unknown key holding a ':' with no space after"
			   " it (write \"key: value\"; what follows the ':' is not shown)");
		return -1;
	}
	if (!k && strcmp(m->key, "<<") == 0) {
		cfg_errorf(err, err_size, m, 1, sub, "YAML merge keys (<<) are not read here:"
			   " write the keys out");
		return -1;
	}
	if (!k && strstr(m->key, "${")) {
		cfg_errorf(err, err_size, m, 1, sub, "unknown key (${...} is expanded in values"
			   " only, never in keys)");
		return -1;
	}
	if (!k) {
		const char *best = NULL;
		int best_d = 3;

		closest_key(keys, m->key, &best, &best_d);
		closest_key(extra, m->key, &best, &best_d);
		if ((best = closest_worth(m->key, best, best_d)))
			cfg_errorf(err, err_size, m, 1, sub, "unknown key (did you mean \"%s\"?)",
				   best);
		else
			cfg_errorf(err, err_size, m, 1, sub, "unknown key");
		return -1;
	}
	/* A null value of an optional key is the same as leaving it out. */
	if (m->kind == CFG_SCALAR && m->is_null && !k->is_required)
		return 0;
	if (check_type(m, sub, k->type, k->is_secret, err, err_size))
		return -1;
	return k->is_secret ? check_secret_set(m, sub, err, err_size) : 0;
}

static int check_required(const struct cfg_node *map, const char *path,
			  const struct hub_config_key *keys, char *err, size_t err_size)
{
	for (; keys && keys->name; keys++) {
		if (keys->is_required && !cfg_get(map, keys->name)) {
			cfg_errorf(err, err_size, map, 0, path, "missing required key \"%s\"",
				   keys->name);
			return -1;
		}
	}
	return 0;
}

int cfg_check_keys(const struct cfg_node *map, const char *path,
		   const struct hub_config_key *keys,
		   const struct hub_config_key *extra, char *err, size_t err_size)
{
	if (!map) {
		err_set(err, err_size, "%s: no mapping to check", path && *path ? path : "config");
		return -1;
	}
	if (map->kind == CFG_SCALAR && map->is_null)
		goto required; /* "key:" with nothing after it: an empty mapping */
	if (map->kind != CFG_MAP) {
		cfg_errorf(err, err_size, map, 0, path, "expected a mapping");
		return -1;
	}
	for (size_t i = 0; i < map->n_children; i++)
		if (check_member(&map->children[i], path, keys, extra, err, err_size))
			return -1;
required:
	if (check_required(map, path, keys, err, err_size) ||
	    check_required(map, path, extra, err, err_size))
		return -1;
	return 0;
}
