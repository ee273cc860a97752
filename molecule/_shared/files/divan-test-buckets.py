"""Creates the test buckets (S3_TEST_BUCKETS) in the test S3 server once it answers.

Run after every start of divan-test-s3.service (ExecStartPost) and by
test-services.yml: moto keeps its buckets in memory only, so after a restart of
the host they are made again, empty. Prints "created <name>" for each new one.
"""

import os
import time

import boto3
from botocore.exceptions import EndpointConnectionError

s3 = boto3.client("s3", endpoint_url=os.environ["S3_TEST_ENDPOINT"], region_name="us-east-1",
                  aws_access_key_id=os.environ["S3_TEST_ACCESS_KEY"],
                  aws_secret_access_key=os.environ["S3_TEST_SECRET_KEY"])
deadline = time.monotonic() + 60
while True:
    try:
        have = {bucket["Name"] for bucket in s3.list_buckets().get("Buckets", [])}
        break
    except EndpointConnectionError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.5)
for name in os.environ["S3_TEST_BUCKETS"].split():
    if name not in have:
        s3.create_bucket(Bucket=name)
        print("created", name)
