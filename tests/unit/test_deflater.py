"""The worker's kept libdeflate compressor writes what the ``deflate`` binding writes."""

from __future__ import annotations

import random

import deflate

from cbdeploy.client.packaging.deflater import Deflater
from cbdeploy.client.packaging.reader import LEVEL


def inputs() -> list[bytes]:
    rng = random.Random(3)
    words = [b"alpha", b"beta", b"gamma", b"delta", b"{", b"}", b"\n"]
    texts = [b" ".join(rng.choice(words) for _ in range(rng.randint(1, 40_000))) for _ in range(40)]
    noise = [rng.randbytes(n) for n in (1, 2, 100, 70_000, 300_000)]  # not smaller deflated
    return [b"a", b"aa", b"a" * 1000, *texts, *noise, b"x" * (3 << 20)]


def test_kept_compressor_gives_the_bindings_bytes_or_none_when_not_smaller() -> None:
    kept = Deflater(LEVEL)
    assert kept._compress is not None  # the C API is reachable in the pinned binding
    for data in inputs():
        expected = bytes(deflate.deflate_compress(data, LEVEL))
        got = kept.smaller(data)
        if len(expected) < len(data):
            assert got == expected
        else:
            assert got is None


def test_the_fallback_without_the_c_api_gives_the_same() -> None:
    fallback = Deflater(LEVEL)
    fallback._compress = None  # as where the binding exports no libdeflate symbols
    kept = Deflater(LEVEL)
    for data in inputs():
        assert fallback.smaller(data) == kept.smaller(data)
