# -*- coding: utf-8 -*-
"""s3_check against moto's S3-compatible server on 127.0.0.1."""

import socket

from integration_helpers import S3_ACCESS_KEY, S3_SECRET_KEY, run_module

from ansible_collections.divan.platform.plugins.module_utils.s3_probe import check_s3


def s3(server, **kwargs):
    args = dict(endpoint_url=server['endpoint'], region='us-east-1', access_key=S3_ACCESS_KEY,
                secret_key=S3_SECRET_KEY, addressing_style='path', timeout=5)
    args.update(kwargs)
    return check_s3(**args)


def _keys(server, bucket):
    return [o['Key'] for o in server['client'].list_objects_v2(Bucket=bucket).get('Contents', [])]


def test_put_get_delete_and_anonymous_read_refused(s3_server):
    res = s3(s3_server, bucket='divan-uploads', check_anonymous_read=True)
    assert res['ok'], res
    assert res['bucket_exists'] and res['put'] and res['get'] and res['content_match'] and res['deleted']
    assert res['anonymous_read_refused'] is True
    assert res['object_key'].startswith('divan-s3-check/probe-')
    assert res['object_key'] not in _keys(s3_server, 'divan-uploads')


def test_public_bucket_is_reported_and_probe_still_deleted(s3_server):
    res = s3(s3_server, bucket='divan-public', check_anonymous_read=True)
    assert not res['ok'] and res['error_kind'] == 'anonymous_read_allowed'
    assert res['anonymous_read_refused'] is False
    assert 'serves objects to anonymous requests' in res['error']
    assert res['deleted'] and _keys(s3_server, 'divan-public') == []


def test_missing_bucket(s3_server):
    res = s3(s3_server, bucket='divan-missing')
    assert res['error_kind'] == 'no_such_bucket' and not res['bucket_exists'] and not res['put']
    assert res['error'].startswith('bucket divan-missing does not exist on this endpoint')


def test_read_only_check(s3_server):
    res = s3(s3_server, bucket='divan-uploads', write=False)
    assert res['ok'] and res['bucket_exists'] and not res['put'] and res['object_key'] is None


def test_endpoint_refusing_connections():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    res = check_s3('divan-uploads', endpoint_url='http://127.0.0.1:%d' % port, access_key=S3_ACCESS_KEY,
                   secret_key=S3_SECRET_KEY, timeout=2)
    assert res['error_kind'] == 'connect' and 'cannot connect to the endpoint' in res['error']


def test_module_ok_with_anonymous_check(s3_server):
    rc, result, output = run_module('s3_check', {
        'endpoint_url': s3_server['endpoint'], 'bucket': 'divan-uploads', 'access_key': S3_ACCESS_KEY,
        'secret_key': S3_SECRET_KEY, 'addressing_style': 'path', 'check_anonymous_read': True}, verbosity=3)
    assert rc == 0, output
    assert result['content_match'] and result['deleted'] and result['anonymous_read_refused']
    assert S3_SECRET_KEY not in output


def test_module_missing_bucket_fails_clearly(s3_server):
    rc, result, output = run_module('s3_check', {
        'endpoint_url': s3_server['endpoint'], 'bucket': 'divan-nope', 'access_key': S3_ACCESS_KEY,
        'secret_key': S3_SECRET_KEY})
    assert rc == 2, output
    assert result['error_kind'] == 'no_such_bucket'
    assert result['msg'].startswith('S3 check of bucket divan-nope failed (no_such_bucket): bucket divan-nope')
    assert 'Traceback' not in output and S3_SECRET_KEY not in output
