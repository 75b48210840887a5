/*
 * record_value.c - the rules of single values (IDENTITY.md sections 1, 4, 5
 * and 9): blocked identifier values, native attribute formats, custom keys
 * and values, array ops, consent states; plus the UTF-8 and quoting helpers
 * the record module's messages use.
 *
 * Pure functions: a value in, a verdict or the reason out.  The caller
 * (record.c) turns a reason into an error or a warning with the field path.
 * Nothing here allocates or keeps a value.
 */
#include "record_int.h"

#include "util.h"

#include <string.h>

/* ---- blocked identifier values, UTF-8, quoting -------------------------- */

static int ascii_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int ascii_casecmp(const char *a, const char *b)
{
	while (*a && ascii_lower((unsigned char)*a) == ascii_lower((unsigned char)*b)) {
		a++;
		b++;
	}
	return ascii_lower((unsigned char)*a) - ascii_lower((unsigned char)*b);
}

/*
 * Bytes of the Unicode White_Space character at p (UTF-8), 0 if it is not
 * one: ASCII's \t..\r and space, U+0085, U+00A0, U+1680, U+2000..U+200A,
 * U+2028, U+2029, U+202F, U+205F and U+3000.  p is NUL-terminated.
 */
static size_t unicode_space_len(const unsigned char *p)
{
	if (p[0] == ' ' || (p[0] >= '\t' && p[0] <= '\r'))
		return 1;
	if (p[0] == 0xc2 && (p[1] == 0x85 || p[1] == 0xa0))
		return 2;
	if (p[0] == 0xe1 && p[1] == 0x9a && p[2] == 0x80)
		return 3;
	if (p[0] == 0xe2 && p[1] == 0x80 && ((p[2] >= 0x80 && p[2] <= 0x8a) || p[2] == 0xa8 ||
					       p[2] == 0xa9 || p[2] == 0xaf))
		return 3;
	if (p[0] == 0xe2 && p[1] == 0x81 && p[2] == 0x9f)
		return 3;
	if (p[0] == 0xe3 && p[1] == 0x80 && p[2] == 0x80)
		return 3;
	return 0;
}

static const char *const blocked_words[] = {
	"null", "nil", "(null)", "none", "undefined", "nan", "infinity",
	"-infinity", "true", "false", "anonymous", "guest", "[object object]",
};

int record_value_is_blocked(const char *value, const struct record_rules *rules)
{
	const char *p;
	size_t n;

	if (!value)
		return 1;
	for (p = value; *p == '0' || *p == '-'; p++)
		;
	if (*p == '\0') /* ^[0-]*$, including "" */
		return 1;
	for (p = value; *p; p += n)
		if (!(n = unicode_space_len((const unsigned char *)p)))
			break;
	if (*p == '\0' || strcmp(value, "-1") == 0)
		return 1;
	for (size_t i = 0; i < ARRAY_SIZE(blocked_words); i++)
		if (ascii_casecmp(value, blocked_words[i]) == 0)
			return 1;
	for (size_t i = 0; rules && i < rules->n_blocked_values; i++)
		if (rules->blocked_values[i] && ascii_casecmp(value, rules->blocked_values[i]) == 0)
			return 1;
	return 0;
}

/* Length of the valid UTF-8 sequence at p (n bytes left), 0 if invalid. */
static size_t utf8_seq_len(const unsigned char *p, size_t n)
{
	uint32_t cp;
	size_t len;

	if (p[0] < 0x80)
		return 1;
	if (p[0] < 0xc2)
		return 0;
	if (p[0] < 0xe0) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] < 0xf0) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] < 0xf5) {
		len = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

int record_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		size_t n = p[i] < 0x80 ? 1 : utf8_seq_len(p + i, len - i);
		if (n == 0)
			return 0;
		i += n;
	}
	return 1;
}

size_t record_utf8_chars(const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xc0) != 0x80;
	return n;
}

