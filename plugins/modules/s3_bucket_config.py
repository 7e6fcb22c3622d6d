#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: s3_bucket_config
short_description: Manage an S3 bucket and its protection settings on a self-hosted S3 engine (Ceph RGW, MinIO)
version_added: "0.3.0"
author: Sovereign Platform Team (@sovereign-datacenter)
description:
  - Makes a bucket exist with versioning, an object-lock default retention, lifecycle rules, a public access block,
    a bucket policy and access logging, on any S3 endpoint (O(endpoint_url)).
  - Reads every setting first and writes only those that differ, so a second run reports no change and check mode
    predicts the run. The diff shows each setting before and after.
  - Uses C(boto3), as the distribution packages it (Debian 12's C(python3-boto3) 1.26). The M(amazon.aws.s3_bucket)
    module needs C(boto3) 1.34 or later, which no Debian 12 host has, and does not manage lifecycle rules or object
    lock retention; this module runs on a host of the platform, next to the engine.
  - A setting the engine does not implement (for example bucket logging on Ceph 16 or the public access block on
    MinIO) is reported in RV(unsupported) and left alone, or fails with O(fail_on_unsupported=true).
  - Object lock can only be enabled when the bucket is made. A bucket that exists without it is refused when
    O(object_lock) is set, never recreated.
options:
  name:
    description: The bucket.
    type: str
    required: true
  state:
    description: C(present) makes the bucket and applies the settings; C(absent) removes an empty bucket.
    type: str
    choices: [present, absent]
    default: present
  endpoint_url:
    description: The S3 endpoint, such as C(https://10.0.20.31:9000).
    type: str
    required: true
  access_key:
    description: Access key of the bucket's owner.
    type: str
    required: true
  secret_key:
    description: Its secret key.
    type: str
    required: true
  ca_bundle:
    description: CA certificate file that verifies the endpoint's certificate.
    type: path
  region:
    description: Region name sent to the engine (Ceph RGW takes its zonegroup's API name or C(default)).
    type: str
    default: us-east-1
  versioning:
    description: Versioning enabled (true) or suspended (false); unset leaves it as it is. Object lock requires it.
    type: bool
  object_lock:
    description: Object lock with a default retention for new object versions. Needs versioning.
    type: dict
    suboptions:
      mode:
        description: Retention mode.
        type: str
        choices: [GOVERNANCE, COMPLIANCE]
        default: GOVERNANCE
      days:
        description: Default retention in days.
        type: int
        required: true
  lifecycle_rules:
    description:
      - Lifecycle rules in the S3 API form (C(ID), C(Status), C(Filter), C(Expiration), C(Transitions),
        C(NoncurrentVersionExpiration), C(AbortIncompleteMultipartUpload), ...). Unset leaves them as they are;
        an empty list removes them.
    type: list
    elements: dict
  public_access_block:
    description:
      - The bucket's public access block. Unset leaves it as it is.
      - Ceph RGW before 20 refuses every PutObject while C(block_public_acls) is true (ceph/ceph pull request 64290,
        tracker 49135); C(ignore_public_acls) gives the same protection for reads there.
    type: dict
    suboptions:
      block_public_acls:
        description: Refuse requests that set a public ACL.
        type: bool
        default: true
      ignore_public_acls:
        description: Ignore public ACLs on the bucket and its objects.
        type: bool
        default: true
      block_public_policy:
        description: Refuse bucket policies that grant public access.
        type: bool
        default: true
      restrict_public_buckets:
        description: Only the owner and authorised users reach a bucket with a public policy.
        type: bool
        default: true
  policy:
    description: The bucket policy document. Unset leaves it as it is; an empty dict removes it.
    type: dict
  logging:
    description: Server access logging into another bucket. Unset leaves it as it is.
    type: dict
    suboptions:
      target_bucket:
        description: The bucket the access log is written to.
        type: str
        required: true
      target_prefix:
        description: Key prefix of the log objects.
        type: str
        default: ""
  fail_on_unsupported:
    description: Fail when the engine does not implement a requested setting, instead of reporting it.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Reads every setting and predicts the changes; writes nothing.
  diff_mode:
    support: full
    description: Shows the settings before and after.
requirements:
  - boto3 (the distribution's python3-boto3 is enough)
notes:
  - Mark tasks that pass O(secret_key) with C(no_log).
"""

EXAMPLES = r"""
- name: A versioned, locked bucket that only TLS clients may use
  sovereign.datacenter.s3_bucket_config:
    name: documents
    endpoint_url: https://10.0.20.31:9000
    ca_bundle: /etc/ssl/sovereign/ca.crt
    access_key: "{{ access_key }}"
    secret_key: "{{ secret_key }}"
    versioning: true
    object_lock: {mode: GOVERNANCE, days: 30}
    public_access_block: {}
    lifecycle_rules:
      - ID: noncurrent-90d
        Status: Enabled
        Filter: {Prefix: ""}
        NoncurrentVersionExpiration: {NoncurrentDays: 90}
    policy:
      Version: "2012-10-17"
      Statement:
        - Sid: DenyInsecureTransport
          Effect: Deny
          Principal: "*"
          Action: "s3:*"
          Resource: ["arn:aws:s3:::documents", "arn:aws:s3:::documents/*"]
          Condition: {Bool: {"aws:SecureTransport": "false"}}
  no_log: true
"""

RETURN = r"""
bucket:
  description: The bucket.
  returned: always
  type: str
  sample: documents
created:
  description: Whether the bucket was (or would be) made.
  returned: always
  type: bool
settings_changed:
  description: The settings that were (or would be) written.
  returned: always
  type: list
  elements: str
  sample: [versioning, lifecycle_rules]
unsupported:
  description: Requested settings the engine does not implement (left alone).
  returned: always
  type: list
  elements: str
  sample: [logging]
"""

import json

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError
    HAS_BOTO3 = True
    BOTO3_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported by fail_json
    HAS_BOTO3 = False
    BOTO3_IMPORT_ERROR = exc

UNSUPPORTED_CODES = ("NotImplemented", "MethodNotAllowed", "XNotImplemented", "InvalidRequest")
ABSENT_CODES = ("NoSuchLifecycleConfiguration", "NoSuchBucketPolicy", "NoSuchPublicAccessBlockConfiguration",
                "ObjectLockConfigurationNotFoundError", "NoSuchObjectLockConfiguration", "NoSuchKey",
                "NoSuchConfiguration")


def _code(exc):
    return exc.response.get("Error", {}).get("Code", "")


def _normalise(value):
    """Compare JSON-like documents whatever their key order, list order of statements aside."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def _rule(rule):
    """A lifecycle rule in one form: engines answer the legacy top-level ``Prefix`` (Ceph RGW) or an empty
    ``Filter`` for a rule that applies to every object."""
    rule = dict(rule)
    if "Prefix" in rule and "Filter" not in rule:
        rule["Filter"] = {"Prefix": rule.pop("Prefix")}
    if rule.get("Filter") in ({}, None):
        rule["Filter"] = {"Prefix": ""}
    return rule


def _rules(rules):
    return sorted((_rule(r) for r in _normalise(rules)), key=lambda r: r.get("ID", ""))


class Bucket(object):
    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.name = module.params["name"]
        self.unsupported = []

    def fail(self, what, exc):
        self.module.fail_json(msg="%s of bucket %s failed: %s" % (what, self.name, exc))

    def read(self, what, call, extract, absent):
        """The current value of a setting, ``absent`` when it is not set, None when the engine lacks it."""
        try:
            return extract(call(Bucket=self.name))
        except ClientError as exc:
            code = _code(exc)
            if code in ABSENT_CODES:
                return absent
            if code in UNSUPPORTED_CODES:
                self.unsupported.append(what)
                return None
            self.fail("reading %s" % what, exc)
        return None

    def exists(self):
        try:
            self.client.head_bucket(Bucket=self.name)
            return True
        except ClientError as exc:
            if _code(exc) in ("404", "NoSuchBucket", "NotFound"):
                return False
            self.fail("reading", exc)
        return False

    # each setting: (current, wanted, writer)
    def versioning(self, wanted):
        current = self.read("versioning", self.client.get_bucket_versioning,
                            lambda r: r.get("Status") == "Enabled", False)
        want = bool(wanted)

        def write():
            self.client.put_bucket_versioning(
                Bucket=self.name, VersioningConfiguration={"Status": "Enabled" if want else "Suspended"})
        return current, want, write

    def object_lock(self, wanted):
        current = self.read("object_lock", self.client.get_object_lock_configuration,
                            lambda r: r.get("ObjectLockConfiguration", {}), {})
        enabled = (current or {}).get("ObjectLockEnabled") == "Enabled"
        retention = ((current or {}).get("Rule") or {}).get("DefaultRetention") or {}
        now = {"enabled": enabled, "mode": retention.get("Mode"), "days": retention.get("Days")}
        want = {"enabled": True, "mode": wanted["mode"], "days": wanted["days"]}
        if current is not None and not enabled:
            self.module.fail_json(
                msg="bucket %s exists without object lock; object lock can only be enabled when a bucket is made "
                    "(copy its objects into a new bucket made with object lock)" % self.name)

        def write():
            self.client.put_object_lock_configuration(
                Bucket=self.name,
                ObjectLockConfiguration={"ObjectLockEnabled": "Enabled",
                                         "Rule": {"DefaultRetention": {"Mode": wanted["mode"], "Days": wanted["days"]}}})
        return (None if current is None else now), want, write

    def lifecycle_rules(self, wanted):
        current = self.read("lifecycle_rules", self.client.get_bucket_lifecycle_configuration,
                            lambda r: r.get("Rules", []), [])
        want = wanted

        def write():
            if want:
                self.client.put_bucket_lifecycle_configuration(Bucket=self.name,
                                                               LifecycleConfiguration={"Rules": want})
            else:
                self.client.delete_bucket_lifecycle(Bucket=self.name)
        return (None if current is None else _rules(current)), _rules(want), write

    def public_access_block(self, wanted):
        keys = {"BlockPublicAcls": "block_public_acls", "IgnorePublicAcls": "ignore_public_acls",
                "BlockPublicPolicy": "block_public_policy", "RestrictPublicBuckets": "restrict_public_buckets"}
        current = self.read("public_access_block", self.client.get_public_access_block,
                            lambda r: r.get("PublicAccessBlockConfiguration", {}), {})
        if current is not None:
            current = {k: bool(current.get(k, False)) for k in keys}
        want = {k: bool(wanted[option]) for k, option in keys.items()}

        def write():
            self.client.put_public_access_block(Bucket=self.name, PublicAccessBlockConfiguration=want)
        return current, want, write

    def policy(self, wanted):
        current = self.read("policy", self.client.get_bucket_policy, lambda r: json.loads(r.get("Policy") or "{}"), {})

        def write():
            if wanted:
                self.client.put_bucket_policy(Bucket=self.name, Policy=json.dumps(wanted))
            else:
                self.client.delete_bucket_policy(Bucket=self.name)
        return (None if current is None else _normalise(current)), _normalise(wanted), write

    def logging(self, wanted):
        current = self.read("logging", self.client.get_bucket_logging, lambda r: r.get("LoggingEnabled") or {}, {})
        want = {"TargetBucket": wanted["target_bucket"], "TargetPrefix": wanted["target_prefix"]}

        def write():
            self.client.put_bucket_logging(Bucket=self.name, BucketLoggingStatus={"LoggingEnabled": want})
        if current:
            current = {"TargetBucket": current.get("TargetBucket"), "TargetPrefix": current.get("TargetPrefix", "")}
        return current, want, write


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            endpoint_url=dict(type="str", required=True),
            access_key=dict(type="str", required=True, no_log=True),
            secret_key=dict(type="str", required=True, no_log=True),
            ca_bundle=dict(type="path"),
            region=dict(type="str", default="us-east-1"),
            versioning=dict(type="bool"),
            object_lock=dict(type="dict", options=dict(
                mode=dict(type="str", choices=["GOVERNANCE", "COMPLIANCE"], default="GOVERNANCE"),
                days=dict(type="int", required=True))),
            lifecycle_rules=dict(type="list", elements="dict"),
            public_access_block=dict(type="dict", options=dict(
                block_public_acls=dict(type="bool", default=True),
                ignore_public_acls=dict(type="bool", default=True),
                block_public_policy=dict(type="bool", default=True),
                restrict_public_buckets=dict(type="bool", default=True))),
            policy=dict(type="dict"),
            logging=dict(type="dict", options=dict(
                target_bucket=dict(type="str", required=True),
                target_prefix=dict(type="str", default=""))),
            fail_on_unsupported=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    if not HAS_BOTO3:
        module.fail_json(msg=missing_required_lib("boto3"), exception=str(BOTO3_IMPORT_ERROR))
    params = module.params
    if params["object_lock"] and params["versioning"] is False:
        module.fail_json(msg="bucket %s: object lock needs versioning" % params["name"])

    client = boto3.client(
        "s3", endpoint_url=params["endpoint_url"], aws_access_key_id=params["access_key"],
        aws_secret_access_key=params["secret_key"], region_name=params["region"],
        verify=params["ca_bundle"] or True,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3, "mode": "standard"},
                      signature_version="s3v4"))
    bucket = Bucket(module, client)
    result = dict(changed=False, bucket=params["name"], created=False, settings_changed=[], unsupported=[])
    exists = bucket.exists()

    if params["state"] == "absent":
        if exists:
            result["changed"] = True
            if not module.check_mode:
                try:
                    client.delete_bucket(Bucket=params["name"])
                except ClientError as exc:
                    bucket.fail("removing", exc)
        module.exit_json(**result)

    before, after = {}, {}
    if not exists:
        result["created"] = result["changed"] = True
        before["bucket"], after["bucket"] = "absent", "present"
        if not module.check_mode:
            args = {"Bucket": params["name"]}
            if params["object_lock"]:
                args["ObjectLockEnabledForBucket"] = True
            try:
                client.create_bucket(**args)
            except ClientError as exc:
                bucket.fail("making", exc)

    order = ["versioning", "object_lock", "lifecycle_rules", "public_access_block", "policy", "logging"]
    wanted = {key: params[key] for key in order if params[key] is not None}
    if params["object_lock"] and "versioning" not in wanted:
        wanted["versioning"] = True
    for key in order:
        if key not in wanted:
            continue
        if not exists and module.check_mode:
            current, want, write = {"versioning": False, "object_lock": {}, "lifecycle_rules": [],
                                    "public_access_block": {}, "policy": {}, "logging": {}}[key], wanted[key], None
        else:
            current, want, write = getattr(bucket, key)(wanted[key])
        if key in bucket.unsupported:
            continue
        if _normalise(current) == _normalise(want):
            continue
        result["changed"] = True
        result["settings_changed"].append(key)
        before[key], after[key] = current, want
        if not module.check_mode:
            try:
                write()
            except ClientError as exc:
                if _code(exc) in UNSUPPORTED_CODES:
                    bucket.unsupported.append(key)
                    result["settings_changed"].remove(key)
                    continue
                bucket.fail("writing %s" % key, exc)

    result["unsupported"] = sorted(set(bucket.unsupported))
    if result["unsupported"] and params["fail_on_unsupported"]:
        module.fail_json(msg="the engine at %s does not implement %s for bucket %s"
                         % (params["endpoint_url"], ", ".join(result["unsupported"]), params["name"]), **result)
    if result["changed"] and module._diff:
        result["diff"] = dict(before=json.dumps(before, indent=2, sort_keys=True) + "\n",
                              after=json.dumps(after, indent=2, sort_keys=True) + "\n")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
