"""Upload a source archive to the stage's bucket: content-addressed, parallel, resumable.

The key is ``sources/<app>/<stage>/<sha256>.zip`` (the stage's prefix, see
:mod:`client.infra.names`), so an archive already in the bucket is never sent again. Small archives go in one PutObject; larger ones as a
multipart upload whose parts travel in parallel, each with a SHA-256 checksum
S3 verifies. A part that still fails after botocore's retries is retried
again (tenacity); an upload that dies anyway is resumed by the next run: the
pending upload of the same key is found and only the parts S3 does not hold
(by checksum) are sent, so a bad uplink never restarts from zero.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from cbdeploy.client.errors import AwsError, BucketOwnershipError, CredentialsError
from cbdeploy.client.infra.model import Infrastructure

if TYPE_CHECKING:
    from cbdeploy.client.aws.client import AwsClient

MiB = 1024 * 1024
PART_SIZE = 8 * MiB
MIN_PART_SIZE = 5 * MiB  # S3 refuses smaller parts (but the last)
MAX_PARTS = 10_000
JOBS = 6

ProgressCallback = Callable[[int, int], None]  # (bytes done, bytes total)


class Archive(Protocol):
    @property
    def path(self) -> Path: ...
    @property
    def sha256(self) -> str: ...
    @property
    def size(self) -> int: ...


@dataclass(frozen=True)
class UploadResult:
    bucket: str
    key: str
    skipped: bool  # already in the bucket: nothing was sent
    sent_bytes: int = 0  # bytes sent by this run (less than the size when resumed)
    reused_parts: int = 0  # parts of an interrupted upload that were kept
    kind: str = "base"  # "delta": changed files only, rebuilt on top of base_key in the build
    base_key: str | None = None


@dataclass(frozen=True)
class Part:
    number: int
    offset: int
    size: int


def source_key(prefix: str, sha256: str) -> str:
    """The archive's key under a stage's sources prefix (``sources/<app>/<stage>/``)."""
    if not prefix.endswith("/"):
        raise ValueError(f"a sources prefix ends with '/': {prefix!r}")
    return f"{prefix}{sha256}.zip"


def parts_of(size: int, part_size: int) -> list[Part]:
    count = max(1, -(-size // part_size))
    return [
        Part(number=i + 1, offset=i * part_size, size=min(part_size, size - i * part_size))
        for i in range(count)
    ]


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


class _Progress:
    """Thread-safe byte counter that reports monotonically growing totals."""

    def __init__(self, total: int, callback: ProgressCallback | None) -> None:
        self.total = total
        self.done = 0
        self._callback = callback
        self._lock = threading.Lock()

    def add(self, count: int) -> None:
        with self._lock:
            self.done += count
            if self._callback is not None:
                self._callback(self.done, self.total)


class PartBody(io.BytesIO):
    """A part's bytes that report what the HTTP layer has sent.

    The AWS door calls ``signal_not_transferring`` while botocore reads the
    body to sign it; a retry rewinds the stream, so only bytes beyond the
    furthest point reached so far count.
    """

    def __init__(self, data: bytes, report: Callable[[int], None]) -> None:
        super().__init__(data)
        self._report = report
        self._furthest = 0
        self._transferring = True

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        if self._transferring:
            self.sent_through(self.tell())
        return chunk

    def sent_through(self, position: int) -> None:
        """The bytes up to ``position`` have been sent (each counts once). Also what the
        deploy's AWS agent, which sends a copy of the bytes, says (``client.aws.remote``)."""
        if position > self._furthest:
            self._report(position - self._furthest)
            self._furthest = position

    def signal_transferring(self) -> None:
        self._transferring = True

    def signal_not_transferring(self) -> None:
        self._transferring = False

    def finish(self) -> None:
        """Count whatever the HTTP layer sent without reading through us."""
        self.sent_through(len(self.getbuffer()))


def _retryable(error: BaseException) -> bool:
    # botocore already retried throttles, 5xx and dropped connections 10 times;
    # this outer loop covers a part that still failed, but never credential or
    # ownership problems, which no retry fixes.
    return isinstance(error, AwsError) and not isinstance(
        error, (CredentialsError, BucketOwnershipError)
    )


