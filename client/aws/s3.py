"""The S3 methods of :class:`client.aws.client.AwsClient` (a mixin; no boto3 here).

Every call that accepts it passes ``ExpectedBucketOwner``: a bucket of the
same name in another account is refused (403), never written to or read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import IO, Any

from cbdeploy.client.aws.methods import ServiceMethods
from cbdeploy.client.errors import AwsError, BucketOwnershipError


class S3Methods(ServiceMethods):
    def _s3(self, operation: str, bucket: str, **params: Any) -> Any:
        return self.call(
            "s3", operation, Bucket=bucket, ExpectedBucketOwner=self.account_id(), **params
        )

    def _s3_optional(self, operation: str, bucket: str, missing: set[str], **params: Any) -> Any:
        try:
            return self._s3(operation, bucket, **params)
        except AwsError as error:
            if error.code in missing:
                return None
            raise

    def bucket_exists(self, bucket: str) -> bool:
        """True when the bucket exists in this account; BucketOwnershipError when in another."""
        return self._s3_optional("head_bucket", bucket, {"404", "NoSuchBucket"}) is not None

    def create_bucket(self, bucket: str) -> None:
        # CreateBucket takes no ExpectedBucketOwner: a name taken elsewhere answers
        # BucketAlreadyExists, which is the same refusal.
        params: dict[str, Any] = {"Bucket": bucket, "ObjectOwnership": "BucketOwnerEnforced"}
        if self.region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            self.call("s3", "create_bucket", **params)
        except AwsError as error:
            if error.code == "BucketAlreadyOwnedByYou":
                return
            if error.code == "BucketAlreadyExists":
                raise BucketOwnershipError(
                    f"The bucket name {bucket!r} is taken by another AWS account.",
                    "cbdeploy never uses a bucket it does not own. Check that --aws-profile "
                    "points at the intended account.",
                    code=error.code,
                ) from error
            raise

    def get_public_access_block(self, bucket: str) -> dict[str, Any] | None:
        found = self._s3_optional(
            "get_public_access_block", bucket, {"NoSuchPublicAccessBlockConfiguration"}
        )
        return dict(found["PublicAccessBlockConfiguration"]) if found else None

    def put_public_access_block(self, bucket: str, config: Mapping[str, bool]) -> None:
        self._s3("put_public_access_block", bucket, PublicAccessBlockConfiguration=dict(config))

    def get_bucket_encryption(self, bucket: str) -> list[dict[str, Any]] | None:
        found = self._s3_optional(
            "get_bucket_encryption", bucket, {"ServerSideEncryptionConfigurationNotFoundError"}
        )
        return list(found["ServerSideEncryptionConfiguration"]["Rules"]) if found else None

    def put_bucket_encryption(self, bucket: str, rules: Sequence[Mapping[str, Any]]) -> None:
        self._s3(
            "put_bucket_encryption",
            bucket,
            ServerSideEncryptionConfiguration={"Rules": list(rules)},
        )

    def get_bucket_policy(self, bucket: str) -> dict[str, Any] | None:
        found = self._s3_optional("get_bucket_policy", bucket, {"NoSuchBucketPolicy"})
        return dict(json.loads(found["Policy"])) if found else None

    def put_bucket_policy(self, bucket: str, policy: Mapping[str, Any]) -> None:
        self._s3("put_bucket_policy", bucket, Policy=json.dumps(policy))

    def get_bucket_lifecycle(self, bucket: str) -> list[dict[str, Any]] | None:
        found = self._s3_optional(
            "get_bucket_lifecycle_configuration", bucket, {"NoSuchLifecycleConfiguration"}
        )
        return list(found["Rules"]) if found else None

    def put_bucket_lifecycle(self, bucket: str, rules: Sequence[Mapping[str, Any]]) -> None:
        self._s3(
            "put_bucket_lifecycle_configuration",
            bucket,
            LifecycleConfiguration={"Rules": list(rules)},
        )

    def head_object(self, bucket: str, key: str) -> dict[str, Any] | None:
        found = self._s3_optional(
            "head_object", bucket, {"404", "NoSuchKey"}, Key=key, ChecksumMode="ENABLED"
        )
        return dict(found) if found else None

    def put_object(
        self, bucket: str, key: str, body: bytes | IO[bytes], checksum_sha256: str
    ) -> None:
        self._s3(
            "put_object",
            bucket,
            Key=key,
            Body=body,
            ChecksumAlgorithm="SHA256",
            ChecksumSHA256=checksum_sha256,
        )

    def get_object(self, bucket: str, key: str) -> bytes | None:
        """The object's bytes, checked against the SHA-256 S3 stored with it; None if missing."""
        found = self._s3_optional(
            "get_object", bucket, {"404", "NoSuchKey"}, Key=key, ChecksumMode="ENABLED"
        )
        if found is None:
            return None
        body = found["Body"]
        try:
            return bytes(body.read())
        finally:
            body.close()

    def refresh_object(self, bucket: str, key: str) -> None:
        """Copy an object onto itself: its LastModified, the lifecycle's clock, starts again.

        Server-side: no byte travels from the client. The checksum is computed again.
        """
        self._s3(
            "copy_object",
            bucket,
            Key=key,
            CopySource={"Bucket": bucket, "Key": key},
            MetadataDirective="REPLACE",
            ChecksumAlgorithm="SHA256",
            ExpectedSourceBucketOwner=self.account_id(),
        )

    def create_multipart_upload(self, bucket: str, key: str) -> str:
        return str(
            self._s3("create_multipart_upload", bucket, Key=key, ChecksumAlgorithm="SHA256")[
                "UploadId"
            ]
        )

    def upload_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        number: int,
        body: bytes | IO[bytes],
        checksum_sha256: str,
    ) -> str:
        """Upload one part; S3 verifies ``checksum_sha256`` (base64) and refuses a mismatch."""
        return str(
            self._s3(
                "upload_part",
                bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                Body=body,
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=checksum_sha256,
            )["ETag"]
        )

    def list_parts(self, bucket: str, key: str, upload_id: str) -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = []
        params: dict[str, Any] = {"Key": key, "UploadId": upload_id}
        while True:
            page = self._s3("list_parts", bucket, **params)
            parts.extend(page.get("Parts") or ())
            if not page.get("IsTruncated"):
                return parts
            params["PartNumberMarker"] = page["NextPartNumberMarker"]

    def list_multipart_uploads(self, bucket: str, prefix: str = "") -> list[dict[str, Any]]:
        uploads: list[dict[str, Any]] = []
        params: dict[str, Any] = {"Prefix": prefix}
        while True:
            page = self._s3("list_multipart_uploads", bucket, **params)
            uploads.extend(page.get("Uploads") or ())
            if not page.get("IsTruncated"):
                return uploads
            params["KeyMarker"] = page["NextKeyMarker"]
            params["UploadIdMarker"] = page["NextUploadIdMarker"]

    def complete_multipart_upload(
        self, bucket: str, key: str, upload_id: str, parts: Sequence[Mapping[str, Any]]
    ) -> None:
        """Complete the upload; if a retry finds it gone but the object there, that is success."""
        try:
            self._s3(
                "complete_multipart_upload",
                bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": [dict(p) for p in parts]},
            )
        except AwsError as error:
            if error.code != "NoSuchUpload" or self.head_object(bucket, key) is None:
                raise

    def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None:
        self._s3("abort_multipart_upload", bucket, Key=key, UploadId=upload_id)

    def empty_bucket(self, bucket: str) -> int:
        """Delete every object version, delete marker and pending upload; return the count."""
        deleted = 0
        params: dict[str, Any] = {}
        while True:
            page = self._s3("list_object_versions", bucket, **params)
            doomed = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in (page.get("Versions") or []) + (page.get("DeleteMarkers") or [])
            ]
            for start in range(0, len(doomed), 1000):
                self._s3(
                    "delete_objects",
                    bucket,
                    Delete={"Objects": doomed[start : start + 1000], "Quiet": True},
                )
            deleted += len(doomed)
            if not page.get("IsTruncated"):
                break
            params = {
                "KeyMarker": page["NextKeyMarker"],
                "VersionIdMarker": page["NextVersionIdMarker"],
            }
        for upload in self.list_multipart_uploads(bucket):
            self.abort_multipart_upload(bucket, upload["Key"], upload["UploadId"])
        return deleted

    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        """The keys under ``prefix`` (none when the bucket does not exist)."""
        keys: list[str] = []
        params: dict[str, Any] = {"Prefix": prefix}
        while True:
            page = self._s3_optional("list_objects_v2", bucket, {"NoSuchBucket"}, **params)
            if page is None:
                return keys
            keys += [item["Key"] for item in page.get("Contents") or []]
            if not page.get("IsTruncated"):
                return keys
            params["ContinuationToken"] = page["NextContinuationToken"]

    def delete_objects(self, bucket: str, keys: Sequence[str]) -> None:
        """Delete these objects (1,000 a request, as S3 takes them)."""
        for start in range(0, len(keys), 1000):
            chunk = [{"Key": key} for key in keys[start : start + 1000]]
            self._s3("delete_objects", bucket, Delete={"Objects": chunk, "Quiet": True})

    def delete_bucket(self, bucket: str) -> None:
        self._s3_optional("delete_bucket", bucket, {"NoSuchBucket"})
