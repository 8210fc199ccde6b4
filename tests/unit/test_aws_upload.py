"""Upload helpers without I/O beyond tmp_path: part layout, which pending parts are kept."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cbdeploy.client.deploy.upload import Part, PartBody, Uploader, parts_of, source_key


def test_parts_cover_the_file_exactly() -> None:
    parts = parts_of(10 * 1024 + 5, 1024)
    assert len(parts) == 11 and parts[-1].size == 5
    assert sum(p.size for p in parts) == 10 * 1024 + 5
    assert [p.offset for p in parts[:3]] == [0, 1024, 2048]
    assert parts_of(0, 1024) == [Part(1, 0, 0)]


def test_content_addressed_key() -> None:
    assert source_key("sources/shop/dev/", "ab" * 32) == f"sources/shop/dev/{'ab' * 32}.zip"


def test_pending_part_kept_only_when_its_checksum_matches(tmp_path: Path) -> None:
    """Real S3 lists each part's ChecksumSHA256 when the upload declared SHA256."""
    data = os.urandom(3000)
    path = tmp_path / "a.zip"
    path.write_bytes(data)
    part = Part(number=2, offset=1000, size=1000)
    good = base64.b64encode(hashlib.sha256(data[1000:2000]).digest()).decode()
    with path.open("rb") as handle:
        held = {"PartNumber": 2, "ETag": '"e"', "Size": 1000, "ChecksumSHA256": good}
        assert Uploader._kept(held, part, handle.fileno()) == {
            "PartNumber": 2,
            "ETag": '"e"',
            "ChecksumSHA256": good,
        }
        assert Uploader._kept(dict(held, ChecksumSHA256="AAAA"), part, handle.fileno()) is None
        assert Uploader._kept(dict(held, Size=999), part, handle.fileno()) is None
        md5 = hashlib.md5(data[1000:2000], usedforsecurity=False).hexdigest()
        by_etag = {"PartNumber": 2, "ETag": f'"{md5}"', "Size": 1000}
        assert Uploader._kept(by_etag, part, handle.fileno()) is not None


def test_progress_counts_sent_bytes_once_and_not_while_signing() -> None:
    counted: list[int] = []
    body = PartBody(b"x" * 100, counted.append)
    body.signal_not_transferring()
    body.read()  # botocore hashing the payload to sign it
    body.seek(0)
    body.signal_transferring()
    body.read(60)
    body.seek(0)  # a retry rewinds
    body.read()
    body.finish()
    assert sum(counted) == 100 and counted == [60, 40]
