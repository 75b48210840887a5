/*
 * cfg_tree.c - the configuration tree: libyaml events -> struct cfg_node,
 * every key and value carrying its 1-based file:line:col, with ${VAR}
 * expansion in scalar values.  Reading and checking a tree: cfg_check.c.
 *
 * Two ideas: a tree is only handed out when it is plain data (anchors,
 * aliases, tags, duplicate keys, non-scalar keys and second documents are
 * refused here, with a position), and every later error is written as
 * "file:line:col: path: what is wrong" by cfg_errorf.
 *
 * Never put a scalar value in a message: any value may be a secret.  Only
 * key names, variable names and positions are printed.
 */
#include "config.h"

#include "alloc.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_DEPTH 64     /* nesting deeper than this is refused */
/* Entries of one mapping or list: no config needs more, and each key is
 * compared with every earlier one (duplicates). */
#define MAX_CHILDREN 10000
/* Entries of the whole file: many full mappings would make as many
 * quadratic duplicate checks (a 16 MiB file of them ran for minutes). */
#define MAX_ENTRIES 50000
#define PATH_LEN 256
#define CONFIG_FILE_MAX (16 << 20) /* bytes: a config file is read whole */
/* What ${...} expansion may make: a reference repeated in a small file
 * would otherwise make gigabytes. */
#define EXPANDED_VALUE_MAX (1 << 20)  /* one scalar, in bytes */
#define EXPANDED_FILE_MAX (16 << 20)  /* the file's expanded scalars together */

#define YAML_TAG_STR "tag:yaml.org,2002:str"
#define YAML_TAG_SEQ "tag:yaml.org,2002:seq"
#define YAML_TAG_MAP "tag:yaml.org,2002:map"

struct parser {
	yaml_parser_t yp;
	const char *file;
	const char *text;
	size_t len;
	char *err;
	size_t err_size;
	size_t expanded; /* bytes of the scalars expanded so far */
	size_t n_entries; /* entries of every mapping and list so far */
	unsigned flags;   /* CFG_PARSE_* */
	char *unset_env;  /* CFG_PARSE_DEFER_UNSET_ENV: the scalar being parsed
			   * names an unset variable; the message it gives */
	struct strbuf unset_all; /* without it: every unset variable's message,
				  * one a line, the file read on to find them */
	size_t n_unset;
};

/* ---- messages and paths ------------------------------------------- */

static void verr_at(char *err, size_t err_size, const char *file, int line, int col,
		    const char *path, const char *fmt, va_list ap) HUB_PRINTF(7, 0);

static void verr_at(char *err, size_t err_size, const char *file, int line, int col,
		    const char *path, const char *fmt, va_list ap)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (path && *path)
		err_set(err, err_size, "%s:%d:%d: %s: %s", file, line, col, path, msg);
	else
		err_set(err, err_size, "%s:%d:%d: %s", file, line, col, msg);
}

static void err_at(char *err, size_t err_size, const char *file, int line, int col,
		   const char *path, const char *fmt, ...) HUB_PRINTF(7, 8);

static void err_at(char *err, size_t err_size, const char *file, int line, int col,
		   const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr_at(err, err_size, file, line, col, path, fmt, ap);
	va_end(ap);
}

void cfg_errorf(char *err, size_t err_size, const struct cfg_node *n, int at_key,
		const char *path, const char *fmt, ...)
{
	va_list ap;
	int line = n ? (at_key ? n->key_line : n->line) : 0;
	int col = n ? (at_key ? n->key_col : n->col) : 0;

	va_start(ap, fmt);
	verr_at(err, err_size, n && n->file ? n->file : "<config>", line, col, path, fmt, ap);
	va_end(ap);
}

void cfg_path_key(char *buf, size_t size, const char *parent, const char *key)
{
	if (parent && *parent)
		snprintf(buf, size, "%s.%s", parent, key);
	else
		snprintf(buf, size, "%s", key);
}

