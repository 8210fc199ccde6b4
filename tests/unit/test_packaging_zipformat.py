"""The zip header writer, including the ZIP64 fields a > 4 GiB archive needs.

Writing 4 GiB in a test is too slow, so sizes and offsets past the 32-bit limits
are checked on the headers themselves, and by Python's zipfile reading an archive
whose only entry sits past 4 GiB in a sparse file.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from pathlib import Path

from cbdeploy.client.packaging.reader import EntryInfo
from cbdeploy.client.packaging.zipformat import (
    DEFLATED,
    FLAG_UTF8,
    LIMIT_32,
    STORED,
    central_header,
    central_record,
    end_records,
    local_header,
    records_into,
)

GIB = 1 << 30


def _extra(record: bytes, name_len: int, fixed: int) -> bytes:
    return record[fixed + name_len :]


def test_small_entry_has_no_extra_field_and_a_fixed_timestamp() -> None:
    info = EntryInfo(b"a.txt", DEFLATED, 0x1234, 10, 20, 0o100644)
    local = local_header(info)
    sig, version, flags, method, time, date, crc, csize, size, nlen, xlen = struct.unpack(
        "<IHHHHHIIIHH", local[:30]
    )
    assert (sig, version, flags, method, crc, csize, size, nlen, xlen) == (
        0x04034B50,
        20,
        0,
        8,
        0x1234,
        10,
        20,
        5,
        0,
    )
    assert (time, date) == (0, (1 << 5) | 1)  # 1980-01-01 00:00:00
    central = central_header(info, 77)
    made_by, attr, offset = (
        struct.unpack("<H", central[4:6])[0],
        *struct.unpack("<II", central[38:46]),
    )
    assert made_by >> 8 == 3  # Unix: the mode in external_attr is honoured
    assert attr >> 16 == 0o100644 and offset == 77


def test_utf8_flag_only_for_non_ascii_utf8_names() -> None:
    assert EntryInfo(b"plain", STORED, 0, 0, 0, 0o100644).flags == 0
    assert EntryInfo("é".encode(), STORED, 0, 0, 0, 0o100644).flags == FLAG_UTF8
    assert EntryInfo(b"raw\xff", STORED, 0, 0, 0, 0o100644).flags == 0


def test_sizes_over_4_gib_use_zip64_extra_in_both_headers() -> None:
    info = EntryInfo(b"big.bin", DEFLATED, 1, 4 * GIB + 5, 6 * GIB, 0o100644)
    local = local_header(info)
    assert struct.unpack("<II", local[18:26]) == (LIMIT_32, LIMIT_32)
    assert struct.unpack("<H", local[4:6])[0] == 45
    assert struct.unpack("<HHQQ", _extra(local, 7, 30)) == (1, 16, 6 * GIB, 4 * GIB + 5)
    central = central_header(info, 7 * GIB)
    assert struct.unpack("<II", central[20:28]) == (LIMIT_32, LIMIT_32)
    assert struct.unpack("<I", central[42:46])[0] == LIMIT_32
    assert struct.unpack("<HHQQQ", _extra(central, 7, 46)) == (1, 24, 6 * GIB, 4 * GIB + 5, 7 * GIB)


def test_only_the_fields_that_overflow_go_to_the_zip64_extra() -> None:
    central = central_header(EntryInfo(b"x", STORED, 0, 3, 3, 0o100644), 5 * GIB)
    assert struct.unpack("<II", central[20:28]) == (3, 3)
    assert struct.unpack("<HHQ", _extra(central, 1, 46)) == (1, 8, 5 * GIB)
    assert local_header(EntryInfo(b"x", STORED, 0, 3, 3, 0o100644)).endswith(b"x")


def test_end_records_switch_to_zip64_past_65534_entries_or_4_gib() -> None:
    plain = end_records(65_534, 100, 200)
    assert len(plain) == 22 and struct.unpack("<HH", plain[8:12]) == (65_534, 65_534)
    for count, offset in ((65_535, 100), (70_000, 100), (3, 5 * GIB)):
        records = end_records(count, offset, 200)
        assert struct.unpack("<I", records[:4])[0] == 0x06064B50
        _, _, _, _, _, _, n1, n2, cd_size, cd_offset = struct.unpack("<IQHHIIQQQQ", records[:56])
        assert (n1, n2, cd_size, cd_offset) == (count, count, 200, offset)
        locator = struct.unpack("<IIQI", records[56:76])
        assert locator == (0x07064B50, 0, offset + 200, 1)
        eocd = struct.unpack("<IHHHHIIH", records[76:])
        assert eocd[3] == min(count, 0xFFFF) and eocd[6] == min(offset, LIMIT_32)


def test_zipfile_reads_an_entry_stored_past_4_gib(tmp_path: Path) -> None:
    data = b"hello beyond four gibibytes\n" * 10
    packed = zlib.compress(data, 6, -15)
    info = EntryInfo(b"far/away.txt", DEFLATED, zlib.crc32(data), len(packed), len(data), 0o100755)
    offset = 4 * GIB + 123
    path = tmp_path / "sparse.zip"
    with open(path, "wb") as handle:
        handle.seek(offset)  # a hole: no disk used
        handle.write(local_header(info) + packed)
        cd_offset = handle.tell()
        central = central_header(info, offset)
        handle.write(central + end_records(1, cd_offset, len(central)))
    with zipfile.ZipFile(path) as archive:
        (member,) = archive.infolist()
        assert member.header_offset == offset
        assert member.external_attr >> 16 == 0o100755
        assert archive.read(member) == data


def test_a_workers_records_in_place_are_the_headers_made_alone() -> None:
    """``records_into`` (a worker's, per file) writes the local header ``local_header``
    makes, in place, and gives the central record ``central_record`` makes at offset 0."""
    for name in (b"src/a.js", "dir/é.txt".encode(), b"raw\xff.bin"):
        for method, csize in ((DEFLATED, 7), (STORED, 20)):
            info = EntryInfo(name, method, 0xDEADBEEF, csize, 20, 0o100755)
            buffer = bytearray(b"?" * 200)
            central = records_into(buffer, 9, name, method, 0xDEADBEEF, csize, 20, 0o100755)
            head = local_header(info)
            assert buffer[9 : 9 + len(head)] == head
            assert buffer[:9] == b"?" * 9 and buffer[9 + len(head) :] == b"?" * (191 - len(head))
            assert central == central_record(name, method, 0xDEADBEEF, csize, 20, 0o100755, 0)
