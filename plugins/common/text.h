/*
 * text.h - small text helpers shared by plugins, header-only so that a
 * fuzz target may include several plugins into one translation unit.
 */
#ifndef PLUGINS_COMMON_TEXT_H
#define PLUGINS_COMMON_TEXT_H

#include <string.h>
#include <strings.h>

/* The bytes at s (NUL-terminated) that form one UTF-8 character as RFC 3629
 * allows it (no overlong form, no UTF-16 surrogate, nothing past U+10FFFF):
 * its length, *ok 1.  When they do not, the length of the maximal subpart
 * of the ill-formed sequence there (Unicode 3.9: a lead byte and the
 * continuation bytes it may still take, at least one byte), *ok 0. */
static inline size_t text_utf8_span(const char *s, int *ok)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned char lo = 0x80, hi = 0xBF; /* the second byte's range */
	size_t n;

	*ok = 0;
	if (p[0] < 0x80) {
		*ok = 1;
		return 1;
	}
	if (p[0] >= 0xC2 && p[0] <= 0xDF) {
		n = 2;
	} else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
		n = 3;
		lo = p[0] == 0xE0 ? 0xA0 : 0x80; /* E0 80..9F: overlong */
		hi = p[0] == 0xED ? 0x9F : 0xBF; /* ED A0..BF: surrogates */
	} else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
		n = 4;
		lo = p[0] == 0xF0 ? 0x90 : 0x80; /* F0 80..8F: overlong */
		hi = p[0] == 0xF4 ? 0x8F : 0xBF; /* F4 90..: past U+10FFFF */
	} else {
		return 1; /* 80..C1 (continuation, overlong lead), F5..FF */
	}
	for (size_t i = 1; i < n; i++) {
		unsigned char min = i == 1 ? lo : 0x80, max = i == 1 ? hi : 0xBF;
		if (p[i] < min || p[i] > max) /* the NUL too: never read past it */
			return i;
	}
	*ok = 1;
	return n;
}

/* 1 when s (NUL-terminated) is valid UTF-8 throughout (text_utf8_span). */
static inline int text_utf8_is_valid(const char *s)
{
	int ok = 1;

	while (*s && ok)
		s += text_utf8_span(s, &ok);
	return ok;
}

/* Makes s valid UTF-8 in place: each maximal subpart of an ill-formed
 * sequence (text_utf8_span) becomes one '?', so s may get shorter (a
 * message cut mid-character, or bytes that are no text, stays printable
 * JSON: jansson refuses invalid UTF-8). */
static inline void text_utf8_repair(char *s)
{
	const char *r = s;
	char *w = s;

	while (*r) {
		int ok;
		size_t n = text_utf8_span(r, &ok);

		if (ok)
			memmove(w, r, n);
		else
			*w = '?';
		w += ok ? n : 1;
		r += n;
	}
	*w = '\0';
}

/* The length of the longest prefix of s, at most max bytes, that ends at a
 * character boundary (s is valid UTF-8): where to cut a message. */
static inline size_t text_utf8_prefix(const char *s, size_t max)
{
	size_t n = strnlen(s, max);

	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	return n;
}

/* The value of a base64 digit (RFC 4648), -1 for any other byte; with
 * url_safe, the URL alphabet's '-' and '_' are 62 and 63 too. */
static inline int text_base64_digit(unsigned char c, int url_safe)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || (url_safe && c == '-'))
		return 62;
	if (c == '/' || (url_safe && c == '_'))
		return 63;
	return -1;
}

/* The n bytes at md as 2n lowercase hex digits and a NUL, into out
 * (2n + 1 bytes). */
static inline void text_hex(const unsigned char *md, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 15];
	}
	out[2 * n] = '\0';
}

/* 1 when the value of a key-file setting (BigQuery's credentials_file,
 * Snowflake's private_key_file) is the key itself rather than a path: a
 * PEM block, its bare base64 body or a JSON document pasted in (say
 * through "${KEY_JSON}"), which messages quoting the path would print
 * whole.  The caller refuses it without showing it. */
static inline int text_is_key_not_path(const char *value)
{
	static const char base64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				     "0123456789+/=";
	size_t n_digits = 0, line = 0, ended = 0;
	int has_short_line = 0;
	const char *p = value;

	/* a bare base64 body (PKCS#8 without its PEM lines) too: a path of
	 * 64 such characters and no '.' is not one anyone writes.  Its line
	 * breaks may have become blanks (a folded YAML scalar, an env file)
	 * or the two characters \n (as a JSON key file writes them); its
	 * lines are then 64 long (RFC 7468), so one of fewer than 48 before
	 * another is a path's words ("/Users/Jane Doe/Mobile Documents/...") */
	for (; *p; p++) {
		if (strchr(base64, *p)) {
			has_short_line |= !line && ended && ended < 48;
			n_digits++;
			line++;
			continue;
		}
		if (p[0] == '\\' && p[1] == 'n')
			p++;
		else if (*p != ' ' && *p != '\t' && *p != '\r')
			break;
		ended = line ? line : ended;
		line = 0;
	}
	return strchr(value, '\n') || strchr(value, '{') || strstr(value, "-----BEGIN") ||
	       strstr(value, "PRIVATE KEY") || (!*p && n_digits >= 64 && !has_short_line);
}