const char *record_show(char buf[RECORD_SHOW_SIZE], const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t len = strlen((const char *)p), i = 0, o = 0;

	while (i < len) {
		size_t n = utf8_seq_len(p + i, len - i);
		if (o + (n ? n : 1) > RECORD_SHOW_MAX) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (n == 0 || (n == 1 && (p[i] < 0x20 || p[i] == 0x7f))) {
			buf[o++] = '?';
			i++;
			continue;
		}
		memcpy(buf + o, p + i, n);
		o += n;
		i += n;
	}
	buf[o] = '\0';
	return buf;
}

/* ---- small text checks ----------------------------------------------- */

static int is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static int is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static size_t chars_of(json_t *s)
{
	return record_utf8_chars(json_string_value(s), json_string_length(s));
}

/* ---- native attributes ------------------------------------------------ */

/* local@domain, 3..300 characters, no whitespace, exactly one '@'. */
static const char *check_email(const char *s, size_t len, size_t n_chars)
{
	static const char why[] =
		"must be an email address local@domain (3..300 characters, no whitespace)";
	const char *at = NULL;

	if (n_chars < 3 || n_chars > RECORD_ATTR_STRING_MAX)
		return why;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f || unicode_space_len((const unsigned char *)s + i))
			return why;
		if (c == '@') {
			if (at)
				return why;
			at = s + i;
		}
	}
	if (!at || at == s || at == s + len - 1)
		return why;
	return NULL;
}

/* ^\+[0-9]{1,15}$ */
static const char *check_phone(const char *s, size_t len, size_t n_chars)
{
	(void)n_chars;
	if (len < 2 || len > 16 || s[0] != '+')
		goto bad;
	for (size_t i = 1; i < len; i++)
		if (!is_digit((unsigned char)s[i]))
			goto bad;
	return NULL;
bad:
	return "must match ^\\+[0-9]{1,15}$";
}

static const char *check_language(const char *s, size_t len, size_t n_chars)
{
	(void)s;
	(void)len;
	return n_chars >= 2 && n_chars <= 5 ? NULL : "must be 2..5 characters";
}

static const char *check_region(const char *s, size_t len, size_t n_chars)
{
	(void)s;
	(void)len;
	return n_chars >= 1 && n_chars <= 64 ? NULL : "must be 1..64 characters";
}

/* "UTC" or [A-Za-z_]+(/[A-Za-z0-9_+-]+)+ */
static const char *check_timezone(const char *s, size_t len, size_t n_chars)
{
	static const char why[] = "must be UTC or an IANA Area/Location name";
	size_t i = 0, n_parts = 0;

	if (strcmp(s, "UTC") == 0)
		return NULL;
	if (n_chars > RECORD_ATTR_STRING_MAX)
		return why;
	while (i < len && (is_alpha((unsigned char)s[i]) || s[i] == '_'))
		i++;
	if (i == 0)
		return why;
	while (i < len) {
		size_t start;
		if (s[i++] != '/')
			return why;
		start = i;
		while (i < len) {
			unsigned char c = (unsigned char)s[i];
			if (!is_alpha(c) && !is_digit(c) && c != '_' && c != '+' && c != '-')
				break;
			i++;
		}
		if (i == start)
			return why;
		n_parts++;
	}
	return n_parts ? NULL : why;
}

static const char *check_name(const char *s, size_t len, size_t n_chars)
{
	(void)s;
	(void)len;
	return n_chars <= RECORD_ATTR_STRING_MAX ? NULL : "longer than 300 characters";
}

struct native_attr {
	const char *key;
	const char *(*check)(const char *s, size_t len, size_t n_chars);
};

static const struct native_attr natives[] = {
	{"$email_address", check_email},
	{"$phone_number", check_phone},
	{"$language", check_language},
	{"$region", check_region},
	{"$timezone", check_timezone},
	{"$first_name", check_name},
	{"$last_name", check_name},
};

static const char *check_native(const char *key, json_t *value, struct attr_verdict *v)
{
	const struct native_attr *n = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(natives); i++) {
		if (strcmp(natives[i].key, key) == 0) {
			n = &natives[i];
			break;
		}
	}
	if (!n)
		return "unknown native attribute";
	if (json_is_null(value)) {
		v->op = ATTR_OP_DELETE;
		return NULL;
	}
	if (!json_is_string(value))
		return "must be a string or null";
	v->op = ATTR_OP_SET;
	v->type = ATTR_STRING;
	return n->check(json_string_value(value), json_string_length(value), chars_of(value));
}

