"""odbc.py - the seeds of fuzz_odbc (tests/fuzz/fuzz_odbc.c), into
tests/fixtures/odbc/ (or the directory given):

    python3 tests/fuzz/seedgen/odbc.py [DIR]

The harness's layout, by byte 0:
  0: the :cursor parameter: byte 1 the column's SQL type (an index into
     the harness's types[], byte % 24; bit 7: type name "variant", see
     json_named()), byte 2 its declared size, then the saved cursor text;
  1: one fetched row: byte 1 the column count - 1, a type byte and a size
     byte per column, then per column an indicator byte (0xff NULL, 0xfe
     SQL_NO_TOTAL, else a length within the buffer) and the column's
     buffer (width() bytes, sf_odbc_fetch.c's column_kind()), cut where
     the input ends.
When the harness's layout or column_kind()'s widths change, change param(),
row() and width() with them, run this, and commit the seeds it writes.
"""
import os
import struct
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the tree

from seedgen import le64, write

# the harness's types[], in order
(DECIMAL, NUMERIC, TINYINT, SMALLINT, INTEGER, BIGINT, REAL, FLOAT, DOUBLE, BIT,
 TYPE_TIMESTAMP, TIMESTAMP, TYPE_DATE, DATE, TIMESTAMP_LTZ, TIMESTAMP_TZ, TIMESTAMP_NTZ,
 ARRAY, OBJECT, VARIANT, VARCHAR, WVARCHAR, CHAR, LONGVARCHAR) = range(24)
JSON_NAME = 0x80  # a type byte's bit 7: the type name says JSON ("variant", "json")
NULL, NO_TOTAL = 0xff, 0xfe  # indicator bytes


def json_named(t):
    """The type byte of types[t] with bit 7 set (its name says JSON): the
    harness takes the byte % 24 whole, so t | 0x80 would be another type
    (0x80 + t is types[(8 + t) % 24])."""
    return JSON_NAME | (t - JSON_NAME % 24) % 24


def width(t, size):
    """A column's buffer in bytes (sf_odbc_fetch.c's column_kind())."""
    t_index = t % 24
    if t_index in (DECIMAL, NUMERIC):
        return 72  # NUMBER_WIDTH
    if TINYINT <= t_index <= DOUBLE:
        return 8
    if t_index == BIT:
        return 1
    if TYPE_TIMESTAMP <= t_index <= TIMESTAMP_NTZ:
        return 16  # SQL_TIMESTAMP_STRUCT
    chars = 16384 if t_index in (ARRAY, OBJECT, VARIANT) or t & JSON_NAME else 2048
    if 0 < size < chars:
        chars = size
    return (max(chars, 256) + 1) * 2  # MIN_CAP_CHARS, UTF-16 units and a NUL


def param(t, size, text):
    """The :cursor parameter text bound to a column of type t."""
    return bytes([0, t, size]) + text


def row(columns, cells, cut=False, tail=b""):
    """columns: (type, size) each; cells: (indicator, data) each, data
    zero-filled to the column's width, the last one not when cut (the
    input ends within it); tail: bytes after the last column, which the
    harness ignores.  A cell each column: data past its column's buffer
    would be the next column's, and is refused."""
    if not 1 <= len(columns) <= 4 or len(cells) != len(columns):
        raise SystemExit("odbc.py: %d columns (1..4), %d cells" % (len(columns), len(cells)))
    out = bytes([1, len(columns) - 1])
    for t, size in columns:
        out += bytes([t, size])
    for i, (ind, data) in enumerate(cells):
        w = width(*columns[i])
        if len(data) > w:
            raise SystemExit("odbc.py: cell %d is past its %d-byte buffer" % (i, w))
        out += bytes([ind]) + (data if cut and i == len(cells) - 1 else data.ljust(w, b"\0"))
    return out + tail


def columns_read(seed):
    """What the harness reads of a fetched-row seed: per column (type
    byte, bytes of its indicator and buffer found in the input, bytes it
    takes, the indicator byte or None), and the bytes past the last column,
    which it ignores."""
    n = 1 + seed[1] % 4
    heads = [seed[2 + 2 * i:4 + 2 * i].ljust(2, b"\0") for i in range(n)]
    at, out = 2 + 2 * n, []
    for t, size in heads:
        end = at + 1 + width(t, size)
        out.append((t, max(0, min(end, len(seed)) - at), end - at,
                    seed[at] if at < len(seed) else None))
        at = end
    return out, max(0, len(seed) - at)