/* The message for such a value, named by its key. */
#define TEXT_KEY_NOT_PATH(key)                                                       \
	key ": holds what looks like the key itself, not the path of a file holding " \
	    "it (the value is not shown)"

/* The length of url's "https://" or "http://" (8 or 7), 0 for another
 * scheme or none.  A scheme is case-insensitive (RFC 3986 3.1):
 * "HTTPS://" is https, as curl takes it. */
static inline size_t text_url_http_prefix(const char *url)
{
	if (url && strncasecmp(url, "https://", 8) == 0)
		return 8;
	if (url && strncasecmp(url, "http://", 7) == 0)
		return 7;
	return 0;
}

/* Whether the URL is plain http:// to a host other than this machine's
 * loopback (localhost, 127.x, [::1]): what it carries (a bearer token, a
 * JWT) crosses the network in clear text. */
static inline int text_url_is_clear_remote(const char *url)
{
	const char *host, *at;
	size_t n;

	if (!url || strncasecmp(url, "http://", 7) != 0)
		return 0;
	host = url + 7;
	n = strcspn(host, "/?#");
	/* the host follows the user info: http://127.0.0.1:x@db.example is remote */
	while ((at = memchr(host, '@', n))) {
		n -= (size_t)(at + 1 - host);
		host = at + 1;
	}
	if (n >= 5 && strncmp(host, "[::1]", 5) == 0)
		return !(n == 5 || host[5] == ':');
	n = strcspn(host, ":/?#");
	if (n == 9 && strncasecmp(host, "localhost", 9) == 0)
		return 0;
	return !(n > 4 && strncmp(host, "127.", 4) == 0 && strspn(host, "0123456789.") == n);
}

/* An attribute name from a free-form key (a Segment trait, an mParticle
 * user attribute): lowercased, each run of characters outside [a-z0-9_]
 * made one '_' (none beside a '_' already there, none at either end):
 * "Favorite Color" -> "favorite_color", "Total _Spend" -> "total_spend".
 * Into out (size >= 3 bytes); a longer name is cut (the host then refuses
 * it, past 30 characters). */
static inline void text_attr_name(const char *key, char *out, size_t size)
{
	size_t n = 0;
	int pending = 0;

	for (const char *p = key; *p && n < size - 2; p++) {
		char c = *p >= 'A' && *p <= 'Z' ? (char)(*p - 'A' + 'a') : *p;

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') {
			if (pending && n > 0 && out[n - 1] != '_' && c != '_')
				out[n++] = '_';
			pending = 0;
			out[n++] = c;
		} else {
			pending = 1;
		}
	}
	out[n] = '\0';
}

#define TEXT_SECRET_MIN 8

/* Writes at text + w the mark of a redacted run of n bytes ("[redacted]",
 * or n stars when shorter: never longer than the run).  Returns the new w. */
static inline size_t text_secret_mark(char *text, size_t w, size_t n)
{
	static const char mark[] = "[redacted]";

	if (n < sizeof(mark) - 1) {
		memset(text + w, '*', n);
		return w + n;
	}
	memcpy(text + w, mark, sizeof(mark) - 1);
	return w + sizeof(mark) - 1;
}

/* Whether c may be part of a word around a short secret's copy: an ASCII
 * letter or digit, or a byte of a multibyte UTF-8 character. */
static inline int text_is_word_byte(char c)
{
	unsigned char u = (unsigned char)c;

	return u >= 0x80 || (u >= '0' && u <= '9') || (u >= 'A' && u <= 'Z') ||
	       (u >= 'a' && u <= 'z');
}

/* How many bytes of a copy of the secret (n bytes) start at text + r, k of
 * them matching, the byte before them `before` (the text's, before any
 * redaction; 0 at its start): k when they count as a copy, else 0.  A
 * copy cut short
 * counts from TEXT_SECRET_MIN bytes of the secret's start on (an echo may
 * keep only the start of what it quotes).  A secret shorter than that (a
 * test server's token, a short password) counts only whole and standing
 * apart, no letter or digit just before or after it: "t" or "abc12" in
 * any text would otherwise match parts of its words. */