/* ---- custom attributes ------------------------------------------------ */

static int custom_key_valid(const char *key)
{
	size_t i;

	for (i = 0; key[i]; i++) {
		unsigned char c = (unsigned char)key[i];
		if (i == RECORD_ATTR_KEY_MAX ||
		    !((c >= 'a' && c <= 'z') || is_digit(c) || c == '_'))
			return 0;
	}
	return i > 0;
}

static int has_prefix_nocase(const char *s, const char *prefix)
{
	for (; *prefix; s++, prefix++) {
		char c = *s >= 'A' && *s <= 'Z' ? (char)(*s - 'A' + 'a') : *s;
		if (c != *prefix)
			return 0;
	}
	return 1;
}

static enum attr_type string_type(const char *s)
{
	int64_t ms;

	if (has_prefix_nocase(s, "http://") || has_prefix_nocase(s, "https://"))
		return ATTR_URL;
	if (is_digit((unsigned char)s[0]) && time_parse_rfc3339(s, &ms) == 0)
		return ATTR_DATE;
	return ATTR_STRING;
}

/* An array of strings of at most 300 characters, of any count. */
static int is_string_array(json_t *a)
{
	size_t i;
	json_t *item;

	if (!json_is_array(a))
		return 0;
	json_array_foreach(a, i, item) {
		if (!json_is_string(item) || chars_of(item) > RECORD_ATTR_STRING_MAX)
			return 0;
	}
	return 1;
}

/* Whether list holds more than RECORD_ATTR_ARRAY_MAX distinct strings:
 * $add's items all stay in the result (unify: $remove goes first), so such
 * an op cannot apply whatever is stored.  Compares with at most that many
 * items kept, whatever the list's length. */
static int has_too_many_distinct(json_t *list)
{
	json_t *seen[RECORD_ATTR_ARRAY_MAX];
	size_t n = 0, i;
	json_t *item;

	json_array_foreach(list, i, item) {
		size_t j;
		for (j = 0; j < n && !json_equal(seen[j], item); j++)
			;
		if (j < n)
			continue;
		if (n == RECORD_ATTR_ARRAY_MAX)
			return 1;
		seen[n++] = item;
	}
	return 0;
}

/* 1 when some key of the object starts with '$': meant as an array op
 * (an attribute's key never does). */
static int looks_like_op(json_t *value)
{
	const char *key;
	json_t *member;

	json_object_foreach(value, key, member) {
		if (key[0] == '$')
			return 1;
	}
	return 0;
}

/* {"$add": [...], "$remove": [...]}: either or both, arrays of strings.
 * Another object (Segment's address trait) is no attribute value. */
static const char *check_array_op(json_t *value, struct attr_verdict *v)
{
	static const char why[] = "must be an array op {\"$add\": [...], \"$remove\": [...]}"
				  " with arrays of strings (each <= 300 characters)";
	const char *op;
	json_t *list;

	if (!looks_like_op(value))
		return "an object is not an attribute value (the only objects are array ops"
		       " {\"$add\": [...], \"$remove\": [...]})";
	json_object_foreach(value, op, list) {
		if (!is_string_array(list))
			return why;
		if (strcmp(op, "$add") == 0)
			v->add = list;
		else if (strcmp(op, "$remove") == 0)
			v->remove = list;
		else
			return why;
	}
	if (v->add && has_too_many_distinct(v->add))
		return "$add of more than 25 distinct items (an array holds at most 25)";
	v->op = ATTR_OP_ARRAY;
	return NULL;
}

static const char *check_array(json_t *value, struct attr_verdict *v)
{
	size_t i;
	json_t *item;

	if (json_array_size(value) > RECORD_ATTR_ARRAY_MAX)
		return "more than 25 items";
	json_array_foreach(value, i, item) {
		if (!json_is_string(item))
			return "array items must be strings";
		if (chars_of(item) > RECORD_ATTR_STRING_MAX)
			return "array item longer than 300 characters";
	}
	v->op = ATTR_OP_SET;
	v->type = ATTR_ARRAY;
	return NULL;
}

