/*
 * text.h - small text helpers shared by plugins, header-only so that a
 * fuzz target may include several plugins into one translation unit.
 */
#ifndef PLUGINS_COMMON_TEXT_H
#define PLUGINS_COMMON_TEXT_H

#include <string.h>

/* Replaces, in place, every byte that does not start a valid UTF-8
 * character with '?' (a message cut mid-character stays printable JSON). */
static inline void text_utf8_repair(char *s)
{
	unsigned char *p = (unsigned char *)s;

	while (*p) {
		int n = *p < 0x80 ? 1 : (*p >> 5) == 6 ? 2 : (*p >> 4) == 14 ? 3
						      : (*p >> 3) == 30 ? 4 : 0;
		int ok = n > 0;
		for (int i = 1; ok && i < n; i++)
			ok = (p[i] & 0xC0) == 0x80;
		if (!ok) {
			*p++ = '?';
			continue;
		}
		p += n;
	}
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

#endif