void cfg_path_index(char *buf, size_t size, const char *parent, size_t i)
{
	snprintf(buf, size, "%s[%zu]", parent ? parent : "", i);
}

static void parser_error(struct parser *p, const yaml_mark_t *m, const char *path,
			 const char *fmt, ...) HUB_PRINTF(4, 5);

static void parser_error(struct parser *p, const yaml_mark_t *m, const char *path,
			 const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr_at(p->err, p->err_size, p->file, (int)m->line + 1, (int)m->column + 1, path,
		fmt, ap);
	va_end(ap);
}

/* The byte offset in the text of a libyaml mark, whose index counts
 * characters (not the UTF-8 BOM libyaml skipped); p->len when past the end
 * or when the text is not UTF-8. */
static size_t mark_byte_offset(const struct parser *p, const yaml_mark_t *m)
{
	size_t at = 0, chars = 0;

	if (p->yp.encoding != YAML_UTF8_ENCODING)
		return p->len;
	if (p->len >= 3 && memcmp(p->text, "\xef\xbb\xbf", 3) == 0)
		at = 3;
	for (; at < p->len; at++)
		if (((unsigned char)p->text[at] & 0xc0) != 0x80 && chars++ == m->index)
			return at; /* the first byte of a character, not a continuation */
	return p->len;
}

/* A scanner error at a plain value starting with a character YAML keeps
 * for itself ('*' an alias, '@' and '`' reserved): the value is meant as
 * text (a cron "*\/15 * * * *", "@daily"), so say how to write it.  At a
 * tab, libyaml's "cannot start any token" never names it: an editor that
 * indents with tabs shows nothing wrong, so say it. */
static const char *scanner_hint(const struct parser *p)
{
	const yaml_parser_t *yp = &p->yp;
	size_t at = mark_byte_offset(p, &yp->context_mark);

	if (yp->error != YAML_SCANNER_ERROR || !yp->context || at >= p->len)
		return "";
	switch (p->text[at]) {
	case '*': return "; a value starting with '*' must be quoted, as in \"*/15 * * * *\"";
	case '@': return "; a value starting with '@' must be quoted, as in \"@daily\"";
	case '`': return "; a value starting with '`' must be quoted";
	case '\t': return "; YAML is indented with spaces, never tabs";
	default: return "";
	}
}

/* libyaml's own error: its problem text at its position. */
static void parser_yaml_error(struct parser *p)
{
	const yaml_parser_t *yp = &p->yp;
	int line = 1, col = 1;

	switch (yp->error) {
	case YAML_MEMORY_ERROR:
		err_set(p->err, p->err_size, "%s: out of memory", p->file);
		return;
	case YAML_READER_ERROR:
		/* Only a byte offset is known: count lines up to it. */
		for (size_t i = 0; i < yp->problem_offset && i < p->len; i++) {
			if (p->text[i] == '\n') {
				line++;
				col = 1;
			} else {
				col++;
			}
		}
		err_set(p->err, p->err_size, "%s:%d:%d: %s", p->file, line, col,
			yp->problem ? yp->problem : "cannot read the input");
		return;
	case YAML_SCANNER_ERROR:
	case YAML_PARSER_ERROR:
		if (yp->context)
			err_set(p->err, p->err_size, "%s:%zu:%zu: %s (%s at %zu:%zu)%s", p->file,
				yp->problem_mark.line + 1, yp->problem_mark.column + 1,
				yp->problem ? yp->problem : "syntax error", yp->context,
				yp->context_mark.line + 1, yp->context_mark.column + 1,
				scanner_hint(p));
		else
			err_set(p->err, p->err_size, "%s:%zu:%zu: %s", p->file,
				yp->problem_mark.line + 1, yp->problem_mark.column + 1,
				yp->problem ? yp->problem : "syntax error");
		return;
	default:
		err_set(p->err, p->err_size, "%s: cannot parse YAML", p->file);
		return;
	}
}

