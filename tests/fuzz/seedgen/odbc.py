"""odbc.py - the seeds of fuzz_odbc (tests/fuzz/fuzz_odbc.c), into
tests/fixtures/odbc/ (or the directory given):

    python3 tests/fuzz/seedgen/odbc.py [DIR]

The harness's layout, by byte 0:
  0: the :cursor parameter: byte 1 the column's SQL type (an index into
     the harness's types[]; bit 7: type name "variant"), byte 2 its
     declared size, then the saved cursor text;
  1: one fetched row: byte 1 the column count - 1, a type byte and a size
     byte per column, then per column an indicator byte (0xff NULL, 0xfe
     SQL_NO_TOTAL, else a length within the buffer) and the column's
     buffer (width() bytes, sf_odbc_fetch.c's column_kind()), cut where
     the input ends.
When the harness's layout or column_kind()'s widths change, change param(),
row() and width() with them, run this, and commit the seeds it writes.
"""
import struct
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the tree

from seedgen import le64, write

# the harness's types[], in order
(DECIMAL, NUMERIC, TINYINT, SMALLINT, INTEGER, BIGINT, REAL, FLOAT, DOUBLE, BIT,
 TYPE_TIMESTAMP, TIMESTAMP, TYPE_DATE, DATE, TIMESTAMP_LTZ, TIMESTAMP_TZ, TIMESTAMP_NTZ,
 ARRAY, OBJECT, VARIANT, VARCHAR, WVARCHAR, CHAR, LONGVARCHAR) = range(24)
JSON_NAME = 0x80  # a type byte's bit 7: the type name says JSON
NULL, NO_TOTAL = 0xff, 0xfe  # indicator bytes


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
    input ends within it; cells may then be fewer than columns); tail:
    bytes after the last column, which the harness ignores."""
    out = bytes([1, len(columns) - 1])
    for t, size in columns:
        out += bytes([t, size])
    for i, (ind, data) in enumerate(cells):
        w = width(*columns[i])
        if len(data) > w:
            raise SystemExit("odbc.py: cell %d is past its %d-byte buffer" % (i, w))
        out += bytes([ind]) + (data if cut and i == len(cells) - 1 else data.ljust(w, b"\0"))
    return out + tail


def ts(year, month, day, hour=0, minute=0, second=0, fraction=0):
    """An SQL_TIMESTAMP_STRUCT."""
    return struct.pack("<hHHHHHI", year, month, day, hour, minute, second, fraction)


def utf16(*units):
    """UTF-16LE code units, lone surrogates included."""
    return b"".join(struct.pack("<H", u) for u in units)


SEEDS = [
    ("p0", param(TYPE_TIMESTAMP, 0, b"2025-01-01T00:00:00.123456789Z")),
    ("p1", param(DECIMAL, 38, b"123.45")),
    ("p2", param(BIGINT, 0, b"-9223372036854775808")),
    ("p3", param(DOUBLE, 0, b"1e10")),
    ("p4", param(BIT, 0, b"true")),
    ("p5", param(VARCHAR, 50, "h\u00e9llo \U0001f600".encode())),
    ("p6", param(ARRAY, 0, b"{}")),
    # As committed (3161ab0): c0's buffer is 514 bytes, so what was meant
    # for the TIMESTAMP, DECIMAL and DOUBLE columns is c0's data (read as
    # UTF-16) and the input ends inside it; those three read nothing.
    ("row0", row([(VARCHAR, 10), (TYPE_TIMESTAMP, 0), (DECIMAL, 38), (DOUBLE, 97)],
                 [(0, b"b" + bytes(32) + ts(2025, 1, 2, 3, 4, 5, 6) + b"\x031.5\0")],
                 cut=True)),
    ("row1", row([(DECIMAL, 0), (BIGINT, 0), (DOUBLE, 0), (VARCHAR, 0)],
                 [(6, b"-12.50"), (0, le64(-2**63)), (0, struct.pack("<d", 2.5)),
                  (4, utf16(ord("h"), ord("i"), 0xD83D, 0xDE00))], cut=True)),
    # The last type byte is TINYINT (0x92 % 24) with the JSON bit: the
    # UTF-16 '{"a":1}' meant for it fills its 8 bytes, the rest is a tail.
    ("row2", row([(BIT, 0), (TYPE_TIMESTAMP, 0), (BIGINT, 0), (TINYINT | JSON_NAME | 0x10, 0)],
                 [(0, b"\x01"), (0, ts(2026, 2, 28, 23, 59, 59, 999999999)), (NULL, b""),
                  (NO_TOTAL, '{"a'.encode("utf-16-le") + b'"\0')],
                 tail=':1}'.encode("utf-16-le"))),
    ("row3", row([(DECIMAL, 0), (TIMESTAMP_TZ, 0), (TYPE_DATE, 0)],
                 [(NO_TOTAL, b"1"), (0, ts(1, 1, 1)), (0, ts(9999, 12, 31))])),
    ("row4", row([(WVARCHAR, 10)],
                 [(200, utf16(0xD800, ord("x"), *[0xDC00, 0xFFFF] * 40))], cut=True)),
    ("row5", row([(DECIMAL, 0), (VARCHAR, 255)],
                 [(71, b"9" * 72), (NO_TOTAL, utf16(ord("a"), ord("b"), ord("c")))], cut=True)),
]

if __name__ == "__main__":
    write("odbc", SEEDS)
