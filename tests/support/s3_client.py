"""S3 client the lab tests run inside a lab host (python3-boto3 of Debian), fed one JSON request on stdin:
{"endpoint", "access", "secret", "ca", "op", ...}; prints one JSON answer. Objects carry their SHA-256, so a
reader proves each one came back intact."""
import hashlib
import json
import os
import sys
import time

import boto3
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError


def client(req, signed=True, endpoint=None):
    cfg = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2, "mode": "standard"},
                 connect_timeout=5, read_timeout=60, signature_version="s3v4" if signed else UNSIGNED)
    return boto3.client("s3", endpoint_url=endpoint or req["endpoint"], aws_access_key_id=req.get("access"),
                        aws_secret_access_key=req.get("secret"), region_name="us-east-1",
                        verify=req.get("ca") or True, config=cfg)


def code(exc):
    return exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else type(exc).__name__


def outcome(call, **kwargs):
    """"allowed" when the request succeeds, else the S3 error code (AccessDenied...)."""
    try:
        call(**kwargs)
        return "allowed"
    except ClientError as exc:
        return code(exc)


def put(req):
    s3, out, errors = client(req), {}, []
    for i in range(req["count"]):
        key = "%s/%04d" % (req["prefix"], i)
        body = os.urandom(req["size"])
        start = time.time()
        try:
            s3.put_object(Bucket=req["bucket"], Key=key, Body=body)
            out[key] = {"sha256": hashlib.sha256(body).hexdigest(), "t": start, "ms": (time.time() - start) * 1000}
        except (ClientError, EndpointConnectionError, ReadTimeoutError) as exc:
            errors.append([key, code(exc)])
    return {"objects": out, "errors": errors}


def verify(req):
    s3, bad = client(req), []
    for key, digest in req["objects"].items():
        try:
            body = s3.get_object(Bucket=req["bucket"], Key=key)["Body"].read()
            if hashlib.sha256(body).hexdigest() != digest:
                bad.append([key, "checksum"])
        except (ClientError, EndpointConnectionError, ReadTimeoutError) as exc:
            bad.append([key, code(exc)])
    return {"checked": len(req["objects"]), "bad": bad}


def wait_visible(req):
    """Poll until every key is readable with its checksum; the time each appeared (replication lag)."""
    s3, seen, deadline = client(req), {}, time.time() + req.get("timeout", 300)
    while len(seen) < len(req["objects"]) and time.time() < deadline:
        for key, digest in req["objects"].items():
            if key in seen:
                continue
            try:
                body = s3.get_object(Bucket=req["bucket"], Key=key)["Body"].read()
                if hashlib.sha256(body).hexdigest() == digest:
                    seen[key] = time.time()
            except (ClientError, EndpointConnectionError, ReadTimeoutError):
                pass
        time.sleep(0.5)
    return {"seen": seen}


def scan(req):
    """Every current object of a bucket: how many, how many bytes, which contain the needle (in clear)."""
    s3, needle, found, count, size = client(req), req["needle"].encode(), [], 0, 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=req["bucket"]):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=req["bucket"], Key=item["Key"])["Body"].read()
            count, size = count + 1, size + len(body)
            if needle in body:
                found.append(item["Key"])
    return {"objects": count, "bytes": size, "found": found}


def rules(req):
    """The bucket rules of SPEC.md / design document 001, each tried for real."""
    s3, bucket, res = client(req), req["bucket"], {}
    key = "rules/versioned-%d" % int(time.time() * 1000)
    v1 = s3.put_object(Bucket=bucket, Key=key, Body=b"first")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key=key, Body=b"second")["VersionId"]
    versions = s3.list_object_versions(Bucket=bucket, Prefix=key).get("Versions", [])
    res["versions"] = sorted(v["VersionId"] for v in versions)
    res["old_version_body"] = s3.get_object(Bucket=bucket, Key=key, VersionId=v1)["Body"].read().decode()
    res["current_body"] = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    res["v1"], res["v2"] = v1, v2
    retention = s3.get_object_retention(Bucket=bucket, Key=key, VersionId=v1)["Retention"]
    res["retention_mode"] = retention["Mode"]
    res["retention_days_left"] = (retention["RetainUntilDate"].timestamp() - time.time()) / 86400
    res["delete_locked_version"] = outcome(s3.delete_object, Bucket=bucket, Key=key, VersionId=v1)
    res["lock_config"] = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    res["lifecycle"] = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    res["public_access_block"] = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    res["policy"] = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    # the same signed request over plain HTTP (the gateway's loopback listener): the policy denies it
    plain = client(req, endpoint=req["plain_endpoint"])
    res["plain_http_get"] = outcome(plain.get_object, Bucket=bucket, Key=key)
    res["plain_http_put"] = outcome(plain.put_object, Bucket=bucket, Key=key + "-plain", Body=b"x")
    # anonymous (unsigned) read over TLS
    anonymous = client(req, signed=False)
    res["anonymous_get"] = outcome(anonymous.get_object, Bucket=bucket, Key=key)
    res["anonymous_list"] = outcome(anonymous.list_objects_v2, Bucket=bucket)
    # a presigned URL for 15 minutes (design document 001) is accepted; its expiry is in the URL
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=900)
    res["presigned_expires"] = "X-Amz-Expires=900" in url
    return res


def main():
    req = json.load(sys.stdin)
    print(json.dumps({"put": put, "verify": verify, "wait_visible": wait_visible, "rules": rules,
                      "scan": scan}[req["op"]](req),
                     default=str))


if __name__ == "__main__":
    main()