static int next_event(struct parser *p, yaml_event_t *ev)
{
	if (yaml_parser_parse(&p->yp, ev))
		return 0;
	parser_yaml_error(p);
	return -1;
}

/* ---- tree building ------------------------------------------------- */

static void node_free_contents(struct cfg_node *n)
{
	for (size_t i = 0; i < n->n_children; i++)
		node_free_contents(&n->children[i]);
	hub_free(n->children);
	hub_free(n->key);
	hub_free(n->value);
	hub_free(n->raw);
	hub_free(n->unset_env);
}

void cfg_free(struct cfg_node *root)
{
	if (!root)
		return;
	node_free_contents(root);
	hub_free(root); /* the file name lives in the same block */
}

static void set_pos(struct cfg_node *n, const yaml_mark_t *m)
{
	n->line = (int)m->line + 1;
	n->col = (int)m->column + 1;
}

/* Appends a zeroed child (counted at once, so a failed parse of it is
 * still freed with the tree).  NULL when out of memory. */
static struct cfg_node *add_child(struct parser *p, struct cfg_node *n, size_t *cap)
{
	struct cfg_node *slot;

	if (n->n_children == *cap) {
		size_t new_cap = *cap ? *cap * 2 : 4;
		struct cfg_node *c = hub_realloc(n->children, new_cap * sizeof(*c));
		if (!c) {
			err_set(p->err, p->err_size, "%s: out of memory", p->file);
			return NULL;
		}
		n->children = c;
		*cap = new_cap;
	}
	slot = &n->children[n->n_children++];
	memset(slot, 0, sizeof(*slot));
	slot->file = p->file;
	return slot;
}

/* Refuses an entry past MAX_CHILDREN in n, or past MAX_ENTRIES in the
 * file, at the entry's position; counts it. */
static int check_n_children(struct parser *p, const struct cfg_node *n, const yaml_mark_t *m,
			    const char *path)
{
	if (n->n_children >= MAX_CHILDREN) {
		parser_error(p, m, path, "more than %d entries in one mapping or list",
			     MAX_CHILDREN);
		return -1;
	}
	if (++p->n_entries > MAX_ENTRIES) {
		parser_error(p, m, path, "more than %d entries in the file", MAX_ENTRIES);
		return -1;
	}
	return 0;
}

static int is_utf8(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned c = s[i];
		size_t n;
		unsigned cp;

		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (len - i <= n)
			return 0;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n + 1;
	}
	return 1;
}

