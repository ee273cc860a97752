# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Divan platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""TLS certificate check: chain, hostname and expiry (standard library only).

The validity dates are read from the DER certificate with a minimal DER
walker, so they are known even when verification fails (an expired
certificate still reports its not_after and a negative days_left).
"""

import datetime
import math
import ssl
import time

from ansible_collections.divan.platform.plugins.module_utils.net import (
    describe_error,
    make_ssl_context,
    open_connection,
)

UTC = datetime.timezone.utc


class DerError(ValueError):
    pass


def _tlv(data, pos):
    """Read one DER TLV at ``pos``: (tag, content_start, content_length)."""
    if pos + 2 > len(data):
        raise DerError('truncated')
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise DerError('bad length')
        length = int.from_bytes(data[pos:pos + count], 'big')
        pos += count
    if pos + length > len(data):
        raise DerError('truncated')
    return tag, pos, length


def _parse_time(tag, raw):
    text = raw.decode('ascii')
    if tag == 0x17:  # UTCTime YYMMDDHHMMSSZ
        year = int(text[:2])
        year += 1900 if year >= 50 else 2000
        text = '%d%s' % (year, text[2:])
    elif tag != 0x18:  # GeneralizedTime YYYYMMDDHHMMSSZ
        raise DerError('not a time')
    if not text.endswith('Z'):
        raise DerError('time not in UTC')
    return datetime.datetime.strptime(text[:14], '%Y%m%d%H%M%S').replace(tzinfo=UTC)


def der_validity(der):
    """(not_before, not_after) as aware datetimes from a DER X.509 certificate."""
    tag, pos, _length = _tlv(der, 0)  # Certificate
    if tag != 0x30:
        raise DerError('not a certificate')
    tag, pos, _length = _tlv(der, pos)  # TBSCertificate
    if tag != 0x30:
        raise DerError('not a certificate')
    tag, start, length = _tlv(der, pos)
    if tag == 0xA0:  # [0] version
        pos = start + length
        tag, start, length = _tlv(der, pos)
    pos = start + length  # serialNumber
    for _field in ('signature', 'issuer'):  # AlgorithmIdentifier, Name
        tag, start, length = _tlv(der, pos)
        pos = start + length
    tag, pos, _length = _tlv(der, pos)  # validity
    if tag != 0x30:
        raise DerError('no validity')
    tag, start, length = _tlv(der, pos)
    not_before = _parse_time(tag, der[start:start + length])
    tag, start, length = _tlv(der, start + length)
    not_after = _parse_time(tag, der[start:start + length])
    return not_before, not_after


def _fetch(host, port, context, timeout, connect_host, server_name):
    sock = open_connection(host, port, timeout, tls=True, context=context,
                           server_hostname=server_name or host, connect_host=connect_host)
    try:
        return (sock.getpeercert(binary_form=True), sock.getpeercert() or {},
                sock.version(), (sock.cipher() or (None,))[0])
    finally:
        sock.close()


def check_tls(host, port=443, ca_path=None, validate_certs=True, min_days_valid=14, timeout=10.0,
              connect_host=None, server_name=None, now=None):
    """Connect, verify and read the certificate.

    Returns a dict: verified, verify_error, not_before, not_after (ISO 8601 UTC),
    days_left, tls_version, cipher, subject_alt_names, failures (list of str),
    error_kind (None, 'dns', 'connect', 'tls').
    """
    now = now or datetime.datetime.now(UTC)
    result = {
        'host': host, 'port': port, 'verified': False, 'verify_error': None,
        'not_before': None, 'not_after': None, 'days_left': None,
        'tls_version': None, 'cipher': None, 'subject_alt_names': [],
        'latency_ms': None, 'failures': [], 'error_kind': None,
    }
    started = time.monotonic()
    der = None
    try:
        der, info, result['tls_version'], result['cipher'] = _fetch(
            host, port, make_ssl_context(validate_certs, ca_path), timeout, connect_host, server_name)
        result['verified'] = bool(validate_certs)
        result['subject_alt_names'] = [v for k, v in info.get('subjectAltName', ()) if k in ('DNS', 'IP Address')]
    except (ssl.SSLCertVerificationError, ssl.CertificateError) as exc:
        kind, message = describe_error(exc)
        result['verify_error'] = message.split(': ', 1)[-1]
        result['error_kind'] = kind
        result['failures'].append(message)
        try:  # read the certificate anyway, to report its dates
            der, _info, result['tls_version'], result['cipher'] = _fetch(
                host, port, make_ssl_context(False), timeout, connect_host, server_name)
        except Exception:  # pylint: disable=broad-except
            der = None
    except Exception as exc:  # pylint: disable=broad-except
        kind, message = describe_error(exc)
        result['error_kind'] = kind
        result['failures'].append(message)
        return result
    finally:
        result['latency_ms'] = int((time.monotonic() - started) * 1000)

    if der:
        try:
            not_before, not_after = der_validity(der)
        except (DerError, ValueError, UnicodeError):
            result['failures'].append('the certificate validity dates cannot be read')
            return result
        result['not_before'] = not_before.strftime('%Y-%m-%dT%H:%M:%SZ')
        result['not_after'] = not_after.strftime('%Y-%m-%dT%H:%M:%SZ')
        days_left = int(math.floor((not_after - now).total_seconds() / 86400.0))
        result['days_left'] = days_left
        if now < not_before:
            result['failures'].append('certificate is not valid before %s' % result['not_before'])
        if days_left < min_days_valid:
            if not_after <= now:
                result['failures'].append('certificate expired on %s (%d days ago); renew it'
                                          % (result['not_after'], -days_left))
            else:
                result['failures'].append('certificate expires on %s, in %d days, below min_days_valid %d; renew it'
                                          % (result['not_after'], days_left, min_days_valid))
    return result
