"""rowmap.py - the seeds of fuzz_rowmap (tests/fuzz/fuzz_rowmap.c), into
tests/fixtures/rowmap/ (or the directory given):

    python3 tests/fuzz/seedgen/rowmap.py [DIR]

The harness reads its input as a stream (texts: a length byte, then the
bytes):
  byte 0   the column count - 1 (% 8); bit 7: the config is raw texts
  per column a type byte (rm_type % 7; bit 3: its name in capitals) and a
           role byte (role % 14, and for R_ATTRIBUTE_CAST the cast / 14 % 6)
  a byte   the kind (% 6: none, attributes, events, consent, erase, "bogus")
  cursor   structured: a byte (its column count - 1), a byte per column
           (its index; bit 7: a column not in the result) and, for one
           column, a byte (1: a bare string, not a list); raw: three texts,
           the map JSON, the kind (empty: none) and the cursor JSON
  texts    the saved cursor (empty: none), a query for the :cursor rewrite
  rows     until the input ends: per cell a byte (bit 0: NULL), then by
           the column's type a text, 8 bytes of double, a bool byte, or 8
           bytes of seconds and 4 of nanoseconds
When the harness's layout changes, change seed() and the cell encoders with
it, run this, and commit the seeds it writes.
"""
import json
import math
import struct
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the tree

from seedgen import write

# enum rm_type (plugins/common/rowmap.h)
STRING, NUMBER, FLOAT, BOOL, TIMESTAMP, JSON, BYTES = range(7)
# the harness's enum role and casts[]
(R_NONE, R_CUSTOM_ID, R_INSTALLATION_ID, R_EXTERNAL, R_PLATFORM, R_TIMESTAMP, R_ATTRIBUTE,
 R_ATTRIBUTE_CAST, R_EMAIL_CONSENT, R_SMS_CONSENT, R_EVENT_NAME, R_EVENT_PROPS, R_EVENT_PROP,
 R_MESSAGE_ID) = range(14)
CASTS = ("date", "number", "string", "bool", "json", "Date")
KINDS = (None, "attributes", "events", "consent", "erase", "bogus")
NOW = 1772000000  # the harness's FUZZ_NOW_MS in seconds: 2026-02-25T06:13:20Z


def col(rm_type, role=R_NONE, cast=None):
    """A column: its type byte and its role byte."""
    return rm_type, role + (14 * CASTS.index(cast) if cast else 0)


def text(b):
    if len(b) > 255:
        raise SystemExit("rowmap.py: a text over 255 bytes")
    return bytes([len(b)]) + b


def cell(rm_type, v):
    """A cell of a column of rm_type; None is NULL."""
    if rm_type == FLOAT:
        return b"\x01" + bytes(8) if v is None else b"\x00" + struct.pack("<d", v)
    if rm_type == BOOL:
        return b"\x01\x00" if v is None else bytes([0, v])
    if rm_type == TIMESTAMP:
        return b"\x01" + bytes(12) if v is None else b"\x00" + struct.pack("<qI", *v)
    return b"\x01\x00" if v is None else b"\x00" + text(v)


def seed(cols, kind, cursor=None, bare=False, raw=None, saved=b"", query=b"", rows=()):
    """cols: col() each; kind: one of KINDS; cursor: column indices
    (structured config) or raw: (map, kind, cursor) texts; rows: a value per
    column each (cell()).  saved is a cursor as the hub writes it (a string,
    or a list of strings and nulls: rowmap_remembered_text); any other is
    refused by rowmap_cursor_set and the seed's rows would never meet it."""
    items = json.loads(saved) if saved else []
    if not all(v is None or isinstance(v, str) for v in
               (items if isinstance(items, list) else [items])):
        raise SystemExit("rowmap.py: saved cursor %r: values are strings or null" % saved)
    out = bytes([(len(cols) - 1) | (0x80 if raw else 0)])
    for t, role in cols:
        out += bytes([t, role])
    out += bytes([KINDS.index(kind)])
    if raw:
        out += b"".join(text(t) for t in raw)
    else:
        out += bytes([len(cursor) - 1] + list(cursor))
        if len(cursor) == 1:
            out += bytes([bare])
    out += text(saved) + text(query)
    for r in rows:
        out += b"".join(cell(t % 7, v) for (t, _), v in zip(cols, r))
    return out