static int is_var_start(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static int is_var_char(char c)
{
	return is_var_start(c) || (c >= '0' && c <= '9');
}

/* 1 when a scalar of len bytes after expansion is within the caps; else
 * 0 with the error (never the value: it may be a secret). */
static int expansion_fits(struct parser *p, const yaml_mark_t *m, size_t len)
{
	if (len > EXPANDED_VALUE_MAX) {
		parser_error(p, m, NULL, "value too long after ${...} expansion (at most %d bytes)",
			     EXPANDED_VALUE_MAX);
		return 0;
	}
	if (len > EXPANDED_FILE_MAX - p->expanded) {
		parser_error(p, m, NULL, "values too long after ${...} expansion (at most %d bytes"
					 " in the whole file)", EXPANDED_FILE_MAX);
		return 0;
	}
	return 1;
}

/* The length of an environment variable's value without one trailing
 * "\n" or "\r\n": a value filled from a file (a mounted Kubernetes or
 * Docker secret, `echo tok > file`) ends in the file's line break, which
 * is no part of the secret.  Only one, and no other whitespace. */
static size_t env_value_len(const char *val)
{
	size_t len = strlen(val);

	if (len && val[len - 1] == '\n')
		len -= len > 1 && val[len - 2] == '\r' ? 2 : 1;
	return len;
}

#define UNSET_MSG_SIZE (2 * PATH_LEN + 256)

static void unset_env_message(const struct parser *p, const yaml_mark_t *m, const char *path,
			      const char *var, char *msg)
{
	msg[0] = '\0';
	err_at(msg, UNSET_MSG_SIZE, p->file, (int)m->line + 1, (int)m->column + 1, path,
	       "environment variable %s is not set", var);
}

/* CFG_PARSE_DEFER_UNSET_ENV: keeps the message an unset `var` would have
 * failed with, for the scalar's node (its first one only).  0 or -1. */
static int defer_unset_env(struct parser *p, const yaml_mark_t *m, const char *path,
			   const char *var)
{
	char msg[UNSET_MSG_SIZE];

	if (p->unset_env)
		return 0;
	unset_env_message(p, m, path, var, msg);
	if ((p->unset_env = hub_strdup(msg)))
		return 0;
	err_set(p->err, p->err_size, "%s: out of memory", p->file);
	return -1;
}

static void unset_env_add(struct strbuf *lines, const char *msg)
{
	if (lines->len)
		strbuf_append(lines, "\n", 1);
	strbuf_puts(lines, msg);
}

/* Without CFG_PARSE_DEFER_UNSET_ENV: an unset `var` is noted, and the
 * file read on, so that one error names them all (cfg_unset_env_error). */
static void note_unset_env(struct parser *p, const yaml_mark_t *m, const char *path,
			   const char *var)
{
	char msg[UNSET_MSG_SIZE];

	unset_env_message(p, m, path, var, msg);
	unset_env_add(&p->unset_all, msg);
	p->n_unset++;
}

void cfg_unset_env_error(const struct strbuf *lines, size_t n, char *err, size_t err_size)
{
	const char *line = lines->data;
	struct strbuf out;

	if (lines->failed || !line) {
		err_set(err, err_size, "out of memory listing the unset variables");
		return;
	}
	strbuf_init(&out);
	for (size_t i = 0; i < n; i++) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		if (i && out.len + len + 64 >= err_size) {
			strbuf_printf(&out, "\n(and %zu more unset)", n - i);
			break;
		}
		if (i)
			strbuf_append(&out, "\n", 1);
		strbuf_append(&out, line, len);
		line = end ? end + 1 : line + len;
	}
	err_set(err, err_size, "%s", out.failed || !out.data ? "out of memory" : out.data);
	strbuf_free(&out);
}

size_t cfg_unset_env_collect(const struct cfg_node *n, struct strbuf *lines)
{
	size_t found = 0;

	if (!n)
		return 0;
	if (n->unset_env) {
		unset_env_add(lines, n->unset_env);
		return 1;
	}
	for (size_t i = 0; i < n->n_children; i++)
		found += cfg_unset_env_collect(&n->children[i], lines);
	return found;
}

/* One ${...} reference starting at s[0] == '$', s[1] == '{', in the value
 * of the key `path`.  Appends the expansion to sb and what the file alone
 * gives (its default, else the reference as written) to written; returns
 * its length in the input, or -1 with an error naming path. */
