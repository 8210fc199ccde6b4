"""Publish dist/ to an S3 bucket of this stage and write the site's address to outputs.json.

Inside the local emulator, AWS_ENDPOINT_URL points boto3 at the emulator's S3.
"""

import json
import mimetypes
import os
import pathlib

import boto3

region = os.environ["REGION"]
stage = os.environ["STAGE"]
account = boto3.client("sts").get_caller_identity()["Account"]
bucket = f"cbdeploy-demo-site-{stage}-{account}"
s3 = boto3.client("s3", region_name=region)

existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
if bucket not in existing:
    options = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=bucket, **options)
    print(f"created bucket {bucket}")
s3.put_bucket_website(
    Bucket=bucket, WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"}}
)
for path in sorted(pathlib.Path("dist").iterdir()):
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    s3.upload_file(str(path), bucket, path.name, ExtraArgs={"ContentType": content_type})
    print(f"uploaded {path.name} -> s3://{bucket}/{path.name}")

endpoint = os.environ.get("AWS_ENDPOINT_URL")
url = (
    f"{endpoint}/{bucket}/index.html"
    if endpoint
    else f"http://{bucket}.s3-website-{region}.amazonaws.com"
)
pathlib.Path("outputs.json").write_text(json.dumps({"siteUrl": url, "bucket": bucket}))
print(f"site published at {url}")