def check(path):
    """What a committed fetched-row seed's columns miss: a column that gets
    no byte, or one but the last cut short (its bytes were read as another
    column's), a JSON name on a type that ignores it (a number or a time:
    json_named() not used), SQL_NO_TOTAL on a text or DECIMAL column but the
    last (without a driver, fetch_whole() fails and the columns after it
    are never converted), or bytes past the last column (ignored).  []
    when none."""
    with open(path, "rb") as f:
        seed = f.read()
    if len(seed) < 2 or not seed[0] & 1:
        return []
    cols, tail = columns_read(seed)
    out = ["c%d (type byte 0x%02x) reads %d of its %d bytes" % (i, t, got, need)
           for i, (t, got, need, _) in enumerate(cols)
           if got == 0 or (got < need and i < len(cols) - 1)]
    out += ["c%d (type byte 0x%02x): a JSON name on a type that ignores it" % (i, t)
            for i, (t, _, _, _) in enumerate(cols) if t & JSON_NAME and t % 24 < ARRAY]
    out += ["c%d: SQL_NO_TOTAL ends the row before c%d" % (i, i + 1)
            for i, (t, _, _, ind) in enumerate(cols[:-1])
            if ind == NO_TOTAL and (t % 24 in (DECIMAL, NUMERIC) or t % 24 >= ARRAY)]
    if tail:
        out.append("%d bytes past the last column, which the harness ignores" % tail)
    return ["%s: %s" % (os.path.basename(path), o) for o in out]


def ts(year, month, day, hour=0, minute=0, second=0, fraction=0):
    """An SQL_TIMESTAMP_STRUCT."""
    return struct.pack("<hHHHHHI", year, month, day, hour, minute, second, fraction)


def utf16(*units):
    """UTF-16LE code units, lone surrogates included."""
    return b"".join(struct.pack("<H", u) for u in units)


def sqlstate(state):
    """A parameter seed whose text is a SQLSTATE (classify() reads it)."""
    return param(VARCHAR, 5, state)