static long expand_ref(struct parser *p, const yaml_mark_t *m, const char *path, const char *s,
		       size_t len, struct strbuf *sb, struct strbuf *written)
{
	const char *end = memchr(s, '}', len);
	const char *name = s + 2, *name_end = name, *def = NULL;
	char var[PATH_LEN];
	const char *val;
	size_t val_len;

	if (!end) {
		parser_error(p, m, path, "malformed ${...} reference: no closing }");
		return -1;
	}
	if (name_end < end && is_var_start(*name_end))
		while (name_end < end && is_var_char(*name_end))
			name_end++;
	if (name_end == name || (name_end != end && (end - name_end < 2 ||
						     name_end[0] != ':' || name_end[1] != '-'))) {
		parser_error(p, m, path,
			     "malformed ${...} reference (use ${NAME} or ${NAME:-default})");
		return -1;
	}
	if ((size_t)(name_end - name) >= sizeof(var)) {
		parser_error(p, m, path, "environment variable name is too long");
		return -1;
	}
	memcpy(var, name, (size_t)(name_end - name));
	var[name_end - name] = '\0';
	if (name_end != end)
		def = name_end + 2;
	if (def && memmem(def, (size_t)(end - def), "${", 2)) {
		/* ${A:-${B}} ended at B's brace: the default was "${B" and a
		 * stray "}" followed, so an unset B was never reported */
		parser_error(p, m, path, "nested ${...} in a default is not supported");
		return -1;
	}
	if (def)
		strbuf_append(written, def, (size_t)(end - def));
	else
		strbuf_append(written, s, (size_t)(end - s + 1));
	val = getenv(var);
	val_len = val ? env_value_len(val) : 0;
	if (def && !val_len) {
		val = def;
		val_len = (size_t)(end - def);
	} else if (!val) {
		if (!(p->flags & CFG_PARSE_DEFER_UNSET_ENV))
			note_unset_env(p, m, path, var);
		else if (defer_unset_env(p, m, path, var))
			return -1;
		val = "";
		val_len = 0;
	} else if (!is_utf8((const unsigned char *)val, val_len)) {
		parser_error(p, m, path, "environment variable %s is not valid UTF-8", var);
		return -1;
	}
	if (!expansion_fits(p, m, sb->len + val_len))
		return -1;
	strbuf_append(sb, val, val_len);
	return end - s + 1;
}

/* ${VAR}, ${VAR:-default} (also used when VAR is empty, as in sh; the
 * default is literal text, a ${ in it refused) and $$ for a literal $.
 * Any other $ is kept as it is ("$email_address").  A scalar with a
 * reference counts in the file's expanded bytes, both capped.  With a
 * reference, *written is what the file alone gives (cfg_node.raw); else
 * NULL. */
static char *expand_env(struct parser *p, const yaml_mark_t *m, const char *path, const char *s,
			size_t len, char **written)
{
	struct strbuf sb, wb;
	/* what the file alone gives, kept only where a reference may be */
	struct strbuf *w = memmem(s, len, "${", 2) ? &wb : NULL;
	size_t i = 0;
	int has_ref = 0;

	*written = NULL;
	strbuf_init(&sb);
	strbuf_init(&wb);
	while (i < len) {
		const char *dollar = memchr(s + i, '$', len - i);
		size_t lit = dollar ? (size_t)(dollar - (s + i)) : len - i;

		strbuf_append(&sb, s + i, lit);
		if (w)
			strbuf_append(w, s + i, lit);
		i += lit;
		if (i == len)
			break;
		if (i + 1 < len && s[i + 1] == '$') {
			strbuf_append(&sb, "$", 1);
			if (w)
				strbuf_append(w, "$$", 2);
			i += 2;
		} else if (i + 1 < len && s[i + 1] == '{') {
			long used = expand_ref(p, m, path, s + i, len - i, &sb, w);
			if (used < 0)
				goto fail;
			i += (size_t)used;
			has_ref = 1;
		} else {
			strbuf_append(&sb, "$", 1);
			if (w)
				strbuf_append(w, "$", 1);
			i++;
		}
	}
	if (has_ref && !expansion_fits(p, m, sb.len))
		goto fail;
	p->expanded += has_ref ? sb.len : 0;
	if (!sb.failed && !wb.failed && (!has_ref || (*written = strbuf_take(&wb)))) {
		char *out = strbuf_take(&sb); /* may allocate for an empty value */
		if (out) {
			strbuf_free(&wb);
			return out;
		}
		hub_free(*written);
		*written = NULL;
	}
	err_set(p->err, p->err_size, "%s: out of memory", p->file);
fail:
	strbuf_free(&sb);
	strbuf_free(&wb);
	return NULL;
}

/* The whole scalar is $NAME (a letter or _, then letters, digits, _): what
 * a shell, Docker Compose or systemd would expand, and this parser keeps as
 * written (only ${NAME} reads the environment, $$ is a literal $). */
static int is_name_char(char c, int is_first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	       (!is_first && c >= '0' && c <= '9');
}