SEEDS = [
    # every cell type, a cursor (t, custom_id) past its saved tuple, a
    # number past 64 bits, an infinite double (1e400)
    ("attributes", seed(
        [col(STRING, R_CUSTOM_ID), col(TIMESTAMP, R_TIMESTAMP), col(NUMBER, R_ATTRIBUTE),
         col(FLOAT, R_ATTRIBUTE_CAST, "number"), col(BOOL, R_ATTRIBUTE), col(JSON, R_ATTRIBUTE),
         col(STRING, R_EMAIL_CONSENT), col(BYTES, R_EXTERNAL)],
        "attributes", cursor=[1, 0], saved=b'["2026-02-25T06:00:00Z", "u0"]',
        query=b"select * from p where (t, id) > (?, ?) order by t, id -- ?",
        rows=[[b"u1", (NOW, 5000), b"42", 1.5, 1, b'{"a":[1,2]}', b"opted_in", b"AAEC"],
              [b"u2", (NOW, 5000), b"-0.50", -2.0, 0, b"[1]", b"unsubscribed", b"/A=="],
              [b"u2", (NOW, 5000), b"1e400", 1e300, 1, b"null", None, None],
              [b"u3", None, None, None, None, None, b"bogus", b"gA=="],
              [b"u4", (NOW + 60, 999999999), b"9" * 20, 0.0, 1, b'"s"', b"opted_out", b""]])),
    # the casts but number (in "attributes"), a bare-string cursor on a time
    # with an offset
    ("casts", seed(
        [col(STRING, R_CUSTOM_ID), col(STRING, R_ATTRIBUTE_CAST, "date"),
         col(STRING, R_ATTRIBUTE_CAST, "string"), col(NUMBER, R_ATTRIBUTE_CAST, "bool"),
         col(STRING, R_ATTRIBUTE_CAST, "json"), col(TIMESTAMP, R_TIMESTAMP),
         col(STRING, R_PLATFORM), col(STRING, R_INSTALLATION_ID)],
        "attributes", cursor=[5], bare=True, saved=b'"2026-01-01T00:00:00.5+01:00"',
        query=b"select 1 where t >= ? and s = '?'",
        rows=[[b"a", b"2026-02-29", b"x", b"1", b'{"k":1}', (NOW, 0), b"ios", b"inst"],
              [b"b", b"2026-02-28", b"", b"0", b"not json", (NOW + 1, 1000), b"Android", b""],
              [b"c", None, None, b"true", b"[]", (NOW + 2, 0), None, b"i2"]])),
    # both channels, a bad state; a cursor time in year 0 (1 s before year
    # 1): its record is refused (years 1..9999), its checkpoint reads back
    ("consent", seed(
        [col(STRING, R_CUSTOM_ID), col(BOOL, R_EMAIL_CONSENT), col(STRING, R_SMS_CONSENT),
         col(TIMESTAMP), col(NUMBER)],
        "consent", cursor=[3, 4], saved=b'["2026-02-25T06:13:20Z", "5"]', query=b"select ? ?",
        rows=[[b"u1", 1, b"opted_in", (NOW, 0), b"5"],
              [b"u1", 0, b"opted_out", (NOW, 0), b"6"],
              [b"u2", None, None, (NOW + 5, 0), b"1"],
              [b"u3", 1, b"bogus", (-62135596801, 0), b"2"]])),
    # a NUMBER cursor, rows without one identifier or another
    ("erase", seed(
        [col(STRING, R_CUSTOM_ID), col(NUMBER), col(STRING, R_INSTALLATION_ID)],
        "erase", cursor=[1], saved=b'"10"', query=b"select id from gone where n > ?",
        rows=[[b"u1", b"11", b"i1"], [b"u2", b"12", None], [None, b"13", b"i3"],
              [b"u4", None, None]])),
    # map.message_id, the same row twice, a NaN property, no saved cursor
    ("events", seed(
        [col(STRING, R_CUSTOM_ID), col(TIMESTAMP, R_TIMESTAMP), col(STRING, R_EVENT_NAME),
         col(JSON, R_EVENT_PROPS), col(NUMBER, R_EVENT_PROP), col(STRING, R_MESSAGE_ID),
         col(FLOAT, R_EVENT_PROP), col(STRING, R_EXTERNAL)],
        "events", cursor=[1, 5], query=b"select * from e where at >= @x or at > ?",
        rows=[[b"u1", (NOW, 0), b"Order Completed", b'{"total":3}', b"3", b"evt-1", 2.5,
               b"crm1"]] * 2 +
        [[None, (NOW, 1), b"", b"[1]", None, None, 0.0, None],
         [b"u2", (NOW + 9, 0), b"Signed Up", b"null", b"7", b"evt-2", math.nan, b"crm2"]])),
    # found by the fuzzer (CI, ab81145), kept as it was found: a BYTES cell
    # of 28 digits cast to json, an integer past 64 bits
    ("number-past-64-bits", bytes.fromhex(
        "790a0230e772797965000038383c38383838383838383838383838383838383838383838383838383838"
        "3800010601040000400000000d0000b6593a206c656674206f7574")),
    # a cast rowmap does not know ("Date": names are lower case): refused
    ("cast-unknown", seed(
        [col(STRING, R_CUSTOM_ID), col(STRING, R_ATTRIBUTE_CAST, "Date")], "attributes",
        cursor=[0], rows=[[b"u1", b"2026-02-25"]])),
    # the raw config: map, kind and a (time, number) cursor as texts; the
    # saved number is a string, as rowmap_remembered_text writes it (a
    # JSON number is refused: the cursor was never set)
    ("raw", seed(
        [col(STRING), col(TIMESTAMP), col(JSON), col(NUMBER)], None,
        raw=(b'{"custom_id":"c0","timestamp":"c1","attributes":{"plan":"c2","number(n)":"c3"}}',
             b"attributes", b'["c1","c3"]'),
        saved=b'["2026-02-25T06:00:00Z", "4"]', query=b"select * from r where t >= ?",
        rows=[[b"u1", (NOW, 0), b'{"plan":"pro"}', b"4"],
              [b"u1", (NOW, 0), b'{"plan":"pro"}', b"5"],
              [b"u2", (NOW + 1, 0), b'{"a":{"b":1}}', b"6"]])),
]

if __name__ == "__main__":
    write("rowmap", SEEDS)
