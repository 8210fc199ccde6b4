"""libdeflate with one compressor kept for many entries (a worker process's).

The ``deflate`` binding allocates and frees a libdeflate compressor, and an
output buffer of the worst-case size, on every call: about 2 us and a few page
faults per small file, a fifth of the deflate time on a tree of small files.
Its extension module also exports libdeflate's own C API, so a worker calls
that through :mod:`ctypes` with one compressor and one output buffer it keeps.
The compressor is the same code at the same level: the bytes are those of
``deflate.deflate_compress`` (a test compares them). Where the C API is not
reachable (another build of the binding), :class:`Deflater` falls back to it.
Not thread-safe: one per process.
"""

from __future__ import annotations

import ctypes

import deflate


class Deflater:
    """Raw deflate at ``level``; :meth:`smaller` gives the deflated bytes only when
    they are smaller than the input (else the entry is stored)."""

    def __init__(self, level: int) -> None:
        self.level = level
        self._buffer = bytearray(0)  # grown to the largest input seen; pages touched lazily
        self._out: ctypes.Array[ctypes.c_char] | None = None  # the C view of _buffer
        try:
            lib = ctypes.CDLL(deflate._deflate.__file__)
            alloc = lib.libdeflate_alloc_compressor
            compress = lib.libdeflate_deflate_compress
        except (OSError, AttributeError):
            self._compress = None
            return
        alloc.restype = ctypes.c_void_p
        alloc.argtypes = [ctypes.c_int]
        compress.restype = ctypes.c_size_t
        compress.argtypes = [
            ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t
        ]
        self._compressor = alloc(level)
        self._compress = compress if self._compressor else None

    def smaller(self, data: bytes) -> bytes | None:
        """``data`` deflated, or None if that is not smaller than ``data``."""
        if self._compress is None:
            packed = deflate.deflate_compress(data, self.level)
            return bytes(packed) if len(packed) < len(data) else None
        if self._out is None or len(data) > len(self._buffer):
            self._out = None  # (a buffer with a C view cannot be replaced in place)
            self._buffer = bytearray(max(len(data), 1 << 16))
            self._out = (ctypes.c_char * len(self._buffer)).from_buffer(self._buffer)
        # An output bound of len(data) - 1: libdeflate stops (and says 0) at once when
        # the result would not be smaller.
        size = self._compress(self._compressor, data, len(data), self._out, len(data) - 1)
        return bytes(memoryview(self._buffer)[:size]) if size else None
