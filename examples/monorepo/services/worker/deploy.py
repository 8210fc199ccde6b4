"""Record the worker's nightly job settings in the bucket infra created."""

import json
import os
import pathlib

import boto3
from shop_shared import format_price
from shop_shared.stage import bucket_name

account = boto3.client("sts").get_caller_identity()["Account"]
bucket = bucket_name(account)
s3 = boto3.client("s3", region_name=os.environ["REGION"])
s3.head_bucket(Bucket=bucket)  # fails if infra has not run first
job = {"schedule": "0 3 * * *", "alertAbove": format_price(100000)}
s3.put_object(Bucket=bucket, Key="worker/job.json", Body=json.dumps(job).encode())
pathlib.Path("outputs.json").write_text(json.dumps({"jobKey": f"s3://{bucket}/worker/job.json"}))
print(f"worker job recorded at s3://{bucket}/worker/job.json")
