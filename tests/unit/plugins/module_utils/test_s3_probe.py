# -*- coding: utf-8 -*-
"""s3_probe error classification and flow with a fake client (no network)."""

import io

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, SSLError

from ansible_collections.divan.platform.plugins.module_utils import s3_probe


def client_error(code, op='HeadBucket', status=400):
    return ClientError({'Error': {'Code': code, 'Message': 'msg'}, 'ResponseMetadata': {'HTTPStatusCode': status}}, op)


@pytest.mark.parametrize('exc,kind', [
    (client_error('404', status=404), 'no_such_bucket'),
    (client_error('NoSuchBucket'), 'no_such_bucket'),
    (client_error('403', status=403), 'access_denied'),
    (client_error('AccessDenied'), 'access_denied'),
    (client_error('InvalidAccessKeyId'), 'invalid_credentials'),
    (client_error('SignatureDoesNotMatch'), 'invalid_credentials'),
    (client_error('PermanentRedirect'), 'wrong_region'),
    (client_error('AuthorizationHeaderMalformed'), 'wrong_region'),
    (client_error('SlowDown'), 's3_error'),
    (EndpointConnectionError(endpoint_url='https://s3.example.org'), 'connect'),
    (SSLError(endpoint_url='https://s3.example.org', error='certificate verify failed'), 'tls'),
    (NoCredentialsError(), 'credentials'),
    (RuntimeError('weird'), 's3_error'),
])
def test_classify(exc, kind):
    assert s3_probe.classify(exc, 'divan-uploads', 'HeadBucket')[0] == kind


class FakeClient(object):
    def __init__(self, fail=None, corrupt=False, anonymous_allowed=False, unsigned=False, store=None):
        self.fail = fail or {}
        self.corrupt = corrupt
        self.anonymous_allowed = anonymous_allowed
        self.unsigned = unsigned
        self.store = store if store is not None else {}
        self.calls = []

    def _maybe_fail(self, op):
        self.calls.append(op)
        if op in self.fail:
            raise self.fail[op]

    def head_bucket(self, Bucket):
        self._maybe_fail('head_bucket')

    def put_object(self, Bucket, Key, Body, ContentType):
        self._maybe_fail('put_object')
        self.store[Key] = Body

    def get_object(self, Bucket, Key):
        if self.unsigned and not self.anonymous_allowed:
            raise client_error('AccessDenied', 'GetObject', 403)
        self._maybe_fail('get_object')
        data = self.store[Key] + (b'!' if self.corrupt else b'')
        return {'Body': io.BytesIO(data)}

    def delete_object(self, Bucket, Key):
        self._maybe_fail('delete_object')
        del self.store[Key]


def run(**kwargs):
    store = {}
    made = []
    options = dict((k, kwargs.pop(k)) for k in list(kwargs) if k in ('fail', 'corrupt', 'anonymous_allowed'))

    def factory(unsigned=False, **kw):
        client = FakeClient(unsigned=unsigned, store=store, **options)
        made.append(client)
        return client

    res = s3_probe.check_s3('divan-uploads', client_factory=factory, **kwargs)
    return res, store, made


def test_happy_path_cleans_up():
    res, store, made = run(check_anonymous_read=True)
    assert res['ok'] and res['content_match'] and res['deleted'] and res['anonymous_read_refused']
    assert store == {} and made[0].calls == ['head_bucket', 'put_object', 'get_object', 'delete_object']


def test_content_mismatch_still_deletes():
    res, store, _unused = run(corrupt=True)
    assert res['error_kind'] == 'content_mismatch' and res['deleted'] and store == {}


def test_anonymous_read_allowed():
    res, store, _unused = run(check_anonymous_read=True, anonymous_allowed=True)
    assert res['error_kind'] == 'anonymous_read_allowed' and res['anonymous_read_refused'] is False
    assert store == {}


def test_missing_bucket_writes_nothing():
    res, store, made = run(fail={'head_bucket': client_error('404', status=404)})
    assert res['error_kind'] == 'no_such_bucket' and made[0].calls == ['head_bucket'] and not res['put']


def test_put_denied():
    res, _unused, _unused = run(fail={'put_object': client_error('AccessDenied', 'PutObject', 403)})
    assert res['error_kind'] == 'access_denied' and 'PutObject on bucket divan-uploads' in res['error']


def test_delete_denied_is_reported():
    res, store, _unused = run(fail={'delete_object': client_error('AccessDenied', 'DeleteObject', 403)})
    assert not res['ok'] and res['error_kind'] == 'access_denied' and not res['deleted']


def test_secret_never_in_result():
    res, _unused, _unused = run(fail={'head_bucket': client_error('SignatureDoesNotMatch')}, secret_key='very-secret-key-123')
    assert res['error_kind'] == 'invalid_credentials' and 'very-secret-key-123' not in repr(res)
