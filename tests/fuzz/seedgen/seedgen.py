"""seedgen.py - what the seed generators of this directory share: writing
their seeds, each a name and its bytes, into the fixtures directory the
target's seeds come from (tests/fuzz/run.sh's seeds()), or into the
directory given as the one argument.  Nothing else is touched: a seed
dropped from a generator stays until it is removed by hand (git rm), and
tests/integration/fuzz_seedgen.sh then fails until it is.
"""
import os
import struct
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")


def le64(v):
    """v as 8 bytes, little endian (a raw int64 of a harness)."""
    return struct.pack("<q", v)


def write(target, seeds):
    """Writes seeds (a list of (name, bytes)) for target (fuzz_NAME's
    NAME) into argv[1], else tests/fixtures/NAME."""
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tests", "fixtures", target)
    names = [n for n, _ in seeds]
    if len(set(names)) != len(names):
        sys.exit("seedgen: %s: a seed name is used twice" % target)
    os.makedirs(out, exist_ok=True)
    for name, data in seeds:
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