static inline size_t text_secret_copy_at(const char *text, size_t len, size_t r, size_t k,
					 size_t n, char before)
{
	if (k >= TEXT_SECRET_MIN)
		return k;
	if (k < n || text_is_word_byte(before) || (r + k < len && text_is_word_byte(text[r + k])))
		return 0;
	return k;
}

/*
 * Replaces in text[0..len) (NUL-terminated, as every answer body here is)
 * each copy of `secret`, a credential the request carried (its bearer
 * token, a grant's assertion), with "[redacted]" (stars when the copy is
 * shorter), and wipes the bytes freed at the end.  Returns the new length.
 * A copy is text_secret_copy_at()'s: whole, or cut short from
 * TEXT_SECRET_MIN bytes on; a secret shorter than that, only whole and
 * standing apart (a word of its own: "Bearer t," but not "the").  For a
 * refusal's body, before a message quotes it: an endpoint that is not the
 * service (a proxy, a test server, a misrouted URL) may echo the request
 * it refused.  A NULL or empty secret changes nothing.  Copies that
 * overlap (a cut one running into a whole one, when the secret's start
 * repeats in it) are one run: each offset is tried, not only those past
 * the last copy, else the whole copy's tail was left in clear.
 */
static inline size_t text_secret_redact(char *text, size_t len, const char *secret)
{
	size_t n = secret ? strlen(secret) : 0, w = 0, k, from = 0, end = 0;
	char before = 0, here; /* the text's bytes: a mark may have overwritten them */

	if (!text || n == 0)
		return len;
	for (size_t r = 0; r < len; r++, before = here) {
		here = text[r];
		for (k = 0; k < n && r + k < len && text[r + k] == secret[k]; k++)
			;
		k = text_secret_copy_at(text, len, r, k, n, before);
		if (k > 0 && r + k > end) {
			if (r >= end)
				from = r; /* a run of its own */
			end = r + k;
		}
		if (r >= end)
			text[w++] = text[r];
		else if (r + 1 == end) /* w <= from: the mark never passes r */
			w = text_secret_mark(text, w, end - from);
	}
	memset(text + w, 0, len - w); /* no byte of the secret is left past the end */
	return w;
}

/* The quote just before the scheme of the URL whose "://" is at p (a
 * quote, a double quote or a backtick at or after from), else 0. */
static inline char text_url_quote(const char *from, const char *p)
{
	while (p > from && ((p[-1] >= 'a' && p[-1] <= 'z') || (p[-1] >= 'A' && p[-1] <= 'Z') ||
			    (p[-1] >= '0' && p[-1] <= '9') || strchr("+-.", p[-1])))
		p--;
	return p > from && strchr("'\"`", p[-1]) ? p[-1] : 0;
}

/* How many bytes of the URL from r (just past its "://") its user info
 * may end within: the authority, up to the first of "/?#", a quote, a
 * blank or '<' '>'; in quotes (q), up to the line's last q, as a password
 * may hold any of those (curl refuses its syntax then, quoting it). */
static inline size_t text_url_authority_len(const char *r, char q)
{
	size_t a = strcspn(r, "/?#'\"` \t\r\n<>"), line = strcspn(r, "\r\n");

	for (size_t i = line; q && i > a; i--)
		if (r[i - 1] == q)
			return i - 1;
	return a;
}

/* Replaces in s (NUL-terminated) the user info of each URL it holds
 * ("scheme://user:password@host") with text_secret_mark()'s mark, so s
 * may get shorter: a library's message may quote a URL whole (curl's
 * "Unsupported proxy scheme for 'http://user:pw@proxy'", of a proxy the
 * environment names).  Its user info ends at the last '@' within
 * text_url_authority_len(): in quotes, a path's '@' takes the host with
 * it, rather than a password's quote, blank or '/' leaving it in clear. */
static inline void text_url_userinfo_redact(char *s)
{
	char *r = s, *w = s, *p;

	while ((p = strstr(r, "://"))) {
		size_t n = (size_t)(p + 3 - r), a, at = 0;
		char q = text_url_quote(r, p);

		memmove(w, r, n);
		w += n;
		r = p + 3;
		a = text_url_authority_len(r, q);
		for (size_t i = 0; i < a; i++)
			if (r[i] == '@')
				at = i;
		if (at > 0) {
			w = s + text_secret_mark(s, (size_t)(w - s), at);
			r += at;
		}
	}
	memmove(w, r, strlen(r) + 1);
}

/* The warning for such a URL, named by its key (never its value). */
#define TEXT_CLEAR_REMOTE(key, what)                                                     \
	key ": http:// to a host other than this machine sends " what " in clear text: " \
	    "use https://"

#endif
