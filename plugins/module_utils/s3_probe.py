# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Divan platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Object storage check for any S3-compatible endpoint (AWS S3, Cloudflare R2, MinIO...), with boto3.

``check_s3``: the bucket exists and is reachable with the credentials; a
probe object can be put, read back (same content) and deleted; optionally an
anonymous GET of it is refused. Failures carry an ``error_kind``:

no_such_bucket, access_denied, invalid_credentials, credentials, wrong_region,
connect, dns, tls, content_mismatch, anonymous_read_allowed, delete_failed, s3_error.
"""

import hashlib
import os
import time

try:
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
        ReadTimeoutError,
        SSLError,
    )
    HAS_BOTO3 = True
    BOTO3_IMPORT_ERROR = None
except ImportError as exc:  # the module reports missing_required_lib
    HAS_BOTO3 = False
    BOTO3_IMPORT_ERROR = exc

NO_SUCH_BUCKET = ('NoSuchBucket', '404', 'NotFound')
ACCESS_DENIED = ('AccessDenied', '403', 'Forbidden', 'AllAccessDisabled', 'AccountProblem')
INVALID_CREDENTIALS = ('InvalidAccessKeyId', 'SignatureDoesNotMatch', 'InvalidToken', 'ExpiredToken',
                       'InvalidClientTokenId', '401', 'Unauthorized')
WRONG_REGION = ('PermanentRedirect', 'AuthorizationHeaderMalformed', 'IllegalLocationConstraintException',
                '301', 'InvalidRegion')


class S3CheckError(Exception):
    def __init__(self, kind, message):
        super(S3CheckError, self).__init__(message)
        self.kind = kind


def client_error_code(exc):
    try:
        return str(exc.response.get('Error', {}).get('Code') or exc.response['ResponseMetadata']['HTTPStatusCode'])
    except (AttributeError, KeyError, TypeError):
        return ''


def classify(exc, bucket, operation):
    """(kind, message) for a boto3/botocore exception; never includes credentials."""
    if isinstance(exc, S3CheckError):
        return exc.kind, str(exc)
    if HAS_BOTO3:
        if isinstance(exc, ClientError):
            code = client_error_code(exc)
            if code in NO_SUCH_BUCKET:
                return 'no_such_bucket', 'bucket %s does not exist on this endpoint (%s); create it or fix ' \
                    'S3_BUCKET_NAME' % (bucket, operation)
            if code in INVALID_CREDENTIALS:
                return 'invalid_credentials', '%s refused the credentials (%s): check S3_ACCESS_KEY and ' \
                    'S3_SECRET_KEY' % (operation, code)
            if code in ACCESS_DENIED:
                return 'access_denied', '%s on bucket %s: access denied; grant the key s3:ListBucket, ' \
                    's3:GetObject, s3:PutObject and s3:DeleteObject' % (operation, bucket)
            if code in WRONG_REGION:
                return 'wrong_region', '%s: the bucket is in another region or the endpoint is wrong (%s); ' \
                    'fix S3_REGION / endpoint_url' % (operation, code)
            return 's3_error', '%s failed: %s' % (operation, code or 'unknown error')
        if isinstance(exc, SSLError):
            return 'tls', '%s: TLS error talking to the endpoint: %s' % (operation, _short(exc))
        if isinstance(exc, EndpointConnectionError):
            text = str(exc)
            if 'Name or service not known' in text or 'getaddrinfo' in text or 'nodename nor servname' in text:
                return 'dns', '%s: cannot resolve the endpoint: %s' % (operation, _short(exc))
            return 'connect', '%s: cannot connect to the endpoint: %s' % (operation, _short(exc))
        if isinstance(exc, (ConnectTimeoutError, ReadTimeoutError)):
            return 'connect', '%s: timed out talking to the endpoint' % operation
        if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
            return 'credentials', '%s: no (complete) credentials; set access_key and secret_key' % operation
        if isinstance(exc, BotoCoreError):
            return 's3_error', '%s: %s' % (operation, _short(exc))
    return 's3_error', '%s: %s: %s' % (operation, type(exc).__name__, _short(exc))


def _short(exc, limit=300):
    text = ' '.join(str(exc).split())
    return text if len(text) <= limit else text[:limit] + '...'


def make_client(endpoint_url=None, region=None, access_key=None, secret_key=None, session_token=None,
                validate_certs=True, ca_bundle=None, addressing_style='auto', timeout=15.0, unsigned=False):
    config = Config(
        signature_version=UNSIGNED if unsigned else 's3v4',
        s3={'addressing_style': addressing_style},
        connect_timeout=timeout,
        read_timeout=timeout,
        retries={'max_attempts': 2, 'mode': 'standard'},
    )
    verify = (ca_bundle or True) if validate_certs else False
    session = boto3.session.Session()
    kwargs = dict(endpoint_url=endpoint_url or None, region_name=region or None, verify=verify, config=config)
    if not unsigned:
        kwargs.update(aws_access_key_id=access_key or None, aws_secret_access_key=secret_key or None,
                      aws_session_token=session_token or None)
    return session.client('s3', **kwargs)


def check_s3(bucket, endpoint_url=None, region=None, access_key=None, secret_key=None, session_token=None,
             validate_certs=True, ca_bundle=None, addressing_style='auto', object_prefix='divan-s3-check/',
             check_anonymous_read=False, write=True, timeout=15.0, client_factory=None):
    """Run the check; returns a dict (never raises for S3 or network problems).

    Keys: ok, error_kind, error, bucket, endpoint_url, region, bucket_exists,
    object_key, put, get, content_match, deleted, anonymous_read_refused, latency_ms.
    """
    factory = client_factory or make_client
    result = {
        'ok': False, 'error_kind': None, 'error': None, 'bucket': bucket, 'endpoint_url': endpoint_url,
        'region': region, 'bucket_exists': False, 'object_key': None, 'put': False, 'get': False,
        'content_match': None, 'deleted': False, 'anonymous_read_refused': None, 'latency_ms': None,
    }
    started = time.monotonic()
    common = dict(endpoint_url=endpoint_url, region=region, validate_certs=validate_certs, ca_bundle=ca_bundle,
                  addressing_style=addressing_style, timeout=timeout)
    operation = 'HeadBucket'
    client = None
    key = None
    try:
        client = factory(access_key=access_key, secret_key=secret_key, session_token=session_token, **common)
        client.head_bucket(Bucket=bucket)
        result['bucket_exists'] = True
        if write:
            token = os.urandom(8).hex()
            key = '%sprobe-%s.txt' % (object_prefix, token)
            body = ('divan.platform s3_check probe %s\n' % token).encode('ascii')
            result['object_key'] = key
            operation = 'PutObject'
            client.put_object(Bucket=bucket, Key=key, Body=body, ContentType='text/plain')
            result['put'] = True
            operation = 'GetObject'
            obj = client.get_object(Bucket=bucket, Key=key)
            data = obj['Body'].read()
            result['get'] = True
            result['content_match'] = hashlib.sha256(data).digest() == hashlib.sha256(body).digest()
            if not result['content_match']:
                raise S3CheckError('content_mismatch', 'GetObject returned different content than PutObject stored '
                                   '(%d bytes instead of %d)' % (len(data), len(body)))
            if check_anonymous_read:
                operation = 'anonymous GetObject'
                anon = factory(unsigned=True, **common)
                try:
                    anon.get_object(Bucket=bucket, Key=key)['Body'].read()
                except ClientError as exc:
                    code = client_error_code(exc)
                    if code in ACCESS_DENIED + INVALID_CREDENTIALS + NO_SUCH_BUCKET + ('NoSuchKey',):
                        result['anonymous_read_refused'] = True
                    else:
                        raise
                else:
                    result['anonymous_read_refused'] = False
                    raise S3CheckError('anonymous_read_allowed',
                                       'bucket %s serves objects to anonymous requests; remove the public-read '
                                       'policy/ACL (serve uploads through the backend or signed URLs)' % bucket)
        result['ok'] = True
    except Exception as exc:  # pylint: disable=broad-except  # every failure becomes an error_kind
        result['error_kind'], result['error'] = classify(exc, bucket, operation)
    finally:
        if result['put'] and client is not None:
            try:
                client.delete_object(Bucket=bucket, Key=key)
                result['deleted'] = True
            except Exception as exc:  # pylint: disable=broad-except
                if result['ok']:
                    result['ok'] = False
                    kind, message = classify(exc, bucket, 'DeleteObject')
                    result['error_kind'] = 'access_denied' if kind == 'access_denied' else 'delete_failed'
                    result['error'] = message
        result['latency_ms'] = int((time.monotonic() - started) * 1000)
    return result
