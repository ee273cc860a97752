#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Divan platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: smtp_check
short_description: Check an SMTP submission server (TLS, login, sender, recipients) and optionally send a test mail
version_added: 0.1.0
description:
  - Connects to an SMTP server from the host that runs the module, negotiates TLS (STARTTLS by
    default, or implicit TLS on port 465), logs in, and checks that the sender and the recipients
    are accepted (C(MAIL FROM)/C(RCPT TO) then C(RSET)).
  - With O(send=true), sends a real test message whose subject carries a random token, and returns
    its Message-ID and the token, so that a later step can look for it in the mailbox.
  - Every failure is reported with an RV(error_kind) - C(dns), C(connect), C(tls),
    C(starttls_unsupported), C(auth_unsupported), C(auth), C(sender_rejected),
    C(recipient_rejected), C(data_rejected), C(protocol) - and a message, never a traceback.
author:
  - Divan platform team (@divan-platform)
options:
  host:
    description: SMTP server name or address.
    type: str
    required: true
  port:
    description: Port; default 587 for C(starttls), 465 for C(implicit), 25 for C(none).
    type: int
  tls:
    description:
      - C(starttls) requires the server to offer STARTTLS and upgrades before logging in;
        C(implicit) speaks TLS from the start (port 465); C(none) disables TLS (development only).
    type: str
    choices: [starttls, implicit, none]
    default: starttls
  ca_path:
    description: CA certificate file (PEM) to verify the server against; default the system store.
    type: path
  validate_certs:
    description: Verify the server certificate and its host name.
    type: bool
    default: true
  server_name:
    description: Name to expect in the server certificate (and send as SNI), when O(host) is an address.
    type: str
  username:
    description: User to log in as; no login when omitted.
    type: str
  password:
    description: Password for O(username).
    type: str
  mail_from:
    description: Envelope sender (and C(From) of the test message).
    type: str
    aliases: [from]
  rcpt_to:
    description: Envelope recipients.
    type: list
    elements: str
    aliases: [to]
  send:
    description:
      - Send a test message to O(rcpt_to). Without it, the recipients are only tried and the
        transaction is reset. Ignored in check mode (nothing is sent).
    type: bool
    default: false
  subject:
    description: Subject of the test message; C({token}) is replaced with the random token.
    type: str
    default: Divan SMTP check {token}
  timeout:
    description: Network timeout in seconds.
    type: float
    default: 15
  local_hostname:
    description: Name to announce in EHLO (default the host's name).
    type: str
notes:
  - Supports check mode; in check mode no message is sent.
  - The module reports C(changed=false) even when it sends a test message.
seealso:
  - module: divan.platform.env_check
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Check the provider credentials and that the sender is accepted
  divan.platform.smtp_check:
    host: smtp.postmarkapp.com
    port: 587
    username: "{{ vault_smtp_user }}"
    password: "{{ vault_smtp_password }}"
    mail_from: no-reply@example.org
    rcpt_to: [ops@example.org]

- name: Send a test mail over implicit TLS and keep its token
  divan.platform.smtp_check:
    host: email-smtp.eu-west-1.amazonaws.com
    tls: implicit
    username: "{{ vault_smtp_user }}"
    password: "{{ vault_smtp_password }}"
    mail_from: no-reply@example.org
    rcpt_to: [ops@example.org]
    send: true
  register: smtp_test

- name: Show the Message-ID to look for
  ansible.builtin.debug:
    msg: "Sent {{ smtp_test.message_id }} with token {{ smtp_test.token }}"
"""

RETURN = r"""
error_kind:
  description: Kind of failure, or null.
  returned: always
  type: str
  sample: auth
error:
  description: What failed, or null.
  returned: always
  type: str
  sample: "authentication failed: 535 5.7.8 Authentication credentials invalid; check the SMTP user and password"
host:
  description: The server checked.
  returned: always
  type: str
port:
  description: The port used.
  returned: always
  type: int
  sample: 587
tls_version:
  description: Negotiated TLS version, or null without TLS.
  returned: always
  type: str
  sample: TLSv1.3
cipher:
  description: Negotiated cipher, or null without TLS.
  returned: always
  type: str
esmtp_features:
  description: Extensions announced by the server (after TLS).
  returned: always
  type: list
  elements: str
  sample: [auth, pipelining, size, starttls]
auth_mechanisms:
  description: AUTH mechanisms announced by the server.
  returned: always
  type: list
  elements: str
  sample: [LOGIN, PLAIN]
authenticated:
  description: Whether the login succeeded.
  returned: always
  type: bool
accepted_recipients:
  description: Recipients the server accepted.
  returned: always
  type: list
  elements: str
sent:
  description: Whether a test message was sent.
  returned: always
  type: bool
message_id:
  description: Message-ID of the test message, when one was sent.
  returned: always
  type: str
  sample: "<172000000000.1234.divan@example.org>"
token:
  description: Random token put in the test message subject and body (also set when only trying recipients).
  returned: always
  type: str
  sample: 3f9a2c4b5d6e7f80
subject:
  description: Subject of the test message, when one was sent.
  returned: always
  type: str
latency_ms:
  description: Duration of the whole check, in milliseconds.
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.divan.platform.plugins.module_utils.smtp_probe import check_smtp


def main():
    module = AnsibleModule(
        argument_spec=dict(
            host=dict(type='str', required=True),
            port=dict(type='int'),
            tls=dict(type='str', choices=['starttls', 'implicit', 'none'], default='starttls'),
            ca_path=dict(type='path'),
            validate_certs=dict(type='bool', default=True),
            server_name=dict(type='str'),
            username=dict(type='str'),
            password=dict(type='str', no_log=True),
            mail_from=dict(type='str', aliases=['from']),
            rcpt_to=dict(type='list', elements='str', aliases=['to']),
            send=dict(type='bool', default=False),
            subject=dict(type='str', default='Divan SMTP check {token}'),
            timeout=dict(type='float', default=15.0),
            local_hostname=dict(type='str'),
        ),
        required_by={'password': 'username'},
        required_together=[('mail_from', 'rcpt_to')],
        supports_check_mode=True,
    )
    p = module.params
    result = check_smtp(
        host=p['host'], port=p['port'], tls=p['tls'], username=p['username'], password=p['password'],
        mail_from=p['mail_from'], rcpt_to=p['rcpt_to'], send=p['send'] and not module.check_mode,
        subject=p['subject'], ca_path=p['ca_path'], validate_certs=p['validate_certs'], timeout=p['timeout'],
        local_hostname=p['local_hostname'], server_name=p['server_name'],
    )
    ok = result.pop('ok')
    result.pop('tls', None)
    if not ok:
        module.fail_json(msg='SMTP check of %s:%s failed (%s): %s' % (result['host'], result['port'],
                                                                      result['error_kind'], result['error']),
                         changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
