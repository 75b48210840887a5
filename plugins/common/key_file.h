/*
 * key_file.h - reading a key file (BigQuery's credentials_file,
 * Snowflake's private_key_file) into one buffer that the caller wipes.
 *
 * read(2) goes straight into that buffer: a stdio stream would keep a
 * second copy of the key in its own buffer, which fclose() frees as it
 * is.  Header-only so that a fuzz target may include the plugins that use
 * it into one translation unit.
 */
#ifndef PLUGINS_COMMON_KEY_FILE_H
#define PLUGINS_COMMON_KEY_FILE_H

#include "text.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* No key file is near this: an RSA-4096 PEM is ~3.3 kB, a service-account
 * JSON key ~2.4 kB. */
#define KEY_FILE_MAX (1 << 20)

/* Room for at least `need` bytes in *text (capacity *cap, `got` bytes
 * used): a new buffer with the bytes copied, the old one wiped and freed
 * (realloc would leave a copy of the key behind).  0, or -1 with *text
 * untouched. */
static inline int key_file_grow(char **text, size_t *cap, size_t got, size_t need)
{
	size_t want = *cap ? *cap : 4096;
	char *bigger;

	while (want < need)
		want *= 2;
	if (want == *cap)
		return 0;
	if (!(bigger = malloc(want)))
		return -1;
	if (*text) {
		memcpy(bigger, *text, got);
		OPENSSL_cleanse(*text, got);
		free(*text);
	}
	*text = bigger;
	*cap = want;
	return 0;
}

/* The whole of the file at path (the value of the setting named
 * `setting`), NUL-terminated, its length in *len.  Caller owns it and
 * frees it with key_file_free(text, *len), which wipes it.  NULL with a
 * message in err naming the setting and the path, never the content: a
 * value that is the key itself rather than its path is refused unquoted.
 * Read to its end whatever its size says: a file that reports none (one
 * a filesystem makes as it is read) or that grows meanwhile is read
 * whole, up to KEY_FILE_MAX. */
static inline char *key_file_read(const char *setting, const char *path, size_t *len,
				  char *err, size_t err_size)
{
	struct stat st;
	char *text = NULL;
	size_t got = 0, cap = 0;
	ssize_t n = 0;
	int fd;

	*len = 0;
	if (text_is_key_not_path(path)) {
		snprintf(err, err_size, TEXT_KEY_NOT_PATH("%s"), setting);
		return NULL;
	}
	/* O_NONBLOCK: a FIFO given for the path would block open() until a
	 * writer came (for ever, at create); it changes nothing for a regular
	 * file, the only kind read */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) < 0 ||
	    fstat(fd, &st) != 0) {
		snprintf(err, err_size, "%s: cannot read %s: %s", setting, path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, err_size, "%s: cannot read %s: %s", setting, path,
			 S_ISDIR(st.st_mode) ? "it is a directory" : "not a regular file");
		goto fail;
	}
	if (st.st_size > KEY_FILE_MAX) {
		snprintf(err, err_size, "%s: %s is %lld bytes: too large for a key file "
			 "(at most %d)", setting, path, (long long)st.st_size, KEY_FILE_MAX);
		goto fail;
	}
	/* one byte past the size: the read that finds the end fits */
	for (size_t need = (size_t)st.st_size + 1;; need = got + 1) {
		if (need > KEY_FILE_MAX + 1) {
			snprintf(err, err_size, "%s: %s holds more than %d bytes: too large for "
				 "a key file", setting, path, KEY_FILE_MAX);
			goto fail;
		}
		if (key_file_grow(&text, &cap, got, need)) {
			snprintf(err, err_size, "%s: out of memory", setting);
			goto fail;
		}
		n = read(fd, text + got, cap - got);
		if (n == 0)
			break;
		if (n < 0 && errno != EINTR) {
			snprintf(err, err_size, "%s: cannot read %s: %s", setting, path,
				 strerror(errno));
			goto fail;
		}
		got += n > 0 ? (size_t)n : 0;
	}
	text[got] = '\0';
	close(fd);
	*len = got;
	return text;
fail:
	if (text)
		OPENSSL_cleanse(text, got);
	free(text);
	if (fd >= 0)
		close(fd);
	return NULL;
}

/* Wipes and frees what key_file_read() returned (NULL is fine). */
static inline void key_file_free(char *text, size_t len)
{
	if (text)
		OPENSSL_cleanse(text, len);
	free(text);
}

#endif
