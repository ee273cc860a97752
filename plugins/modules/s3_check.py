#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Divan platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: s3_check
short_description: Check an S3-compatible bucket (AWS S3, Cloudflare R2, MinIO) with the platform's credentials
version_added: 0.1.0
description:
  - From the host that runs the module, checks that the bucket exists and is reachable with the
    given credentials, then puts a small probe object, reads it back (same content) and deletes it.
  - With O(check_anonymous_read=true), also asserts that an anonymous (unsigned) GET of the probe
    object is refused, so uploads are not world-readable.
  - "Every failure is reported with an RV(error_kind): C(no_such_bucket), C(access_denied),
    C(invalid_credentials), C(credentials), C(wrong_region), C(connect), C(dns), C(tls),
    C(content_mismatch), C(anonymous_read_allowed), C(delete_failed), C(s3_error)."
author:
  - Divan platform team (@divan-platform)
requirements:
  - boto3 (and botocore) on the host that runs the module
options:
  bucket:
    description: Bucket name (C(S3_BUCKET_NAME)).
    type: str
    required: true
  endpoint_url:
    description:
      - Endpoint of an S3-compatible service, for example C(https://<account>.r2.cloudflarestorage.com)
        or C(https://minio.internal:9000). Default AWS S3.
    type: str
  region:
    description: Region (C(S3_REGION)); C(auto) for Cloudflare R2.
    type: str
    default: us-east-1
  access_key:
    description: Access key id (C(S3_ACCESS_KEY)). Default the usual AWS credential chain.
    type: str
  secret_key:
    description: Secret access key (C(S3_SECRET_KEY)).
    type: str
  session_token:
    description: Session token, for temporary credentials.
    type: str
  validate_certs:
    description: Verify the endpoint's TLS certificate.
    type: bool
    default: true
  ca_bundle:
    description: CA bundle (PEM file) to verify the endpoint against, for a private MinIO.
    type: path
  addressing_style:
    description: C(path) (MinIO), C(virtual) (bucket in the host name) or C(auto).
    type: str
    choices: [auto, path, virtual]
    default: auto
  object_prefix:
    description: Prefix of the probe object key.
    type: str
    default: divan-s3-check/
  write:
    description:
      - Put, get and delete a probe object. Set to V(false) to only check that the bucket exists.
      - In check mode nothing is written either.
    type: bool
    default: true
  check_anonymous_read:
    description: Assert that an anonymous GET of the probe object is refused.
    type: bool
    default: false
  timeout:
    description: Connect and read timeout in seconds.
    type: float
    default: 15
notes:
  - Supports check mode; in check mode only the bucket's existence is checked.
  - The probe object is always deleted, also when a later step fails.
seealso:
  - module: divan.platform.env_check
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Check the uploads bucket on Cloudflare R2 and that it is not public
  divan.platform.s3_check:
    endpoint_url: "https://{{ r2_account_id }}.r2.cloudflarestorage.com"
    region: auto
    bucket: divan-uploads
    access_key: "{{ vault_s3_access_key }}"
    secret_key: "{{ vault_s3_secret_key }}"
    check_anonymous_read: true

- name: Check a MinIO bucket served with a private CA
  divan.platform.s3_check:
    endpoint_url: https://minio.internal:9000
    addressing_style: path
    bucket: divan-backups
    access_key: "{{ vault_minio_access_key }}"
    secret_key: "{{ vault_minio_secret_key }}"
    ca_bundle: /etc/ssl/certs/internal-ca.pem
"""

RETURN = r"""
error_kind:
  description: Kind of failure, or null.
  returned: always
  type: str
  sample: no_such_bucket
error:
  description: What failed, or null.
  returned: always
  type: str
bucket:
  description: The bucket checked.
  returned: always
  type: str
bucket_exists:
  description: Whether HeadBucket succeeded.
  returned: always
  type: bool
object_key:
  description: Key of the probe object, or null.
  returned: always
  type: str
  sample: divan-s3-check/probe-3f9a2c4b5d6e7f80.txt
put:
  description: Whether the probe object was stored.
  returned: always
  type: bool
get:
  description: Whether the probe object was read back.
  returned: always
  type: bool
content_match:
  description: Whether the content read back equals the content stored (null when not read).
  returned: always
  type: bool
deleted:
  description: Whether the probe object was deleted.
  returned: always
  type: bool
anonymous_read_refused:
  description: Result of the anonymous GET (null when not checked).
  returned: always
  type: bool
latency_ms:
  description: Duration of the whole check, in milliseconds.
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.divan.platform.plugins.module_utils import s3_probe


def main():
    module = AnsibleModule(
        argument_spec=dict(
            bucket=dict(type='str', required=True),
            endpoint_url=dict(type='str'),
            region=dict(type='str', default='us-east-1'),
            access_key=dict(type='str', no_log=True),
            secret_key=dict(type='str', no_log=True),
            session_token=dict(type='str', no_log=True),
            validate_certs=dict(type='bool', default=True),
            ca_bundle=dict(type='path'),
            addressing_style=dict(type='str', choices=['auto', 'path', 'virtual'], default='auto'),
            object_prefix=dict(type='str', default='divan-s3-check/'),
            write=dict(type='bool', default=True),
            check_anonymous_read=dict(type='bool', default=False),
            timeout=dict(type='float', default=15.0),
        ),
        required_together=[('access_key', 'secret_key')],
        supports_check_mode=True,
    )
    if not s3_probe.HAS_BOTO3:
        module.fail_json(msg=missing_required_lib('boto3'), exception=str(s3_probe.BOTO3_IMPORT_ERROR))
    p = module.params
    result = s3_probe.check_s3(
        bucket=p['bucket'], endpoint_url=p['endpoint_url'], region=p['region'], access_key=p['access_key'],
        secret_key=p['secret_key'], session_token=p['session_token'], validate_certs=p['validate_certs'],
        ca_bundle=p['ca_bundle'], addressing_style=p['addressing_style'], object_prefix=p['object_prefix'],
        write=p['write'] and not module.check_mode,
        check_anonymous_read=p['check_anonymous_read'] and not module.check_mode, timeout=p['timeout'],
    )
    ok = result.pop('ok')
    if not ok:
        module.fail_json(msg='S3 check of bucket %s failed (%s): %s' % (p['bucket'], result['error_kind'],
                                                                        result['error']), changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