static int is_shell_ref(const char *s, size_t len)
{
	if (len < 2 || s[0] != '$')
		return 0;
	for (size_t i = 1; i < len; i++)
		if (!is_name_char(s[i], i == 1))
			return 0;
	return 1;
}

static int is_null_text(const char *s)
{
	return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
	       !strcmp(s, "NULL");
}

/* Refuses what a config has no use for and what would make the tree lie
 * about where a value came from. */
static int check_props(struct parser *p, const yaml_event_t *ev, const char *anchor,
		       const char *tag, const char *allowed_tag, const char *path)
{
	if (anchor) {
		parser_error(p, &ev->start_mark, path, "anchors and aliases are not supported");
		return -1;
	}
	if (tag && strcmp(tag, allowed_tag) != 0) {
		parser_error(p, &ev->start_mark, path, "YAML tags are not supported");
		return -1;
	}
	return 0;
}

static int parse_scalar(struct parser *p, const yaml_event_t *ev, struct cfg_node *n,
			const char *path)
{
	const char *text = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;

	n->kind = CFG_SCALAR;
	if (check_props(p, ev, (const char *)ev->data.scalar.anchor,
			(const char *)ev->data.scalar.tag, YAML_TAG_STR, path))
		return -1;
	if (memchr(text, '\0', len)) {
		parser_error(p, &ev->start_mark, path, "NUL characters are not allowed");
		return -1;
	}
	n->is_quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
		       ev->data.scalar.tag != NULL;
	n->is_shell_ref = is_shell_ref(text, len);
	n->value = expand_env(p, &ev->start_mark, path, text, len, &n->raw);
	n->unset_env = p->unset_env; /* the tree owns it, also on failure */
	p->unset_env = NULL;
	if (!n->value)
		return -1;
	if (!is_utf8((const unsigned char *)n->value, strlen(n->value))) {
		parser_error(p, &ev->start_mark, path, "value is not valid UTF-8");
		return -1;
	}
	/* null as written: ${VAR} set to "" or "null" is that text, not an
	 * absent key (an empty secret is then refused as empty) */
	n->is_null = !n->is_quoted && is_null_text(text);
	return 0;
}

static int parse_value(struct parser *p, yaml_event_t *ev, struct cfg_node *n, int depth,
		       const char *path);

static int parse_seq(struct parser *p, struct cfg_node *n, int depth, const char *path)
{
	size_t cap = 0;
	char sub[PATH_LEN];

	n->kind = CFG_SEQ;
	for (;;) {
		yaml_event_t ev;
		struct cfg_node *slot;

		if (next_event(p, &ev))
			return -1;
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			return 0;
		}
		slot = check_n_children(p, n, &ev.start_mark, path) ? NULL : add_child(p, n, &cap);
		if (!slot) {
			yaml_event_delete(&ev);
			return -1;
		}
		cfg_path_index(sub, sizeof(sub), path, n->n_children - 1);
		if (parse_value(p, &ev, slot, depth + 1, sub))
			return -1;
	}
}

static int parse_key(struct parser *p, const yaml_event_t *ev, const struct cfg_node *map,
		     const char *path)
{
	const char *key;
	size_t len;
	char sub[PATH_LEN];

	if (ev->type == YAML_ALIAS_EVENT) {
		parser_error(p, &ev->start_mark, path, "anchors and aliases are not supported");
		return -1;
	}
	if (ev->type != YAML_SCALAR_EVENT) {
		parser_error(p, &ev->start_mark, path,
			     "a key must be a plain string, not a list or mapping");
		return -1;
	}
	if (check_props(p, ev, (const char *)ev->data.scalar.anchor,
			(const char *)ev->data.scalar.tag, YAML_TAG_STR, path))
		return -1;
	key = (const char *)ev->data.scalar.value;
	len = ev->data.scalar.length;
	if (memchr(key, '\0', len) || !is_utf8((const unsigned char *)key, len)) {
		parser_error(p, &ev->start_mark, path, "a key must be valid UTF-8 text");
		return -1;
	}
	if (len == 0 || (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && is_null_text(key))) {
		parser_error(p, &ev->start_mark, path, "a key must not be empty or null");
		return -1;
	}
	for (size_t i = 0; i < map->n_children; i++) {
		if (strcmp(map->children[i].key, key) == 0) {
			cfg_path_key(sub, sizeof(sub), path, key);
			parser_error(p, &ev->start_mark, sub, "duplicate key (first at line %d)",
				     map->children[i].key_line);
			return -1;
		}
	}
	return 0;
}

