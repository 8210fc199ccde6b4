"""The only door to AWS: the boto3 client wrapper, S3 transfers, typed results, error translation, console links.

The only package that imports boto3 or botocore."""
