"""Which entries are deflated, at what level, and libdeflate with one compressor kept
for many entries (a worker process's).

The ``deflate`` binding allocates and frees a libdeflate compressor, and an
output buffer of the worst-case size, on every call: about 2 us and a few page
faults per small file, a fifth of the deflate time on a tree of small files.
Its extension module also exports libdeflate's own C API, so a worker calls
that through :mod:`ctypes` with one compressor, deflating each entry straight
into its place in the batch's buffer (:attr:`Deflater.buffer`). The compressor
is the same code at the same level: the bytes are those of
``deflate.deflate_compress`` (a test compares them). Where the C API is not
reachable (another build of the binding), :class:`Deflater` falls back to it.
Not thread-safe: one per process.

Loads neither :mod:`typing` nor :mod:`ctypes` on import (a worker starts with
this module, and the builder imports the settings alone).
"""

from __future__ import annotations

import deflate

TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing; mypy knows the name)
if TYPE_CHECKING:
    import ctypes

# libdeflate's fastest level: on babel/babel its archive is 0.85 x git archive's
# (zlib level 6), where level 6 gives 0.81 x for 1.6 x the deflate time.
LEVEL = 1

# Formats that are compressed already: deflating them costs time and saves nothing.
STORED_SUFFIXES = frozenset(
    [
        "png",
        "jpg",
        "jpeg",
        "gif",
        "webp",
        "avif",
        "heic",
        "ico",
        "zip",
        "gz",
        "tgz",
        "bz2",
        "xz",
        "zst",
        "lz4",
        "lzma",
        "7z",
        "rar",
        "jar",
        "war",
        "ear",
        "whl",
        "egg",
        "apk",
        "aab",
        "ipa",
        "nupkg",
        "woff",
        "woff2",
        "mp4",
        "m4v",
        "mov",
        "avi",
        "mkv",
        "webm",
        "mp3",
        "m4a",
        "aac",
        "ogg",
        "oga",
        "opus",
        "flac",
        "pdf",
        "docx",
        "xlsx",
        "pptx",
        "odt",
        "ods",
        "epub",
        "br",
    ]
)
_STORED = frozenset(suffix.encode("ascii") for suffix in STORED_SUFFIXES)


def wants_store(name: bytes) -> bool:
    """Whether the entry ``name`` is stored without trying deflate: its suffix (after
    the last dot of its last part), in any case, is in :data:`STORED_SUFFIXES`.
    (``bytes.lower`` changes ASCII letters alone, as the suffixes are.)"""
    dot = name.rfind(b".")
    return dot > name.rfind(b"/") and name[dot + 1 :].lower() in _STORED


class Deflater:
    """Raw deflate at ``level`` into :attr:`buffer`, or (:meth:`smaller`) as bytes; an
    entry is deflated only when that makes it smaller (else it is stored)."""

    def __init__(self, level: int) -> None:
        import ctypes

        self.level = level
        self.buffer = bytearray(0)  # grown by reserve(); pages touched lazily
        self._view: ctypes.Array[ctypes.c_char] | None = None  # the C view of buffer
        self._base = 0  # buffer's address
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

    def reserve(self, size: int) -> bytearray:
        """:attr:`buffer`, at least ``size`` bytes long (its bytes are not kept when it grows)."""
        if len(self.buffer) < size:
            self._view = None  # (a buffer with a C view cannot be replaced in place)
            self.buffer = bytearray(max(size, 1 << 16))
            if self._compress is not None:
                import ctypes

                self._view = (ctypes.c_char * len(self.buffer)).from_buffer(self.buffer)
                self._base = ctypes.addressof(self._view)
        return self.buffer

    def into(self, data: bytes, at: int) -> int:
        """Deflate ``data`` (not empty) into :attr:`buffer` at ``at``, which has room for
        ``len(data)`` bytes there: the deflated size, or 0 if that is not smaller than
        ``data`` (the bytes there are then undefined)."""
        if self._compress is None:
            packed = deflate.deflate_compress(data, self.level)
            if len(packed) >= len(data):
                return 0
            self.buffer[at : at + len(packed)] = packed
            return len(packed)
        # An output bound of len(data) - 1: libdeflate stops (and says 0) at once when
        # the result would not be smaller.
        size: int = self._compress(
            self._compressor, data, len(data), self._base + at, len(data) - 1
        )
        return size

    def smaller(self, data: bytes) -> bytes | None:
        """``data`` deflated, or None if that is not smaller than ``data`` (uses :attr:`buffer`)."""
        if not data:
            return None
        buffer = self.reserve(len(data))
        size = self.into(data, 0)
        return bytes(buffer[:size]) if size else None
