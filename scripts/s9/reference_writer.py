#!/usr/bin/env python3
"""The reference for `make bench`: a sequential 25-item BatchWriteItem writer, as the S9
document's Python load scripts do it (boto3, one request at a time, UnprocessedItems
re-sent). Items are already typed JSON, so no conversion is done here: the work is only
the writing.

Usage: reference_writer.py ITEMS.ndjson TABLE ENDPOINT_URL
Prints the number of items written.
"""
import json
import sys
import time

import boto3

path, table, endpoint = sys.argv[1:4]
client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")


def flush(batch):
    request = {table: [{"PutRequest": {"Item": item}} for item in batch]}
    delay = 0.05
    while request:
        out = client.batch_write_item(RequestItems=request)
        request = out.get("UnprocessedItems") or {}
        if request:
            time.sleep(delay)
            delay = min(delay * 2, 5)


written = 0
batch = []
with open(path) as f:
    for line in f:
        if not line.strip():
            continue
        batch.append(json.loads(line))
        if len(batch) == 25:
            flush(batch)
            written += len(batch)
            batch = []
if batch:
    flush(batch)
    written += len(batch)
print(written)
