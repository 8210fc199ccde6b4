"""Create the stage's bucket (on the local emulator: its own S3) and record its name."""

import json
import os
import pathlib

import boto3
from shop_shared.stage import bucket_name

region = os.environ["REGION"]
account = boto3.client("sts").get_caller_identity()["Account"]
bucket = bucket_name(account)
s3 = boto3.client("s3", region_name=region)
if bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
    options = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=bucket, **options)
    print(f"created bucket {bucket}")
pathlib.Path("outputs.json").write_text(json.dumps({"bucket": bucket}))
