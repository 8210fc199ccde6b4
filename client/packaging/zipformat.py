"""The bytes of a zip file: headers and end records, ZIP64 where needed.

Everything that could vary between machines or runs is fixed: one timestamp
(1980-01-01 00:00, the earliest a zip can hold), no extra fields except the
ZIP64 one when a size or offset needs it, "made by" Unix so the mode in the
upper half of ``external_attr`` (file type and permission bits) is honoured.

Loads nothing but :mod:`struct`: a worker process builds its records with it, and
importing :mod:`typing` would cost each worker more than a hundred files' work.
"""

from __future__ import annotations

import struct

TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing; mypy knows the name)
if TYPE_CHECKING:
    from cbdeploy.client.packaging.reader import EntryInfo

LOCAL_SIG = 0x04034B50
CENTRAL_SIG = 0x02014B50
EOCD_SIG = 0x06054B50
ZIP64_EOCD_SIG = 0x06064B50
ZIP64_LOCATOR_SIG = 0x07064B50
ZIP64_EXTRA_ID = 0x0001

STORED = 0
DEFLATED = 8
DOS_TIME = 0
DOS_DATE = (0 << 9) | (1 << 5) | 1  # 1980-01-01
VERSION_DEFAULT = 20
VERSION_ZIP64 = 45
MADE_BY = (3 << 8) | VERSION_ZIP64  # Unix
FLAG_UTF8 = 0x0800
LIMIT_32 = 0xFFFFFFFF
LIMIT_16 = 0xFFFF

_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_EOCD = struct.Struct("<IHHHHIIH")
_ZIP64_EOCD = struct.Struct("<IQHHIIQQQQ")
_ZIP64_LOCATOR = struct.Struct("<IIQI")


def name_flags(name: bytes) -> int:
    """Bit 11 (UTF-8) for non-ASCII names that are valid UTF-8; raw bytes otherwise."""
    if name.isascii():
        return 0
    try:
        name.decode("utf-8")
    except UnicodeDecodeError:
        return 0
    return FLAG_UTF8


def local_header(entry: EntryInfo) -> bytes:
    """The local file header; position-independent, so a cached copy stays valid."""
    extra = b""
    size, csize, version = entry.size, entry.compressed_size, VERSION_DEFAULT
    if size >= LIMIT_32 or csize >= LIMIT_32:
        extra = struct.pack("<HHQQ", ZIP64_EXTRA_ID, 16, size, csize)
        size = csize = LIMIT_32
        version = VERSION_ZIP64
    head = _LOCAL.pack(
        LOCAL_SIG,
        version,
        name_flags(entry.name),
        entry.method,
        DOS_TIME,
        DOS_DATE,
        entry.crc,
        csize,
        size,
        len(entry.name),
        len(extra),
    )
    return head + entry.name + extra


def records_into(
    buffer: bytearray, at: int, name: bytes, method: int, crc: int, csize: int, size: int,
    mode: int,
) -> bytes:
    """For an entry under 4 GiB (a worker's): its :func:`local_header`, written into
    ``buffer`` at ``at`` (the batch's buffer: no bytes object for it), and its central
    record for offset 0 (the builder puts the real offset in), as one call."""
    flags = 0 if name.isascii() else name_flags(name)
    _LOCAL.pack_into(
        buffer, at, LOCAL_SIG, VERSION_DEFAULT, flags, method, DOS_TIME, DOS_DATE, crc, csize,
        size, len(name), 0,
    )
    buffer[at + _LOCAL.size : at + _LOCAL.size + len(name)] = name
    return _CENTRAL.pack(
        CENTRAL_SIG, MADE_BY, VERSION_DEFAULT, flags, method, DOS_TIME, DOS_DATE, crc, csize,
        size, len(name), 0, 0, 0, 0, (mode & 0xFFFF) << 16, 0,
    ) + name


def central_header(entry: EntryInfo, offset: int) -> bytes:
    """The central directory record of an entry whose local header is at ``offset``."""
    return central_record(*entry, offset)


def central_record(
    name: bytes, method: int, crc: int, csize: int, size: int, mode: int, offset: int
) -> bytes:
    """:func:`central_header` from plain values (the copy of an unchanged run calls it
    once per entry: no :class:`EntryInfo` to build)."""
    if size < LIMIT_32 and csize < LIMIT_32 and offset < LIMIT_32:
        return (
            _CENTRAL.pack(
                CENTRAL_SIG,
                MADE_BY,
                VERSION_DEFAULT,
                0 if name.isascii() else name_flags(name),
                method,
                DOS_TIME,
                DOS_DATE,
                crc,
                csize,
                size,
                len(name),
                0,
                0,
                0,
                0,
                (mode & 0xFFFF) << 16,
                offset,
            )
            + name
        )
    fields: list[int] = []
    if size >= LIMIT_32:
        fields.append(size)
        size = LIMIT_32
    if csize >= LIMIT_32:
        fields.append(csize)
        csize = LIMIT_32
    if offset >= LIMIT_32:
        fields.append(offset)
        offset = LIMIT_32
    extra = struct.pack(f"<HH{len(fields)}Q", ZIP64_EXTRA_ID, 8 * len(fields), *fields)
    head = _CENTRAL.pack(
        CENTRAL_SIG,
        MADE_BY,
        VERSION_ZIP64,
        name_flags(name),
        method,
        DOS_TIME,
        DOS_DATE,
        crc,
        csize,
        size,
        len(name),
        len(extra),
        0,
        0,
        0,
        (mode & 0xFFFF) << 16,
        offset,
    )
    return head + name + extra


def end_records(count: int, cd_offset: int, cd_size: int) -> bytes:
    """End of central directory, preceded by the ZIP64 record and locator when needed."""
    out = b""
    if count >= LIMIT_16 or cd_offset >= LIMIT_32 or cd_size >= LIMIT_32:
        zip64_offset = cd_offset + cd_size
        out += _ZIP64_EOCD.pack(
            ZIP64_EOCD_SIG,
            _ZIP64_EOCD.size - 12,
            MADE_BY,
            VERSION_ZIP64,
            0,
            0,
            count,
            count,
            cd_size,
            cd_offset,
        )
        out += _ZIP64_LOCATOR.pack(ZIP64_LOCATOR_SIG, 0, zip64_offset, 1)
    out += _EOCD.pack(
        EOCD_SIG,
        0,
        0,
        min(count, LIMIT_16),
        min(count, LIMIT_16),
        min(cd_size, LIMIT_32),
        min(cd_offset, LIMIT_32),
        0,
    )
    return out
