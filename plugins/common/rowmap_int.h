/*
 * rowmap_int.h - what the files of the row mapping share (never included
 * outside plugins/common):
 *
 *   rowmap.c     the `map` / `kind` / `cursor` config, binding to a
 *                result's columns, a row -> a record -> emit()
 *   rm_value.c   text buffers, times, decimals, a cell as a JSON value
 *   rm_cursor.c  cursor tuples (typed comparison, checkpoint text) and the
 *                :cursor rewrite of queries
 */
#ifndef ROWMAP_INT_H
#define ROWMAP_INT_H

#include "rowmap.h"

#include <stddef.h>
#include <stdint.h>

/* How a mapped column is read into an attribute (`date(x)` forms). */
enum rm_cast {
	CAST_NONE = 0,
	CAST_DATE,
	CAST_NUMBER,
	CAST_STRING,
	CAST_BOOL,
	CAST_JSON,
};

/* One record field fed by one column. */
struct target {
	char *key;     /* attribute or property name, id type, consent channel */
	char *column;  /* as configured */
	char *path;    /* "map.attributes.plan", for messages */
	enum rm_cast cast;
	int index;     /* in the bound result; -1 before bind */
	int nulls;     /* a cursor column: where this result put its NULLs, as far
			* as its rows showed (rm_cursor.c): 0 not yet, -1 first, 1 last */
};

struct target_list {
	struct target *items;
	size_t n;
};

/* A value of a tuple, owned by the tuple. */
struct value {
	int is_null;
	int64_t sec;
	int32_t nsec;
	double f;
	int b;
	size_t text_at; /* offset in the tuple's pool */
};

struct tuple {
	struct value *v;
	size_t n;         /* values set (0: none) */
	char *pool;
	size_t pool_len, pool_cap;
};

/* A growable text buffer; `failed` once an allocation failed. */
struct buf {
	char *p;
	size_t len, cap;
	int failed;
};

#define RM_DROPPED_MAX 64 /* warnings of one row; more are not named */

struct rowmap {
	char *source;
	enum rm_kind kind;
	struct target custom_id, installation_id, platform, timestamp, event_name, event_props;
	struct target msg_id;   /* map.message_id (kind events) */
	struct target_list externals, attrs, consent, props;
	struct target_list cursor;

	struct rm_column *cols; /* bound: names copied */
	size_t n_cols;
	struct tuple saved, last;
	struct tuple before;     /* the tuple remembered before last (less than it) */
	int is_last_new;         /* last's row was after saved (rowmap_row_is_new) */
	int is_before_new;       /* before's was */

	struct buf attrs_json, consent_json, props_json, text, hash_in;

	/* the attributes and properties the row being built left out (a
	 * cast that does not apply): rowmap_emit() warns of each */
	const struct target *dropped[RM_DROPPED_MAX];
	size_t n_dropped;
};


/* ---- rm_value.c ---- */

/* The instants a row may give (a record's time, a date attribute): years
 * 0000..9999, what rm_time_parse() reads and the warehouses store. */
#define RM_SEC_MIN (-62167219200LL) /* 0000-01-01T00:00:00Z */
#define RM_SEC_MAX 253402300799LL   /* 9999-12-31T23:59:59Z */

void rm_buf_reset(struct buf *b);
void rm_buf_add(struct buf *b, const char *s, size_t n);
void rm_buf_puts(struct buf *b, const char *s);
void rm_buf_json_string(struct buf *b, const char *s);
/* RFC 3339 with milliseconds ("...T03:04:05.123Z"): a date attribute. */
char *rm_time_format_ms(int64_t sec, int32_t nsec, char *buf, size_t size);
/* A cell as an instant (times; date strings; epoch numbers) within
 * RM_SEC_MIN..RM_SEC_MAX (a date string's offset may take it a day
 * past); -1: none. */
int rm_cell_instant(enum rm_type type, const struct rm_cell *c, int64_t *sec, int32_t *nsec);
/* The cell as an attribute's JSON value; 1: nothing written (left out). */
int rm_append_value(struct buf *b, enum rm_type type, enum rm_cast cast,
		    const struct rm_cell *c);
/* The cell as a consent state: "subscribed", "unsubscribed" or null. */
void rm_append_consent(struct buf *b, enum rm_type type, const struct rm_cell *c);

/* ---- rm_cursor.c ---- */

/* The bound type of a target's column (RM_STRING before binding). */
enum rm_type rm_col_type(const struct rowmap *m, const struct target *t);

/* ---- rowmap.c ---- */

void rm_tuple_free(struct tuple *t);

#endif
