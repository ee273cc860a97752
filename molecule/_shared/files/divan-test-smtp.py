"""Test SMTP submission server (tests only): STARTTLS required, AUTH required.

aiosmtpd (Debian's python3-aiosmtpd) is a complete SMTP server implementation;
every accepted message is stored in a Maildir (one file per message in
new/), with the envelope in X-Divan-Envelope-* headers, so a playbook reads
the mailbox with find + slurp. Configuration from the environment:
SMTP_LISTEN, SMTP_PORT, SMTP_CERT, SMTP_KEY, SMTP_USER, SMTP_PASSWORD,
SMTP_MAILDIR, SMTP_SERVER_NAME.
"""

import hmac
import mailbox
import os
import signal
import ssl

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

ENV = os.environ


class MaildirHandler:
    def __init__(self, path):
        self.box = mailbox.Maildir(path, create=True)

    async def handle_DATA(self, server, session, envelope):
        head = ("X-Divan-Envelope-From: %s\r\nX-Divan-Envelope-To: %s\r\n"
                % (envelope.mail_from, ", ".join(envelope.rcpt_tos))).encode()
        self.box.add(head + envelope.original_content)
        return "250 2.0.0 OK stored"


def authenticator(server, session, envelope, mechanism, auth_data):
    if not isinstance(auth_data, LoginPassword):
        return AuthResult(success=False, handled=False)
    ok = (hmac.compare_digest(auth_data.login, ENV["SMTP_USER"].encode())
          and hmac.compare_digest(auth_data.password, ENV["SMTP_PASSWORD"].encode()))
    return AuthResult(success=ok, handled=False)


def main():
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(ENV["SMTP_CERT"], ENV["SMTP_KEY"])
    controller = Controller(
        MaildirHandler(ENV["SMTP_MAILDIR"]),
        hostname=ENV.get("SMTP_LISTEN", "0.0.0.0"),
        port=int(ENV.get("SMTP_PORT", "2587")),
        server_hostname=ENV.get("SMTP_SERVER_NAME", "smtp.divan.test"),
        tls_context=context,
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=True,
        # the ready-check connects to this address
        ready_timeout=30,
    )
    controller.start()
    print("divan-test-smtp: listening on %s:%s" % (controller.hostname, controller.port), flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    controller.stop()


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    main()
