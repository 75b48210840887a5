"""hubrec.py - the seeds of fuzz_hubrec (tests/fuzz/fuzz_hubrec.c), into
tests/fixtures/hubrec/ (or the directory given):

    python3 tests/fuzz/seedgen/hubrec.py [DIR]

The harness's layout: 40 header bytes (0 the record type + 2, 1 the size
selector, 2 flags, 3 the identifier count, 4..27 timestamp_ms, sent_at_ms
and received_at_ms as raw little-endian int64, 28..39 unused), then texts
split at 0x01: message_id, platform, attributes_json, consent_json,
event_name, properties_json, previous_id, origin, then type and value of
each identifier.  When the harness's layout changes, change rec() and the
seeds with it, run this, and commit the seeds it writes.
"""
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the tree

from seedgen import le64, write

# enum hub_record_type (hub/include/hub_plugin.h)
IDENTIFY, TRACK, ATTRIBUTES, CONSENT, LOGOUT, ALIAS, ERASE = range(7)
# byte 1: 2 is a record of ABI 1.0's size (up to previous_id)
SIZE_ABI_1_0 = 2
# byte 2
F_CUSTOM_ID_NULL, F_HAS_TIMESTAMP, F_EMPTY_IS_TEXT = 1, 2, 16
NOW = 1772000000000  # the harness's NOW_MS
YEAR_9999_END = 253402300799999  # 9999-12-31T23:59:59.999Z
FIELDS = ("message_id", "platform", "attributes", "consent", "event_name", "properties",
          "previous_id", "origin")


def rec(rtype, ids=(), size=0, flags=0, n_ids=None, at=(0, 0, 0), spare=0, **texts):
    """A record of rtype; ids (type, value) pairs; at: timestamp, sent_at
    and received_at in ms; texts by FIELDS name (others empty); n_ids: the
    count byte when it is not len(ids)."""
    head = bytes([rtype + 2, size, flags, len(ids) if n_ids is None else n_ids])
    head += b"".join(le64(v) for v in at) + bytes([spare]) + bytes(11)
    parts = [texts.pop(f, b"") for f in FIELDS]
    if texts:
        raise SystemExit("hubrec.py: no field %s" % ", ".join(texts))
    for t, v in ids:
        parts += [t, v]
    return head + b"\x01".join(parts)


AT_NOW = (NOW, NOW + 5, NOW + 9)  # sent and received just after the event
AT_MARCH = (1741000000000, 0, 0)  # 2025-03-03, nothing else set

SEEDS = [
    ("alias", rec(ALIAS, [(b"custom_id", b"new")], previous_id=b"old")),
    ("attributes", rec(
        ATTRIBUTES, [(b"custom_id", b"u1"), (b"phone", b"+1 (415) 555-0100"),
                     (b"email", b"Someone@Example.COM")],
        flags=F_HAS_TIMESTAMP, at=AT_NOW, message_id=b"m-a1", platform=b"android",
        attributes=b'{"plan":"gold","n":3,"r":-1.5e3,"ok":true,'
        b'"$phone_number":"+14155550100","$email_address":"x@y.io",'
        b'"when":"2026-02-29T00:00:00Z","list":[1,"a"],"obj":{"k":1},"nul":null,'
        b'"Bad Key":1,"$bogus":2,"$first_name":"Zo\xc3\xab"}')),
    ("consent", rec(CONSENT, [(b"custom_id", b"u")],
                    consent=b'{"email":{"state":"granted"}}')),
    ("consent-bad", rec(CONSENT, [(b"email", b"no-at-sign")], at=AT_NOW, message_id=b"m-c2",
                        consent=b'{"email_marketing":null,"sms_marketing":"yes"}')),
    ("consent-channels", rec(
        CONSENT, [(b"custom_id", b"u2"), (b"phone", b"not a phone")], flags=F_HAS_TIMESTAMP,
        at=AT_NOW, message_id=b"m-c1",
        consent=b'{"email_marketing":"subscribed","sms_marketing":"unsubscribed",'
        b'"push":"subscribed"}')),
    ("erase", rec(ERASE, [(b"custom_id", b"u3"), (b"crm_id", b"c3")], flags=F_HAS_TIMESTAMP,
                  at=AT_NOW, message_id=b"m-e1", origin=b"gdpr-request-7")),
    ("erase-no-id", rec(ERASE, flags=F_EMPTY_IS_TEXT, at=AT_NOW, message_id=b"m-e2")),
    ("identify", rec(IDENTIFY, [(b"custom_id", b"u1"), (b"crm_id", b"c1")],
                     flags=F_HAS_TIMESTAMP, at=AT_MARCH, message_id=b"m1", platform=b"ios",
                     attributes=b'{"plan":"gold","$email_address":"a@b.co"}', consent=b"{}",
                     origin=b"batch[0]")),
    ("logout", rec(LOGOUT, [(b"installation_id", b"i-1")], flags=F_HAS_TIMESTAMP, at=AT_NOW,
                   message_id=b"m-l1", platform=b"web")),
    # a timestamp 1 ms before year 1, in a record of ABI 1.0's size
    ("old-size", rec(IDENTIFY, [(b"custom_id", b"u4")], size=SIZE_ABI_1_0,
                     flags=F_HAS_TIMESTAMP, at=(-62135596800001, NOW + 5, NOW + 9),
                     message_id=b"m-o1", platform=b"ios", attributes=b'{"a":1}')),
    # found by the fuzzer (CI's final run, ef59d4a): received near the end
    # of year 9999 with a skew of hours; kept as it was found
    ("skew_past_year_9999", rec(
        IDENTIFY, [(b"gmail", b"d&"), (b"email", b"cd"), (b"email", b"cM"),
                   (b"email", b"FFFFFFFmd"), (b"email", b"cM"), (b"email", b"cu_i{")],
        n_ids=0xc3, at=(26565551, 4194304, YEAR_9999_END), spare=0x24,
        message_id=b'"a@b.co"}', platform=b"{}", properties=b"batchMFF",
        previous_id=b"crm_id", origin=b"md")),
    ("track", rec(TRACK, [(b"installation_id", b"I1")], flags=F_HAS_TIMESTAMP, at=AT_MARCH,
                  platform=b"web", event_name=b"Buy", properties=b'{"p":1}')),
    # a NULL custom_id (an empty value), an unknown identifier type, an
    # event name past its limit; the installation_id is the usable
    # identifier (without it the record was refused for having none, before
    # the event name was read)
    ("track-null-id", rec(
        TRACK, [(b"custom_id", b""), (b"unknown_type", b"v"), (b"installation_id", b"i-9")],
        flags=F_CUSTOM_ID_NULL | F_HAS_TIMESTAMP, at=AT_NOW, message_id=b"m-t1",
        platform=b"ios", event_name=b"x" * 300, properties=b"[1]")),
]

if __name__ == "__main__":
    write("hubrec", SEEDS)
