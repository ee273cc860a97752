# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Divan platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SMTP submission check (standard library smtplib/ssl).

``check_smtp`` connects (plain + STARTTLS, implicit TLS, or no TLS),
authenticates, and either sends a test message or only tries MAIL FROM /
RCPT TO followed by RSET. Every failure becomes an ``error_kind``:

dns, connect, tls, starttls_unsupported, auth_unsupported, auth,
sender_rejected, recipient_rejected, data_rejected, protocol.
"""

import email.utils
import os
import smtplib
import socket
import ssl
import time

try:
    from email.message import EmailMessage
except ImportError:  # pragma: no cover
    EmailMessage = None

from ansible_collections.divan.platform.plugins.module_utils.net import describe_error, make_ssl_context

TLS_MODES = ('starttls', 'implicit', 'none')
DEFAULT_PORTS = {'starttls': 587, 'implicit': 465, 'none': 25}


class SmtpCheckError(Exception):
    def __init__(self, kind, message):
        super(SmtpCheckError, self).__init__(message)
        self.kind = kind


def _reply_text(code, msg):
    if isinstance(msg, bytes):
        msg = msg.decode('utf-8', 'replace')
    return '%s %s' % (code, ' '.join(str(msg).split()))[:300]


def new_token():
    return os.urandom(8).hex()


def build_message(mail_from, rcpts, subject, token, domain):
    msg = EmailMessage()
    msg['From'] = mail_from
    msg['To'] = ', '.join(rcpts)
    msg['Subject'] = subject
    msg['Date'] = email.utils.formatdate(localtime=False)
    msg['Message-ID'] = email.utils.make_msgid(idstring='divan', domain=domain)
    msg['X-Divan-Check-Token'] = token
    msg.set_content('This is a test message sent by divan.platform.smtp_check.\n'
                    'Token: %s\nYou can delete it.\n' % token)
    return msg


def check_smtp(host, port=None, tls='starttls', username=None, password=None, mail_from=None, rcpt_to=None,
               send=False, subject='Divan SMTP check {token}', ca_path=None, validate_certs=True, timeout=15.0,
               local_hostname=None, server_name=None, smtp_factory=None):
    """Run the check; returns a dict (never raises for SMTP or network problems).

    Keys: ok, error_kind, error, host, port, tls, tls_version, cipher,
    esmtp_features, auth_mechanisms, authenticated, accepted_recipients,
    sent, message_id, token, latency_ms.
    """
    if tls not in TLS_MODES:
        raise ValueError('tls must be one of %s' % ', '.join(TLS_MODES))
    port = port or DEFAULT_PORTS[tls]
    rcpts = list(rcpt_to or [])
    result = {
        'ok': False, 'error_kind': None, 'error': None, 'host': host, 'port': port, 'tls': tls,
        'tls_version': None, 'cipher': None, 'esmtp_features': [], 'auth_mechanisms': [],
        'authenticated': False, 'accepted_recipients': [], 'sent': False, 'message_id': None,
        'token': None, 'subject': None, 'latency_ms': None,
    }
    started = time.monotonic()
    context = make_ssl_context(validate_certs, ca_path)
    factory = smtp_factory or {'implicit': smtplib.SMTP_SSL}.get(tls, smtplib.SMTP)
    conn = None
    stage = 'connect'
    try:
        # socket.getfqdn() (smtplib's default) may wait on DNS: use the plain host name
        kwargs = {'timeout': timeout, 'local_hostname': local_hostname or socket.gethostname() or 'localhost'}
        if tls == 'implicit':
            kwargs['context'] = context
        conn = factory(**kwargs)
        # name used for SNI and the certificate check (STARTTLS and implicit TLS)
        conn._host = server_name or host
        if tls == 'implicit':
            stage = 'tls'
        conn.connect(host, port)
        stage = 'ehlo'
        code, _msg = conn.ehlo()
        if code != 250:
            code, _msg = conn.helo()
            if code != 250:
                raise SmtpCheckError('protocol', 'server refused EHLO and HELO: %s' % _reply_text(code, _msg))
        if tls == 'starttls':
            if not conn.has_extn('starttls'):
                raise SmtpCheckError('starttls_unsupported',
                                     'server does not offer STARTTLS on port %d; use the provider\'s submission '
                                     'port (587 with STARTTLS or 465 with implicit TLS)' % port)
            stage = 'tls'
            code, msg = conn.starttls(context=context)
            if code != 220:
                raise SmtpCheckError('tls', 'STARTTLS refused: %s' % _reply_text(code, msg))
            stage = 'ehlo'
            conn.ehlo()
        sock = conn.sock
        if isinstance(sock, ssl.SSLSocket):
            result['tls_version'] = sock.version()
            result['cipher'] = (sock.cipher() or (None,))[0]
        result['esmtp_features'] = sorted(conn.esmtp_features.keys())
        result['auth_mechanisms'] = sorted((conn.esmtp_features.get('auth') or '').upper().split())

        if username:
            if not conn.has_extn('auth'):
                raise SmtpCheckError('auth_unsupported',
                                     'server does not offer AUTH%s; check the port and TLS mode'
                                     % (' before STARTTLS' if tls == 'none' else ''))
            stage = 'auth'
            conn.login(username, password or '')
            result['authenticated'] = True

        if mail_from and rcpts:
            token = new_token()
            result['token'] = token
            stage = 'mail'
            if send:
                sender_domain = mail_from.rsplit('@', 1)[-1] if '@' in mail_from else None
                result['subject'] = subject.replace('{token}', token)
                msg = build_message(mail_from, rcpts, result['subject'], token, sender_domain)
                refused = conn.send_message(msg, from_addr=mail_from, to_addrs=rcpts)
                result['accepted_recipients'] = [r for r in rcpts if r not in refused]
                result['message_id'] = msg['Message-ID']
                result['sent'] = True
                if refused:
                    raise SmtpCheckError('recipient_rejected', 'recipient(s) refused: %s' % ', '.join(
                        '%s (%s)' % (r, _reply_text(*refused[r])) for r in refused))
            else:
                code, msg = conn.mail(mail_from)
                if code != 250:
                    raise smtplib.SMTPSenderRefused(code, msg, mail_from)
                refused = {}
                for rcpt in rcpts:
                    code, msg = conn.rcpt(rcpt)
                    if code in (250, 251):
                        result['accepted_recipients'].append(rcpt)
                    else:
                        refused[rcpt] = (code, msg)
                conn.rset()
                if refused:
                    raise SmtpCheckError('recipient_rejected', 'recipient(s) refused: %s' % ', '.join(
                        '%s (%s)' % (r, _reply_text(*refused[r])) for r in refused))
        result['ok'] = True
    except SmtpCheckError as exc:
        result['error_kind'], result['error'] = exc.kind, str(exc)
    except smtplib.SMTPAuthenticationError as exc:
        result['error_kind'] = 'auth'
        result['error'] = 'authentication failed: %s; check the SMTP user and password' % _reply_text(
            exc.smtp_code, exc.smtp_error)
    except smtplib.SMTPNotSupportedError as exc:
        result['error_kind'] = 'auth_unsupported' if stage == 'auth' else 'protocol'
        result['error'] = 'not supported by the server: %s' % exc
    except smtplib.SMTPSenderRefused as exc:
        result['error_kind'] = 'sender_rejected'
        result['error'] = 'sender %s refused: %s; use an address of a verified sender domain' % (
            exc.sender, _reply_text(exc.smtp_code, exc.smtp_error))
    except smtplib.SMTPRecipientsRefused as exc:
        result['error_kind'] = 'recipient_rejected'
        result['error'] = 'recipient(s) refused: %s' % ', '.join(
            '%s (%s)' % (r, _reply_text(*v)) for r, v in exc.recipients.items())
    except smtplib.SMTPDataError as exc:
        result['error_kind'] = 'data_rejected'
        result['error'] = 'message refused after DATA: %s' % _reply_text(exc.smtp_code, exc.smtp_error)
    except smtplib.SMTPServerDisconnected as exc:
        result['error_kind'] = 'tls' if stage == 'tls' else ('connect' if stage == 'connect' else 'protocol')
        result['error'] = 'server closed the connection during %s: %s' % (stage, exc or 'no reply')
    except smtplib.SMTPConnectError as exc:
        result['error_kind'] = 'connect'
        result['error'] = 'server refused the connection: %s' % _reply_text(exc.smtp_code, exc.smtp_error)
    except smtplib.SMTPResponseException as exc:
        result['error_kind'] = 'auth' if stage == 'auth' else 'protocol'
        result['error'] = 'unexpected reply during %s: %s' % (stage, _reply_text(exc.smtp_code, exc.smtp_error))
    except smtplib.SMTPException as exc:
        result['error_kind'] = 'protocol'
        result['error'] = 'SMTP error during %s: %s' % (stage, exc)
    except (ssl.SSLError, ssl.CertificateError) as exc:
        result['error_kind'], result['error'] = describe_error(exc)
    except (socket.error, OSError) as exc:
        kind, message = describe_error(exc)
        result['error_kind'] = 'tls' if stage == 'tls' and kind == 'connect' else kind
        result['error'] = '%s (%s:%d)' % (message, host, port)
    finally:
        result['latency_ms'] = int((time.monotonic() - started) * 1000)
        if conn is not None:
            try:
                conn.quit()
            except Exception:  # pylint: disable=broad-except
                try:
                    conn.close()
                except Exception:  # pylint: disable=broad-except
                    pass
    return result
