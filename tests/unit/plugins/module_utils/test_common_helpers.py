# -*- coding: utf-8 -*-
"""Secret-name detection and masking helpers."""

import pytest

from ansible_collections.divan.platform.plugins.module_utils import common


@pytest.mark.parametrize('name,secret', [
    ('SECRET_KEY', True), ('POSTGRES_PASSWORD', True), ('OBS_ADMIN_TOKEN', True), ('REFRESH_PEPPER', True),
    ('S3_SECRET_KEY', True), ('SENTRY_DSN', True), ('SLACK_WEBHOOK_URL', True), ('X-Admin-Token', True),
    ('Authorization', True), ('Cookie', True), ('X-Api-Key', True),
    ('DOMAIN', False), ('COOKIE_DOMAIN', False), ('COOKIE_SECURE', False), ('ENVIRONMENT', False),
    ('INTENT_SIGNING_REQUIRED', False), ('Accept', False), ('S3_BUCKET_NAME', False), ('KEYBOARD', False),
])
def test_is_secret_name(name, secret):
    assert common.is_secret_name(name) is secret


def test_mask_values_skips_short_values():
    class M(object):
        no_log_values = set()

    module = M()
    common.mask_values(module, ['abc', 'long-enough-secret', None, True, 123456])
    assert module.no_log_values == {'long-enough-secret', '123456'}


def test_hide_dict_values():
    assert common.hide_dict_values({'A': 'x', 'B': 1}) == {'A': '********', 'B': '********'}
    assert common.hide_dict_values(None) is None
