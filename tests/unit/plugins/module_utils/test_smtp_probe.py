# -*- coding: utf-8 -*-
"""smtp_probe error kinds with a scripted fake SMTP connection (no network)."""

import smtplib
import socket
import ssl

import pytest

from ansible_collections.divan.platform.plugins.module_utils import smtp_probe


class FakeSMTP(object):
    """Scripted stand-in for smtplib.SMTP: ``script`` maps a step to an exception or a reply."""

    def __init__(self, script, features=None, **kwargs):
        self.script = script
        self.kwargs = kwargs
        self.esmtp_features = dict(features if features is not None else {'starttls': '', 'auth': 'PLAIN LOGIN'})
        self.sock = None
        self.calls = []
        self._host = ''

    def _step(self, name, default):
        self.calls.append(name)
        value = self.script.get(name, default)
        if isinstance(value, BaseException):
            raise value
        return value

    def connect(self, host, port):
        return self._step('connect', (220, b'ready'))

    def ehlo(self):
        return self._step('ehlo', (250, b'hi'))

    def helo(self):
        return self._step('helo', (250, b'hi'))

    def has_extn(self, name):
        return name.lower() in self.esmtp_features

    def starttls(self, context=None):
        return self._step('starttls', (220, b'go ahead'))

    def login(self, user, password):
        return self._step('login', (235, b'ok'))

    def mail(self, sender):
        return self._step('mail', (250, b'ok'))

    def rcpt(self, rcpt):
        return self._step('rcpt', (250, b'ok'))

    def rset(self):
        return self._step('rset', (250, b'ok'))

    def send_message(self, msg, from_addr=None, to_addrs=None):
        self.sent = msg
        return self._step('send_message', {})

    def quit(self):
        self.calls.append('quit')


def run(script=None, features=None, **kwargs):
    holder = {}

    def factory(**kw):
        holder['conn'] = FakeSMTP(script or {}, features, **kw)
        return holder['conn']

    args = dict(host='smtp.example.org', username='u', password='p', mail_from='a@example.org',
                rcpt_to=['b@example.org'], smtp_factory=factory)
    args.update(kwargs)
    return smtp_probe.check_smtp(**args), holder['conn']


def test_happy_path_tries_recipients_then_resets():
    res, conn = run()
    assert res['ok'] and res['authenticated'] and res['accepted_recipients'] == ['b@example.org']
    assert conn.calls == ['connect', 'ehlo', 'starttls', 'ehlo', 'login', 'mail', 'rcpt', 'rset', 'quit']
    assert res['port'] == 587 and res['auth_mechanisms'] == ['LOGIN', 'PLAIN']
    assert conn._host == 'smtp.example.org'  # used for SNI and the certificate check


def test_send_builds_a_message_with_token():
    res, conn = run(send=True, subject='check {token}')
    assert res['sent'] and res['subject'] == 'check %s' % res['token']
    assert conn.sent['X-Divan-Check-Token'] == res['token']
    assert res['message_id'] == conn.sent['Message-ID'] and res['message_id'].endswith('@example.org>')


@pytest.mark.parametrize('script,features,kind', [
    ({'connect': socket.gaierror(-2, 'Name or service not known')}, None, 'dns'),
    ({'connect': ConnectionRefusedError(111, 'refused')}, None, 'connect'),
    ({'connect': socket.timeout('timed out')}, None, 'connect'),
    ({'connect': smtplib.SMTPConnectError(554, b'no service')}, None, 'connect'),
    ({}, {'auth': 'PLAIN'}, 'starttls_unsupported'),
    ({'starttls': ssl.SSLError(1, 'handshake failure')}, None, 'tls'),
    ({'starttls': smtplib.SMTPServerDisconnected('gone')}, None, 'tls'),
    ({'starttls': (454, b'TLS not available')}, None, 'tls'),
    ({'login': smtplib.SMTPAuthenticationError(535, b'5.7.8 bad credentials')}, None, 'auth'),
    ({}, {'starttls': ''}, 'auth_unsupported'),
    ({'mail': smtplib.SMTPSenderRefused(550, b'not yours', 'a@example.org')}, None, 'sender_rejected'),
    ({'mail': (553, b'sender not allowed')}, None, 'sender_rejected'),
    ({'rcpt': (550, b'no such user')}, None, 'recipient_rejected'),
    ({'ehlo': (500, b'no'), 'helo': (500, b'no')}, None, 'protocol'),
])
def test_error_kinds(script, features, kind):
    res, _conn = run(script, features)
    assert not res['ok'] and res['error_kind'] == kind, res
    assert res['error'] and 'Traceback' not in res['error']


def test_error_kinds_when_sending():
    res, _unused = run({'send_message': smtplib.SMTPRecipientsRefused({'b@example.org': (550, b'unknown')})}, send=True)
    assert res['error_kind'] == 'recipient_rejected' and 'b@example.org (550 unknown)' in res['error']
    res, _unused = run({'send_message': smtplib.SMTPDataError(554, b'spam')}, send=True)
    assert res['error_kind'] == 'data_rejected'
    res, _unused = run({'send_message': {'b@example.org': (550, b'unknown')}}, send=True)
    assert res['error_kind'] == 'recipient_rejected' and res['sent']


def test_auth_error_never_echoes_the_password():
    res, _unused = run({'login': smtplib.SMTPAuthenticationError(535, b'bad')}, password='hunter2-hunter2')
    assert 'hunter2' not in repr(res)


def test_modes_and_default_ports():
    res, conn = run(tls='none', username=None)
    assert res['ok'] and res['port'] == 25 and 'starttls' not in conn.calls
    res, conn = run(tls='implicit', port=None)
    assert res['port'] == 465 and 'starttls' not in conn.calls and 'context' in conn.kwargs
    with pytest.raises(ValueError):
        smtp_probe.check_smtp('h', tls='ssl')
