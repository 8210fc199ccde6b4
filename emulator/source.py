"""Fetch a build's source zip from moto S3 and extract it safely.

Unix modes and symbolic links are restored from each entry's
``external_attr >> 16``, as ``zip -y``/``unzip`` do. Names are restored as
Info-ZIP ``unzip`` restores them on Linux: a name flagged UTF-8 (bit 11) is
UTF-8; any other name from an archive made on Unix is the exact bytes stored
(``caf\xe9.txt`` stays those 8 bytes, never ``cafΘ.txt``); one made elsewhere
is read as code page 437. An entry that would land outside the work directory
(an absolute path, ``..``, or a link escaping it, also through earlier links)
fails the build instead of being written.
"""

from __future__ import annotations

import io
import os
import stat
import zipfile
from pathlib import Path

from cbdeploy.emulator import backends


class SourceError(Exception):
    """The source cannot be fetched or extracted (CodeBuild's CLIENT_ERROR)."""


def fetch_zip(location: str, version: str | None = None, role: str = "primary") -> bytes:
    """The bytes of the S3 source ``bucket/key.zip`` (optionally a given version)."""
    bucket, _, key = location.partition("/")
    if not bucket or not key:
        raise SourceError(f"invalid S3 source location {location!r}: expected bucket/key.zip")
    data = backends.read_object(bucket, key, version)
    if data is None:
        raise SourceError(
            "NoSuchKey: The specified key does not exist. "
            f"for {role} source and source version arn:aws:s3:::{location}"
        )
    return data


def extract_zip(data: bytes, target: Path) -> int:
    """Extract ``data`` into ``target`` (an existing directory); returns the entry count."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as error:
        raise SourceError(f"zip: not a valid zip file ({error})") from error
    root = Path(os.path.realpath(target))
    links: list[Path] = []
    with archive:
        for info in archive.infolist():
            name = _entry_name(info)
            path = _safe_path(root, name)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                link_target = os.fsdecode(archive.read(info))  # raw bytes, like the name
                _make_parent(root, path, name)
                if os.path.isabs(link_target):
                    raise _escape(name)
                _remove_existing(path)
                os.symlink(link_target, path)
                links.append(path)
                _check_inside(root, path, name)
            elif info.is_dir():
                _make_parent(root, path / "x", name)
                if mode & 0o777:
                    os.chmod(path, (mode & 0o7777) | 0o700)
            else:
                _make_parent(root, path, name)
                _remove_existing(path)
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                fd = os.open(path, flags, 0o644)
                with os.fdopen(fd, "wb") as out, archive.open(info) as src:
                    while chunk := src.read(1 << 20):
                        out.write(chunk)
                if mode & 0o777:
                    os.chmod(path, mode & 0o7777)
        # A later link can change where an earlier one resolves: check them all again.
        for link in links:
            _check_inside(root, link, str(link.relative_to(root)))
        return len(archive.infolist())


def _entry_name(info: zipfile.ZipInfo) -> str:
    """The entry's name as ``unzip`` writes it on Linux, ``os.fsdecode``-d (zipfile has
    decoded every name without the UTF-8 flag as code page 437, which maps all 256
    bytes: encoding it back gives the stored bytes)."""
    if info.flag_bits & 0x800 or info.create_system != _MADE_ON_UNIX:
        return info.filename
    return os.fsdecode(info.filename.encode("cp437"))


_MADE_ON_UNIX = 3


def _safe_path(root: Path, name: str) -> Path:
    if name.startswith(("/", "\\")) or (len(name) > 2 and name[1] == ":" and name[2] in "/\\"):
        raise _escape(name)
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts or not parts:
        raise _escape(name)
    return root.joinpath(*parts)


def _make_parent(root: Path, path: Path, name: str) -> None:
    """Create ``path``'s parent directories, never through a link that leads outside.

    The deepest existing ancestor is checked before anything is created: a link
    written earlier may point outside by now (a later link changed where it
    resolves), and ``mkdir`` would follow it.
    """
    parent = path.parent
    existing = parent
    while existing != root and not (existing.exists() or existing.is_symlink()):
        existing = existing.parent
    if not _within(root, Path(os.path.realpath(existing))):
        raise _escape(name)
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # e.g. a component is a dangling link or a file
        raise SourceError(f"zip: cannot create the directory of {name!r}: {error.strerror}") from error
    if not _within(root, Path(os.path.realpath(parent))):
        raise _escape(name)


def _check_inside(root: Path, link: Path, name: str) -> None:
    if not _within(root, Path(os.path.realpath(link))):
        raise _escape(name)


def _within(root: Path, path: Path) -> bool:
    return path == root or root in path.parents


def _remove_existing(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()


def _escape(name: str) -> SourceError:
    return SourceError(f"zip: insecure file path {name!r}: it would be extracted outside the source directory")