SEEDS = [
    ("p0", param(TYPE_TIMESTAMP, 0, b"2025-01-01T00:00:00.123456789Z")),
    ("p1", param(DECIMAL, 38, b"123.45")),
    ("p2", param(BIGINT, 0, b"-9223372036854775808")),
    ("p3", param(DOUBLE, 0, b"1e10")),
    ("p4", param(BIT, 0, b"true")),
    ("p5", param(VARCHAR, 50, "h\u00e9llo \U0001f600".encode())),
    ("p6", param(ARRAY, 0, b"{}")),
    # a REAL compared as a float; one past FLT_MAX as a double
    ("p7", param(REAL, 0, b"0.7")),
    ("p8", param(REAL, 0, b"1e39")),
    # values that do not read as the column's type: refused, naming it
    ("p9", param(BIGINT, 0, b"12x")),
    ("p10", param(TIMESTAMP_NTZ, 0, b"2025-13-01T00:00:00Z")),
    ("p11", param(FLOAT, 0, b"")),
    # a whole-microsecond time (6 digits), a NUMERIC of no declared size
    ("p12", param(TIMESTAMP_LTZ, 0, b"2025-06-30T23:59:59.5+02:00")),
    ("p13", param(NUMERIC, 0, b"-0.000000000000000000000000000000000000001")),
    # a name saying JSON; bytes that are not UTF-8 (a lone continuation, a
    # cut 4-byte sequence, an overlong NUL)
    ("p14", param(json_named(VARCHAR), 0, b'{"a":[1]}')),
    ("p15", param(WVARCHAR, 0, b"a\x80b\xf0\x9f\x98\xc0\x80")),
    # SQLSTATEs: retried, refused login, configuration, data
    ("p16", sqlstate(b"08S01")),
    ("p17", sqlstate(b"40001")),
    ("p18", sqlstate(b"28000")),
    ("p19", sqlstate(b"42S02")),
    ("p20", sqlstate(b"22007")),
    # a VARCHAR(10) (a 514-byte buffer: MIN_CAP_CHARS), a TIMESTAMP, a
    # DECIMAL and a DOUBLE, each read from its own buffer
    ("row0", row([(VARCHAR, 10), (TYPE_TIMESTAMP, 0), (DECIMAL, 38), (DOUBLE, 97)],
                 [(1, b"b\0"), (0, ts(2025, 1, 2, 3, 4, 5, 6)), (3, b"1.5"),
                  (0, struct.pack("<d", float("inf")))])),
    ("row1", row([(DECIMAL, 0), (BIGINT, 0), (DOUBLE, 0), (VARCHAR, 0)],
                 [(6, b"-12.50"), (0, le64(-2**63)), (0, struct.pack("<d", 2.5)),
                  (4, utf16(ord("h"), ord("i"), 0xD83D, 0xDE00))], cut=True)),
    # a BIT, a TIMESTAMP, a NULL BIGINT, and a VARCHAR(20) whose type name
    # says JSON, holding '{"a":1}' (7 units)
    ("row2", row([(BIT, 0), (TYPE_TIMESTAMP, 0), (BIGINT, 0), (json_named(VARCHAR), 20)],
                 [(0, b"\x01"), (0, ts(2026, 2, 28, 23, 59, 59, 999999999)), (NULL, b""),
                  (7, '{"a":1}'.encode("utf-16-le"))], cut=True)),
    # the first and last days (formatted: the row converts)
    ("row3", row([(TIMESTAMP_TZ, 0), (TYPE_DATE, 0)], [(0, ts(1, 1, 1)), (0, ts(9999, 12, 31))])),
    ("row4", row([(WVARCHAR, 10)],
                 [(200, utf16(0xD800, ord("x"), *[0xDC00, 0xFFFF] * 40))], cut=True)),
    ("row5", row([(DECIMAL, 0), (VARCHAR, 255)],
                 [(71, b"9" * 72), (NO_TOTAL, utf16(ord("a"), ord("b"), ord("c")))], cut=True)),
    # the other integer, float and time types: a TINYINT, a SMALLINT NULL,
    # a REAL NaN, a DATE a driver filled with a month and day out of range
    ("row6", row([(TINYINT, 0), (SMALLINT, 0), (REAL, 0), (DATE, 0)],
                 [(0, le64(-128)), (NULL, b""), (0, struct.pack("<d", float("nan"))),
                  (0, ts(-1, 13, 0, 25, 61, 61, 2**32 - 1))])),
    # Snowflake's own types: an OBJECT, an ARRAY (JSON as UTF-16), a
    # TIMESTAMP_NTZ and a TIMESTAMP_LTZ
    ("row7", row([(OBJECT, 30), (ARRAY, 2), (TIMESTAMP_NTZ, 0), (TIMESTAMP_LTZ, 0)],
                 [(9, '{"k":"\u00e9"}'.encode("utf-16-le")), (2, "[]".encode("utf-16-le")),
                  (0, ts(1970, 1, 1)), (0, ts(2038, 1, 19, 3, 14, 8))], cut=True)),
    # an INTEGER, a FLOAT, an empty NUMERIC, a VARIANT of no known length
    ("row8", row([(INTEGER, 0), (FLOAT, 0), (NUMERIC, 0), (VARIANT, 0)],
                 [(0, le64(2**31 - 1)), (0, struct.pack("<d", -0.0)), (0, b""),
                  (NO_TOTAL, '"s"'.encode("utf-16-le"))], cut=True)),
    # a DECIMAL of no known length: fetch_whole() fails without a driver
    # (row3 had it first: the columns after it were never converted)
    ("row10", row([(DECIMAL, 0)], [(NO_TOTAL, b"1")])),
    # CHAR and LONGVARCHAR; a TIMESTAMP NULL
    ("row9", row([(CHAR, 1), (LONGVARCHAR, 100), (TIMESTAMP, 0)],
                 [(1, b"Y\0"), (3, utf16(0xFEFF, 0x20AC, 0)), (NULL, b"")], cut=True)),
]

if __name__ == "__main__":
    if sys.argv[1:2] == ["--check"]:  # --check SEED...: what check() finds
        problems = [p for path in sys.argv[2:] for p in check(path)]
        print("\n".join(problems))
        sys.exit(1 if problems else 0)
    write("odbc", SEEDS)
