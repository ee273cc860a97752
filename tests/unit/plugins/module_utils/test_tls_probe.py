# -*- coding: utf-8 -*-
"""DER validity parsing (UTCTime and GeneralizedTime) and the TLS check's failure rules with the network stubbed."""

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.divan.platform.plugins.module_utils import tls_probe

UTC = datetime.timezone.utc


def der_cert(not_before, not_after):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'example.org')])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


def test_der_validity_utctime_and_generalizedtime():
    nb = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    na = datetime.datetime(2051, 6, 7, 8, 9, 10, tzinfo=UTC)  # after 2049: GeneralizedTime
    assert tls_probe.der_validity(der_cert(nb, na)) == (nb, na)
    old = datetime.datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC)  # UTCTime 99 -> 1999
    assert tls_probe.der_validity(der_cert(old, nb)) == (old, nb)


@pytest.mark.parametrize('data', [b'', b'\x30', b'\x02\x01\x00', b'\x30\x84\xff\xff\xff\xff'])
def test_der_garbage(data):
    with pytest.raises(tls_probe.DerError):
        tls_probe.der_validity(data)


def _stub_fetch(monkeypatch, der, verify_error=None):
    import ssl

    def fetch(host, port, context, timeout, connect_host, server_name):
        if verify_error and context.verify_mode != ssl.CERT_NONE:
            exc = ssl.SSLCertVerificationError(1, 'certificate verify failed')
            exc.verify_message = verify_error
            raise exc
        return der, {'subjectAltName': (('DNS', 'example.org'),)}, 'TLSv1.3', 'TLS_AES_256_GCM_SHA384'

    monkeypatch.setattr(tls_probe, '_fetch', fetch)


def test_days_left_threshold(monkeypatch):
    now = datetime.datetime(2026, 1, 1, tzinfo=UTC)
    _stub_fetch(monkeypatch, der_cert(now - datetime.timedelta(days=10), now + datetime.timedelta(days=20, hours=1)))
    ok = tls_probe.check_tls('example.org', min_days_valid=14, now=now)
    assert ok['failures'] == [] and ok['days_left'] == 20 and ok['verified']
    assert ok['not_after'] == '2026-01-21T01:00:00Z' and ok['subject_alt_names'] == ['example.org']
    low = tls_probe.check_tls('example.org', min_days_valid=30, now=now)
    assert low['failures'] == ['certificate expires on 2026-01-21T01:00:00Z, in 20 days, below min_days_valid 30; '
                               'renew it']


def test_expired_and_not_yet_valid(monkeypatch):
    now = datetime.datetime(2026, 1, 1, tzinfo=UTC)
    _stub_fetch(monkeypatch, der_cert(now - datetime.timedelta(days=100), now - datetime.timedelta(days=2)),
                verify_error='certificate has expired')
    res = tls_probe.check_tls('example.org', now=now)
    assert res['verify_error'] == 'certificate has expired' and not res['verified'] and res['days_left'] == -2
    assert res['failures'] == ['TLS certificate verification failed: certificate has expired',
                               'certificate expired on 2025-12-30T00:00:00Z (2 days ago); renew it']
    _stub_fetch(monkeypatch, der_cert(now + datetime.timedelta(days=1), now + datetime.timedelta(days=90)))
    res = tls_probe.check_tls('example.org', now=now)
    assert res['failures'] == ['certificate is not valid before 2026-01-02T00:00:00Z']


def test_connection_errors(monkeypatch):
    import socket

    def refused(*args):
        raise ConnectionRefusedError(111, 'refused')

    monkeypatch.setattr(tls_probe, '_fetch', refused)
    res = tls_probe.check_tls('example.org')
    assert res['error_kind'] == 'connect' and res['failures'] == ['connection refused']

    def dns(*args):
        raise socket.gaierror(-2, 'Name or service not known')

    monkeypatch.setattr(tls_probe, '_fetch', dns)
    assert tls_probe.check_tls('example.org')['error_kind'] == 'dns'