static int parse_map(struct parser *p, struct cfg_node *n, int depth, const char *path)
{
	size_t cap = 0;
	char sub[PATH_LEN];

	n->kind = CFG_MAP;
	for (;;) {
		yaml_event_t ev;
		struct cfg_node *slot;

		if (next_event(p, &ev))
			return -1;
		if (ev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&ev);
			return 0;
		}
		if (check_n_children(p, n, &ev.start_mark, path) || parse_key(p, &ev, n, path))
			goto fail_event;
		slot = add_child(p, n, &cap);
		if (!slot)
			goto fail_event;
		slot->key = hub_strndup((const char *)ev.data.scalar.value, ev.data.scalar.length);
		if (!slot->key) {
			err_set(p->err, p->err_size, "%s: out of memory", p->file);
			goto fail_event;
		}
		slot->key_line = (int)ev.start_mark.line + 1;
		slot->key_col = (int)ev.start_mark.column + 1;
		yaml_event_delete(&ev);

		if (next_event(p, &ev))
			return -1;
		cfg_path_key(sub, sizeof(sub), path, slot->key);
		if (parse_value(p, &ev, slot, depth + 1, sub))
			return -1;
		continue;
fail_event:
		yaml_event_delete(&ev);
		return -1;
	}
}

/* Parses the node that starts with *ev into n (key fields untouched);
 * always deletes *ev. */
static int parse_value(struct parser *p, yaml_event_t *ev, struct cfg_node *n, int depth,
		       const char *path)
{
	int rc = -1;

	set_pos(n, &ev->start_mark);
	if (depth > MAX_DEPTH && (ev->type == YAML_SEQUENCE_START_EVENT ||
				  ev->type == YAML_MAPPING_START_EVENT)) {
		parser_error(p, &ev->start_mark, path, "nested deeper than %d levels", MAX_DEPTH);
		goto out;
	}
	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		parser_error(p, &ev->start_mark, path, "anchors and aliases are not supported");
		break;
	case YAML_SCALAR_EVENT:
		rc = parse_scalar(p, ev, n, path);
		break;
	case YAML_SEQUENCE_START_EVENT:
		n->kind = CFG_SEQ;
		if (check_props(p, ev, (const char *)ev->data.sequence_start.anchor,
				(const char *)ev->data.sequence_start.tag, YAML_TAG_SEQ, path))
			break;
		rc = parse_seq(p, n, depth, path);
		break;
	case YAML_MAPPING_START_EVENT:
		n->kind = CFG_MAP;
		if (check_props(p, ev, (const char *)ev->data.mapping_start.anchor,
				(const char *)ev->data.mapping_start.tag, YAML_TAG_MAP, path))
			break;
		rc = parse_map(p, n, depth, path);
		break;
	default:
		parser_error(p, &ev->start_mark, path, "unexpected YAML structure");
		break;
	}
out:
	yaml_event_delete(ev);
	return rc;
}