class Uploader:
    def __init__(
        self,
        aws: AwsClient,
        *,
        part_size: int = PART_SIZE,
        jobs: int = JOBS,
        attempts: int = 3,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.aws = aws
        self.part_size = part_size
        self.jobs = jobs
        self.attempts = attempts
        self.sleep = sleep

    def upload(
        self, bucket: str, key: str, archive: Archive, on_progress: ProgressCallback | None,
        *, look_first: bool = True,
    ) -> UploadResult:
        small = archive.size <= self.part_size
        if (look_first or not small) and self.aws.head_object(bucket, key) is not None:
            return UploadResult(bucket=bucket, key=key, skipped=True)
        progress = _Progress(archive.size, on_progress)
        if small:
            data = archive.path.read_bytes()
            body = PartBody(data, progress.add)
            self._retry(self.aws.put_object, bucket, key, body, _b64(bytes.fromhex(archive.sha256)))
            body.finish()
            return UploadResult(bucket=bucket, key=key, skipped=False, sent_bytes=archive.size)
        return self._multipart(bucket, key, archive, progress)

    def _multipart(
        self, bucket: str, key: str, archive: Archive, progress: _Progress
    ) -> UploadResult:
        part_size = max(self.part_size, MIN_PART_SIZE, -(-archive.size // MAX_PARTS))
        parts = parts_of(archive.size, part_size)
        upload_id, held = self._pending(bucket, key)
        if upload_id is None:
            upload_id = self.aws.create_multipart_upload(bucket, key)
        completed: dict[int, dict[str, Any]] = {}
        to_send: list[Part] = []
        with archive.path.open("rb") as handle:
            for part in parts:
                listed = held.get(part.number)
                kept = self._kept(listed, part, handle.fileno()) if listed else None
                if kept is not None:
                    completed[part.number] = kept
                    progress.add(part.size)
                else:
                    to_send.append(part)
            reused = len(completed)

            def send(part: Part) -> dict[str, Any]:
                data = os.pread(handle.fileno(), part.size, part.offset)
                checksum = _b64(hashlib.sha256(data).digest())
                body = PartBody(data, progress.add)
                etag = self._retry(
                    self.aws.upload_part, bucket, key, upload_id, part.number, body, checksum
                )
                body.finish()
                return {"PartNumber": part.number, "ETag": etag, "ChecksumSHA256": checksum}

            try:
                with ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="upload") as pool:
                    for done in pool.map(send, to_send):
                        completed[done["PartNumber"]] = done
            except AwsError as error:
                if type(error) is not AwsError:
                    raise  # credentials or ownership: resuming will not help
                raise AwsError(
                    f"The upload of {key} stopped: {error.message}",
                    "Run the same command again: the upload resumes with the parts S3 is missing.",
                    code=error.code,
                ) from error
        self.aws.complete_multipart_upload(
            bucket,
            key,
            upload_id,
            [completed[n] for n in sorted(completed)],
        )
        sent = sum(p.size for p in to_send)
        return UploadResult(bucket, key, skipped=False, sent_bytes=sent, reused_parts=reused)

    def _pending(self, bucket: str, key: str) -> tuple[str | None, dict[int, dict[str, Any]]]:
        """The newest interrupted upload of ``key`` and the parts S3 holds for it."""
        uploads = [
            u for u in self.aws.list_multipart_uploads(bucket, prefix=key) if u["Key"] == key
        ]
        if not uploads:
            return None, {}
        newest = max(uploads, key=lambda u: u.get("Initiated") or 0)
        held = {p["PartNumber"]: p for p in self.aws.list_parts(bucket, key, newest["UploadId"])}
        return str(newest["UploadId"]), held

    @staticmethod
    def _kept(held: dict[str, Any], part: Part, fileno: int) -> dict[str, Any] | None:
        """The part as CompleteMultipartUpload wants it, if S3 holds exactly these bytes."""
        if held.get("Size") != part.size:
            return None
        data = os.pread(fileno, part.size, part.offset)
        checksum = _b64(hashlib.sha256(data).digest())
        if held.get("ChecksumSHA256"):
            same = held["ChecksumSHA256"] == checksum
        else:
            # Where ListParts lists no checksum, a part's ETag is its MD5 (SSE-S3).
            same = (
                str(held.get("ETag", "")).strip('"')
                == hashlib.md5(data, usedforsecurity=False).hexdigest()
            )
        if not same:
            return None
        return {"PartNumber": part.number, "ETag": held["ETag"], "ChecksumSHA256": checksum}

    def _retry(self, method: Callable[..., Any], *args: Any) -> Any:
        """Call ``method(*args)``, again after a failure; the body is rewound each time."""
        # (tenacity loads here: only a multipart upload's parts are retried this way.)
        from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

        body = next(a for a in args if isinstance(a, PartBody))

        def attempt() -> Any:
            body.seek(0)
            return method(*args)

        retrying = Retrying(
            retry=retry_if_exception(_retryable),
            wait=wait_exponential(multiplier=1, min=1, max=10),
            stop=stop_after_attempt(self.attempts),
            sleep=self.sleep,
            reraise=True,
        )
        return retrying(attempt)


def upload_archive(
    aws: AwsClient,
    infra: Infrastructure,
    archive: Archive,
    *,
    on_progress: ProgressCallback | None = None,
    uploader: Uploader | None = None,
    look_first: bool = True,
) -> UploadResult:
    """Put ``archive`` at ``sources/<app>/<stage>/<sha256>.zip`` in the stage's bucket.

    Returns ``skipped=True`` when the object is already there. ``look_first`` False:
    an archive of one part is put without asking first (a delta: sending its few
    bytes again costs what the question would). ``on_progress`` is called from worker
    threads with (bytes done, bytes total). Raises AwsError when a part cannot be sent;
    running again resumes the upload.
    """
    key = source_key(infra.sources_prefix, archive.sha256)
    return (uploader or Uploader(aws)).upload(infra.bucket, key, archive, on_progress,
                                              look_first=look_first)
