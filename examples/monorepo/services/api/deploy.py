"""Publish the api's price list to the bucket infra created (it must exist already)."""

import json
import os
import pathlib

import boto3
from shop_shared import format_price, total
from shop_shared.stage import bucket_name

account = boto3.client("sts").get_caller_identity()["Account"]
bucket = bucket_name(account)
s3 = boto3.client("s3", region_name=os.environ["REGION"])
s3.head_bucket(Bucket=bucket)  # fails if infra has not run first
prices = {"apple": 120, "pear": 95}
body = {name: format_price(cents) for name, cents in prices.items()}
body["total"] = format_price(total(list(prices.values())))
s3.put_object(Bucket=bucket, Key="api/prices.json", Body=json.dumps(body).encode())
pathlib.Path("outputs.json").write_text(json.dumps({"pricesKey": f"s3://{bucket}/api/prices.json"}))
print(f"published prices to s3://{bucket}/api/prices.json")