/* The document inside the stream: exactly one, whose top is a mapping. */
static int parse_stream(struct parser *p, struct cfg_node *root)
{
	yaml_event_t ev;

	root->kind = CFG_MAP;
	root->line = root->col = 1;
	if (next_event(p, &ev))
		return -1;
	yaml_event_delete(&ev); /* STREAM-START */
	if (next_event(p, &ev))
		return -1;
	if (ev.type == YAML_STREAM_END_EVENT) {
		yaml_event_delete(&ev); /* an empty file: an empty mapping */
		return 0;
	}
	yaml_event_delete(&ev); /* DOCUMENT-START */
	if (next_event(p, &ev))
		return -1;
	if (parse_value(p, &ev, root, 0, ""))
		return -1;
	if (root->kind == CFG_SCALAR && root->is_null) {
		/* "---" alone or only comments after it: an empty mapping */
		hub_free(root->value);
		root->value = NULL;
		root->is_null = 0;
		root->kind = CFG_MAP;
	} else if (root->kind != CFG_MAP) {
		err_set(p->err, p->err_size,
			"%s:%d:%d: the top level must be a mapping (key: value)", p->file,
			root->line, root->col);
		return -1;
	}
	if (next_event(p, &ev))
		return -1;
	yaml_event_delete(&ev); /* DOCUMENT-END */
	if (next_event(p, &ev))
		return -1;
	if (ev.type != YAML_STREAM_END_EVENT) {
		parser_error(p, &ev.start_mark, NULL,
			     "only one YAML document is allowed (found a second ---)");
		yaml_event_delete(&ev);
		return -1;
	}
	yaml_event_delete(&ev);
	return 0;
}

int cfg_parse_string(const char *name, const char *text, size_t len,
		     struct cfg_node **root_out, char *err, size_t err_size)
{
	return cfg_parse_string_with(name, text, len, 0, root_out, err, err_size);
}

int cfg_parse_string_with(const char *name, const char *text, size_t len, unsigned flags,
			  struct cfg_node **root_out, char *err, size_t err_size)
{
	struct parser p;
	struct cfg_node *root;
	size_t name_len;
	char *file;

	*root_out = NULL;
	if (!name)
		name = "<config>";
	name_len = strlen(name);
	root = hub_calloc(1, sizeof(*root) + name_len + 1);
	if (!root) {
		err_set(err, err_size, "%s: out of memory", name);
		return -1;
	}
	file = (char *)(root + 1);
	memcpy(file, name, name_len + 1);
	root->file = file;

	memset(&p, 0, sizeof(p));
	p.file = file;
	p.text = text;
	p.len = len;
	p.err = err;
	p.err_size = err_size;
	p.flags = flags;
	strbuf_init(&p.unset_all);
	if (!yaml_parser_initialize(&p.yp)) {
		err_set(err, err_size, "%s: out of memory", name);
		goto fail_root;
	}
	yaml_parser_set_input_string(&p.yp, (const unsigned char *)text, len);
	/* an unset variable comes before any error the file gives after it */
	if (parse_stream(&p, root) || p.n_unset) {
		if (p.n_unset)
			cfg_unset_env_error(&p.unset_all, p.n_unset, err, err_size);
		goto fail_parser;
	}
	yaml_parser_delete(&p.yp);
	*root_out = root;
	return 0;

fail_parser:
	yaml_parser_delete(&p.yp);
	hub_free(p.unset_env); /* a scalar that failed before its node took it */
fail_root:
	strbuf_free(&p.unset_all);
	cfg_free(root);
	return -1;
}

int cfg_parse_file(const char *path, struct cfg_node **root, char *err, size_t err_size)
{
	return cfg_parse_file_with(path, 0, root, err, err_size);
}

int cfg_parse_file_with(const char *path, unsigned flags, struct cfg_node **root, char *err,
			size_t err_size)
{
	size_t len;
	char *text;
	int rc;

	*root = NULL;
	text = file_read_all(path, CONFIG_FILE_MAX, &len, err, err_size);
	if (!text)
		return -1;
	rc = cfg_parse_string_with(path, text, len, flags, root, err, err_size);
	hub_free(text);
	return rc;
}

const struct cfg_node *cfg_first_unset_env(const struct cfg_node *n)
{
	const struct cfg_node *found;

	if (!n || n->unset_env)
		return n;
	for (size_t i = 0; i < n->n_children; i++)
		if ((found = cfg_first_unset_env(&n->children[i])))
			return found;
	return NULL;
}
