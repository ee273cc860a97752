# -*- coding: utf-8 -*-
"""smtp_check against aiosmtpd servers on 127.0.0.1 (STARTTLS + AUTH, implicit TLS, no STARTTLS)."""

import email
import socket

import pytest

from integration_helpers import SMTP_PASSWORD, SMTP_USER, run_module

from ansible_collections.divan.platform.plugins.module_utils.smtp_probe import check_smtp

# aiosmtpd warns when AUTH does not require STARTTLS: true of the implicit-TLS server, which is TLS from the start
pytestmark = pytest.mark.filterwarnings('ignore:Requiring AUTH while not requiring TLS:UserWarning')


def smtp(server, pki, **kwargs):
    args = dict(host='127.0.0.1', port=server.port, ca_path=pki['ca'], username=SMTP_USER, password=SMTP_PASSWORD,
                mail_from='no-reply@divan.test', rcpt_to=['ops@divan.test'], timeout=10)
    args.update(kwargs)
    return check_smtp(**args)


def test_starttls_auth_and_send(smtp_starttls, pki):
    before = len(smtp_starttls.messages)
    res = smtp(smtp_starttls, pki, send=True)
    assert res['ok'], res
    assert res['error_kind'] is None and res['authenticated'] and res['sent']
    assert res['tls_version'].startswith('TLS') and 'LOGIN' in res['auth_mechanisms']
    assert res['accepted_recipients'] == ['ops@divan.test']
    assert len(smtp_starttls.messages) == before + 1
    received = smtp_starttls.messages[-1]
    assert received['to'] == ['ops@divan.test'] and received['from'] == 'no-reply@divan.test'
    parsed = email.message_from_string(received['data'])
    assert parsed['Subject'] == 'Divan SMTP check %s' % res['token']
    assert parsed['Message-ID'].strip() == res['message_id']
    assert parsed['X-Divan-Check-Token'] == res['token']


def test_without_send_only_tries_recipients(smtp_starttls, pki):
    before = len(smtp_starttls.messages)
    res = smtp(smtp_starttls, pki)
    assert res['ok'] and not res['sent'] and res['message_id'] is None
    assert res['accepted_recipients'] == ['ops@divan.test']
    assert len(smtp_starttls.messages) == before


def test_wrong_password(smtp_starttls, pki):
    res = smtp(smtp_starttls, pki, password='wrong-password')
    assert res['error_kind'] == 'auth' and not res['authenticated']
    assert res['error'].startswith('authentication failed: 535')


def test_sender_and_recipient_rejected(smtp_starttls, pki):
    sender = smtp(smtp_starttls, pki, mail_from='blocked@divan.test', send=True)
    assert sender['error_kind'] == 'sender_rejected'
    assert 'sender blocked@divan.test refused: 550' in sender['error']
    rcpt = smtp(smtp_starttls, pki, rcpt_to=['nobody@divan.test'])
    assert rcpt['error_kind'] == 'recipient_rejected'
    assert 'nobody@divan.test (550 5.1.1 Recipient address rejected' in rcpt['error']
    rcpt_send = smtp(smtp_starttls, pki, rcpt_to=['nobody@divan.test'], send=True)
    assert rcpt_send['error_kind'] == 'recipient_rejected'


def test_starttls_not_offered(smtp_plain, pki):
    res = smtp(smtp_plain, pki)
    assert res['error_kind'] == 'starttls_unsupported'
    # explicitly disabled TLS talks in clear (development only) and still reports the rest
    clear = smtp(smtp_plain, pki, tls='none', username=None, password=None)
    assert clear['ok'] and clear['tls_version'] is None


def test_implicit_tls(smtp_implicit, pki):
    res = smtp(smtp_implicit, pki, tls='implicit', send=True)
    assert res['ok'], res
    assert res['tls_version'].startswith('TLS') and res['sent']
    assert smtp_implicit.messages and res['token'] in smtp_implicit.messages[-1]['data']


def test_untrusted_certificate_and_name_mismatch(smtp_starttls, smtp_implicit, pki):
    untrusted = smtp(smtp_starttls, pki, ca_path=None)
    assert untrusted['error_kind'] == 'tls'
    assert 'unable to get local issuer certificate' in untrusted['error']
    mismatch = smtp(smtp_implicit, pki, tls='implicit', server_name='smtp.other.test')
    assert mismatch['error_kind'] == 'tls' and 'Hostname mismatch' in mismatch['error']
    named = smtp(smtp_implicit, pki, tls='implicit', server_name='divan.test')
    assert named['ok'], named


def test_connection_refused():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    res = check_smtp('127.0.0.1', port, timeout=3)
    assert res['error_kind'] == 'connect' and res['error'].startswith('connection refused')


def test_module_sends_mail(smtp_starttls, pki):
    before = len(smtp_starttls.messages)
    rc, result, output = run_module('smtp_check', {
        'host': '127.0.0.1', 'port': smtp_starttls.port, 'ca_path': pki['ca'], 'username': SMTP_USER,
        'password': SMTP_PASSWORD, 'from': 'no-reply@divan.test', 'to': ['ops@divan.test'], 'send': True,
        'subject': 'deploy check {token}'})
    assert rc == 0, output
    assert result['sent'] and result['error_kind'] is None
    assert len(smtp_starttls.messages) == before + 1
    assert 'Subject: deploy check %s' % result['token'] in smtp_starttls.messages[-1]['data']
    assert SMTP_PASSWORD not in output


def test_module_check_mode_sends_nothing(smtp_starttls, pki):
    before = len(smtp_starttls.messages)
    rc, result, output = run_module('smtp_check', {
        'host': '127.0.0.1', 'port': smtp_starttls.port, 'ca_path': pki['ca'], 'username': SMTP_USER,
        'password': SMTP_PASSWORD, 'from': 'no-reply@divan.test', 'to': ['ops@divan.test'], 'send': True},
        check=True)
    assert rc == 0, output
    assert not result['sent'] and result['accepted_recipients'] == ['ops@divan.test']
    assert len(smtp_starttls.messages) == before


def test_module_wrong_password_is_a_clear_failure(smtp_starttls, pki):
    rc, result, output = run_module('smtp_check', {
        'host': '127.0.0.1', 'port': smtp_starttls.port, 'ca_path': pki['ca'], 'username': SMTP_USER,
        'password': 'not-the-password-123', 'from': 'no-reply@divan.test', 'to': ['ops@divan.test']}, verbosity=3)
    assert rc == 2, output
    assert result['error_kind'] == 'auth'
    assert result['msg'].startswith('SMTP check of 127.0.0.1:%d failed (auth): authentication failed'
                                    % smtp_starttls.port)
    assert 'Traceback' not in output and 'not-the-password-123' not in output