static const char *check_custom(const char *key, json_t *value, struct attr_verdict *v)
{
	if (!custom_key_valid(key))
		return "key must match ^[a-z0-9_]{1,30}$";
	v->op = ATTR_OP_SET;
	switch (json_typeof(value)) {
	case JSON_NULL:
		v->op = ATTR_OP_DELETE;
		return NULL;
	case JSON_STRING:
		if (chars_of(value) > RECORD_ATTR_STRING_MAX)
			return "longer than 300 characters";
		v->type = string_type(json_string_value(value));
		return NULL;
	case JSON_INTEGER:
	case JSON_REAL:
		v->type = ATTR_NUMBER;
		return NULL;
	case JSON_TRUE:
	case JSON_FALSE:
		v->type = ATTR_BOOL;
		return NULL;
	case JSON_ARRAY:
		return check_array(value, v);
	case JSON_OBJECT:
		return check_array_op(value, v);
	}
	return "unsupported value";
}

const char *record_attr_check(const char *key, json_t *value, struct attr_verdict *v)
{
	memset(v, 0, sizeof(*v));
	if (key[0] == '$')
		return check_native(key, value, v);
	return check_custom(key, value, v);
}

/* ---- attribute names (an export's `attributes`) ---------------------- */

static int native_key_valid(const char *key)
{
	for (size_t i = 0; i < ARRAY_SIZE(natives); i++)
		if (strcmp(natives[i].key, key) == 0)
			return 1;
	return 0;
}

/* The name meant, as "did you mean" would say it: a native key a letter
 * or two off, a custom key in lower case ("Plan"); else NULL.  lower is
 * the caller's, RECORD_ATTR_KEY_MAX + 1 bytes. */
static const char *attr_key_closest(const char *key, char *lower)
{
	const char *names[ARRAY_SIZE(natives)];
	size_t n = strlen(key);

	if (key[0] == '$') {
		for (size_t i = 0; i < ARRAY_SIZE(natives); i++)
			names[i] = natives[i].key;
		return cfg_closest_name(key, names, ARRAY_SIZE(natives));
	}
	if (n > RECORD_ATTR_KEY_MAX)
		return NULL;
	for (size_t i = 0; i <= n; i++)
		lower[i] = (char)(key[i] >= 'A' && key[i] <= 'Z' ? key[i] - 'A' + 'a' : key[i]);
	return custom_key_valid(lower) ? lower : NULL;
}

int record_attr_key_refusal(const char *key, char *buf, size_t size)
{
	char lower[RECORD_ATTR_KEY_MAX + 1];
	const char *best;
	size_t len;

	if (key[0] == '$' ? native_key_valid(key) : custom_key_valid(key))
		return 0;
	best = attr_key_closest(key, lower);
	len = (size_t)snprintf(buf, size, "%s (%s%s%scustom attributes match [a-z0-9_]{1,%d},"
			       " native ones are", key[0] ? "no attribute of a profile is named so"
							  : "empty, which names no attribute",
			       best ? "did you mean \"" : "", best ? best : "", best ? "\"?; " : "",
			       RECORD_ATTR_KEY_MAX);
	for (size_t i = 0; i < ARRAY_SIZE(natives) && len < size; i++)
		len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? ", " : " ",
					natives[i].key);
	if (len < size)
		snprintf(buf + len, size - len, ")");
	return 1;
}

/* ---- consent ---------------------------------------------------------- */

const char *record_consent_check(json_t *value, enum consent_state *state)
{
	const char *s;

	if (json_is_null(value)) {
		*state = CONSENT_UNSET;
		return NULL;
	}
	s = json_string_value(value);
	if (s && strcmp(s, "subscribed") == 0) {
		*state = CONSENT_SUBSCRIBED;
		return NULL;
	}
	if (s && strcmp(s, "unsubscribed") == 0) {
		*state = CONSENT_UNSUBSCRIBED;
		return NULL;
	}
	return "must be \"subscribed\", \"unsubscribed\" or null";
}
