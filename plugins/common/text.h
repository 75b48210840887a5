/*
 * text.h - small text helpers shared by plugins, header-only so that a
 * fuzz target may include several plugins into one translation unit.
 */
#ifndef PLUGINS_COMMON_TEXT_H
#define PLUGINS_COMMON_TEXT_H

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

#endif
