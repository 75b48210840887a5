/*
 * json_bigint.h - JSON text whose integers too big for 64 bits are read as
 * doubles, and only those.  jansson refuses such an integer ("too big
 * integer"), and its JSON_DECODE_INT_AS_REAL turns every integer of the
 * document into a double (one event's 12345678901234567000 made another
 * user's `qty: 3` into 3.0).  JavaScript clients print such numbers as
 * plain digits (JSON.stringify of a number past 2^63), so the push sources
 * rewrite them before they parse again.  Header-only, like text.h, so that
 * a fuzz target may compile several plugins into one translation unit.
 */
#ifndef PLUGINS_COMMON_JSON_BIGINT_H
#define PLUGINS_COMMON_JSON_BIGINT_H

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* 1 when jansson stopped at an integer past 64 bits: "too big integer" or
 * "too big negative integer" (a real past a double is "real number
 * overflow", also numeric_overflow, and stays an error). */
static inline int json_error_is_big_int(const json_error_t *jerr)
{
	return json_error_code(jerr) == json_error_numeric_overflow &&
	       strncmp(jerr->text, "too big ", 8) == 0;
}

/* 1 when the integer literal (an optional '-', then digits; n bytes) is
 * outside int64_t, as strtoll would say with ERANGE. */
static inline int json_int_is_big(const char *lit, size_t n)
{
	static const char max[] = "9223372036854775807";
	int is_negative = lit[0] == '-';
	const char *d = lit + is_negative;
	size_t nd = n - (size_t)is_negative;
	int cmp;

	if (nd != sizeof(max) - 1)
		return nd > sizeof(max) - 1;
	cmp = memcmp(d, max, nd);
	/* INT64_MIN's digits end in 8 */
	return is_negative ? cmp > 0 && memcmp(d, "9223372036854775808", nd) != 0 : cmp > 0;
}

/*
 * One step of a scan of JSON text at text[i]: the bytes it takes in *n (a
 * byte of a string or between tokens, an escape pair in a string, or a
 * whole number token: what a number may hold, so an exponent's digits are
 * no integer of their own).  1 when they are an integer outside int64_t,
 * which the rewrite follows with ".0".  *is_in_string follows the quotes.
 */
static inline int json_bigint_step(const char *text, size_t len, size_t i, int *is_in_string,
				   size_t *n)
{
	char c = text[i];
	size_t end = i + 1;
	int is_integer = 1;

	if (*is_in_string || c == '"' || !(c == '-' || (c >= '0' && c <= '9'))) {
		if (*is_in_string && c == '\\' && i + 1 < len)
			end++;
		else if (c == '"')
			*is_in_string = !*is_in_string;
		*n = end - i;
		return 0;
	}
	for (; end < len && text[end] && strchr("0123456789.eE+-", text[end]); end++)
		if (text[end] < '0' || text[end] > '9')
			is_integer = 0;
	*n = end - i;
	return is_integer && json_int_is_big(text + i, *n);
}

/*
 * A copy of the JSON text (len bytes) in which every number token outside
 * strings that is an integer outside int64_t gets ".0" appended, so that it
 * parses as a double.  Everything else is copied as it is (a string's
 * escapes are skipped over, so "\"123...\"" stays a string); text that is
 * not JSON stays as broken as it was.  Returns the copy (malloc'd, the
 * caller frees it; NUL-terminated, its length in *out_len), or NULL when
 * out of memory.
 */
static inline char *json_big_ints_as_reals(const char *text, size_t len, size_t *out_len)
{
	/* a rewritten literal has at least 19 digits and grows by 2 */
	size_t cap = len + 2 * (len / 19) + 1, o = 0, n;
	char *out = malloc(cap);
	int is_in_string = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i += n) {
		int is_big = json_bigint_step(text, len, i, &is_in_string, &n);
		memcpy(out + o, text + i, n);
		o += n;
		if (is_big) {
			out[o++] = '.';
			out[o++] = '0';
		}
	}
	out[o] = '\0';
	*out_len = o;
	return out;
}

/* jerr of a parse of json_big_ints_as_reals(text, len) made to point into
 * text itself: each ".0" added before the error moves its position by 2,
 * and its column too when on the error's line (none adds a line). */
static inline void json_big_ints_error_back(const char *text, size_t len, json_error_t *jerr)
{
	size_t o = 0, n, added = 0, added_on_line = 0;
	int is_in_string = 0;

	for (size_t i = 0; i < len && o < (size_t)jerr->position; i += n) {
		int is_big = json_bigint_step(text, len, i, &is_in_string, &n);
		o += n;
		if (n == 1 && text[i] == '\n')
			added_on_line = 0;
		if (is_big && o + 2 <= (size_t)jerr->position) {
			o += 2;
			added += 2;
			added_on_line += 2;
		}
	}
	jerr->position -= (int)added;
	if (jerr->column > (int)added_on_line)
		jerr->column -= (int)added_on_line;
}

/*
 * json_loadb(text, len, flags), an integer past 64 bits read as a double
 * (and only it) rather than refused.  *had_big: 1 when there was one, 0
 * when not, -1 when memory ran out (NULL returned).  NULL with *jerr set:
 * the text is not JSON for another reason.  jansson reports memory
 * running out as a syntax error (or leaves a member out): `alloc_failed`,
 * the host's alloc_failed() (ABI 1.8) or the hub's alloc_failed_poll(),
 * tells which; NULL: only jansson's own out-of-memory code is seen.
 */
static inline json_t *json_loadb_big_ints(const char *text, size_t len, size_t flags,
					  json_error_t *jerr, int *had_big,
					  int (*alloc_failed)(int clear))
{
	json_t *root;
	char *reals;
	size_t reals_len;

	*had_big = 0;
	if (alloc_failed)
		alloc_failed(1);
	root = json_loadb(text, len, flags, jerr);
	if (!root && json_error_is_big_int(jerr)) {
		if (!(reals = json_big_ints_as_reals(text, len, &reals_len))) {
			*had_big = -1;
			return NULL;
		}
		*had_big = 1;
		root = json_loadb(reals, reals_len, flags, jerr);
		free(reals);
		if (!root)
			json_big_ints_error_back(text, len, jerr);
	}
	if ((alloc_failed && alloc_failed(0)) ||
	    (!root && json_error_code(jerr) == json_error_out_of_memory)) {
		json_decref(root);
		*had_big = -1;
		return NULL;
	}
	return root;
}

/* 1 when text (NUL-terminated) is JSON under flags, an integer past 64
 * bits in it counting as a number (a warehouse's JSON cell, checked before
 * it goes into a record whole); 0 when not, or when memory ran out. */
static inline int json_text_is_json(const char *text, size_t flags)
{
	json_error_t jerr;
	int had_big;
	json_t *v = json_loadb_big_ints(text, strlen(text), flags, &jerr, &had_big, NULL);

	json_decref(v);
	return v != NULL;
}

#endif
