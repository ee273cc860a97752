#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Divan platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: deploy_notify
short_description: Announce a deploy, a rollback or their failure to a Slack-compatible webhook
version_added: 0.1.0
description:
  - "POSTs one JSON message to a Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat,
    or any receiver that takes C({\"text\": \"...\"})) from the host that runs the module, usually the
    controller (C(delegate_to: localhost), C(run_once: true))."
  - "The message has C(text), one line a person reads on a phone, for example
    C(:rocket: example.org: deploy of 1.1.0 started by alice on app1, app2), and C(divan),
    the same facts machine-readable (RV(payload.divan)) for a generic receiver."
  - Each event has its own wording and emoji shortcode - V(start) C(:rocket:), V(success)
    C(:white_check_mark:), V(failure) C(:x:), V(rollback) C(:rewind:), V(rollback_failure)
    C(:rotating_light:).
  - "Every text field, O(detail) first (a failure message may carry anything), goes through a redaction
    that replaces the strings of O(secrets), the webhook URL and anything credential-looking
    (C(Bearer ...), C(Basic ...), C(scheme://user:password@), C(password=...), C(token: ...),
    C(SECRET_KEY=...), Slack webhook paths) with C(***)."
  - A notification that cannot be sent does not fail the task unless O(fail_on_error=true) - it warns
    and returns RV(sent=false) with the RV(error). Error messages name the webhook as
    C(scheme://host[:port]) only, never its path or query (a Slack webhook URL carries its secret in the path).
  - Uses the Python standard library only.
author:
  - Divan platform team (@divan-platform)
options:
  url:
    description:
      - The incoming webhook URL, C(http://) or C(https://), for example the C(SLACK_WEBHOOK_URL) of the
        platform env. It is a secret - never logged or returned.
    type: str
    required: true
  event:
    description:
      - What happened. V(start) before the first host changes, V(success) at the end of a deploy,
        V(failure) when it failed, V(rollback) at the end of a rollback, V(rollback_failure) when a
        rollback failed.
    type: str
    required: true
    choices: [start, success, failure, rollback, rollback_failure]
  site:
    description: The site deployed, for example its domain (C(divan_domain)).
    type: str
    required: true
  version:
    description: The release deployed; for a rollback the release returned to.
    type: str
  previous_version:
    description: The release it replaces (for a rollback the one rolled back); not shown when equal to O(version).
    type: str
  hosts:
    description: The hosts concerned; the message names the first five and counts the others.
    type: list
    elements: str
  deployed_by:
    description: Who runs the deploy, for example C(SUDO_USER) or the CI job's user.
    type: str
  playbook:
    description: The playbook that runs (only in RV(payload.divan), not in the text).
    type: str
  duration:
    description: Seconds the deploy took (shown as C(in 2m 05s), or C(after 40s) for a failure; not for V(start)).
    type: float
  detail:
    description:
      - Free text, for example the failed task and its message. Redacted (see O(secrets)), made one line
        and cut to 200 characters in the text, to 2000 in C(detail) of RV(payload.divan).
    type: str
  secrets:
    description:
      - Strings that must never appear in the message (also in their URL-encoded and JSON-escaped forms),
        for example the vault values a failure message may echo. Replaced with C(***).
    type: list
    elements: str
  timeout:
    description: Network timeout in seconds.
    type: float
    default: 10
  ca_path:
    description: CA certificate file (PEM), or hashed directory, to verify the webhook server against; default the system store.
    type: path
  validate_certs:
    description: Verify the webhook server's TLS certificate and host name.
    type: bool
    default: true
  fail_on_error:
    description:
      - Fail the task when the notification cannot be sent (bad URL, network or TLS error, non-2xx answer).
      - By default a notification that cannot be sent must not fail a deploy - the module warns and
        returns RV(sent=false) and RV(error).
    type: bool
    default: false
notes:
  - Supports check mode - nothing is sent, the message that would be sent is returned in RV(payload).
  - The module always reports C(changed=false) - a notification changes nothing on the managed hosts.
  - Invalid arguments (for example a negative O(duration)) fail the task whatever O(fail_on_error) says.
seealso:
  - name: Slack incoming webhooks
    description: The message format (C(text)) and the answers of a Slack webhook.
    link: https://api.slack.com/messaging/webhooks
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
- name: Announce the deploy before the first host changes
  divan.platform.deploy_notify:
    url: "{{ vault_slack_webhook_url }}"
    event: start
    site: "{{ divan_domain }}"
    version: "{{ app_version }}"
    previous_version: "{{ deploy_current_version | default(omit) }}"
    hosts: "{{ ansible_play_hosts_all }}"
    deployed_by: "{{ lookup('ansible.builtin.env', 'SUDO_USER', default='') or lookup('ansible.builtin.pipe', 'id -un') }}"
    playbook: playbooks/deploy.yml
  delegate_to: localhost
  run_once: true
  become: false

- name: Announce a failed deploy, without the vault values the failure may echo
  divan.platform.deploy_notify:
    url: "{{ vault_slack_webhook_url }}"
    event: failure
    site: "{{ divan_domain }}"
    version: "{{ app_version }}"
    hosts: ["{{ inventory_hostname }}"]
    detail: 'at "{{ ansible_failed_task.name | default("?") }}": {{ ansible_failed_result.msg | default("") }}'
    secrets:
      - "{{ vault_postgres_password }}"
      - "{{ vault_secret_key }}"
  delegate_to: localhost
  become: false

- name: A notification that must arrive (a CI job that only notifies)
  divan.platform.deploy_notify:
    url: "{{ lookup('ansible.builtin.env', 'SLACK_WEBHOOK_URL') }}"
    event: rollback
    site: example.org
    version: 1.0.0
    previous_version: 1.1.0
    fail_on_error: true
  register: notice
"""

RETURN = r"""
sent:
  description: Whether the webhook accepted the message (a 2xx answer). Always false in check mode.
  returned: always
  type: bool
  sample: true
status:
  description: HTTP status of the webhook's answer, or null when there was none (check mode, network error).
  returned: always
  type: int
  sample: 200
body:
  description: The first 200 characters of the webhook's answer (Slack answers C(ok)), or null.
  returned: always
  type: str
  sample: ok
payload:
  description: The message sent (or, in check mode or on error, the one that would have been sent), already redacted.
  returned: always
  type: dict
  contains:
    text:
      description: The one-line message.
      type: str
      sample: ":x: example.org: deploy of 1.1.0 by alice failed (from 1.0.0) on app2 after 1m 12s: at \"Run the migrations\": password=***"
    divan:
      description:
        - The machine-readable fields - C(event), C(site), C(version), C(previous_version), C(hosts) (list),
          C(deployed_by), C(playbook), C(duration_seconds) (float) and C(detail) (redacted); null when not given.
      type: dict
      sample:
        event: start
        site: example.org
        version: 1.1.0
        previous_version: 1.0.0
        hosts: [app1, app2]
        deployed_by: alice
        playbook: playbooks/deploy.yml
        duration_seconds: null
        detail: null
error:
  description:
    - Why the message was not sent, or null. Names the webhook as C(scheme://host[:port]) only.
  returned: always
  type: str
  sample: "webhook https://hooks.slack.com answered HTTP 404 (no_service); the webhook URL is wrong or was removed: check SLACK_WEBHOOK_URL"
error_kind:
  description: Kind of failure - C(http) (non-2xx answer), C(connect), C(dns), C(tls), C(config) - or null.
  returned: always
  type: str
  sample: http
webhook:
  description: The webhook as C(scheme://host[:port]), without its secret path.
  returned: always
  type: str
  sample: https://hooks.slack.com
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.divan.platform.plugins.module_utils import deploy_notify as dn
from ansible_collections.divan.platform.plugins.module_utils.common import mask_values


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type='str', required=True, no_log=True),
            event=dict(type='str', required=True, choices=list(dn.EVENT_NAMES)),
            site=dict(type='str', required=True),
            version=dict(type='str'),
            previous_version=dict(type='str'),
            hosts=dict(type='list', elements='str'),
            deployed_by=dict(type='str'),
            playbook=dict(type='str'),
            duration=dict(type='float'),
            detail=dict(type='str'),
            secrets=dict(type='list', elements='str', no_log=True),
            timeout=dict(type='float', default=10.0),
            ca_path=dict(type='path'),
            validate_certs=dict(type='bool', default=True),
            fail_on_error=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    p = module.params
    url = p['url'] or ''
    url_parts = dn.url_secret_parts(url)
    # defence in depth: the webhook's path (its secret) is masked wherever it would appear
    mask_values(module, url_parts[1:])
    result = dict(changed=False, sent=False, status=None, body=None, payload=None, error=None, error_kind=None,
                  webhook=dn.url_origin(url))
    try:
        payload = dn.build_message(p['event'], p['site'], version=p['version'],
                                   previous_version=p['previous_version'], hosts=p['hosts'],
                                   deployed_by=p['deployed_by'], playbook=p['playbook'], duration=p['duration'],
                                   detail=p['detail'], secrets=list(p['secrets'] or []) + url_parts)
    except ValueError as exc:
        module.fail_json(msg=str(exc), **result)
    result['payload'] = payload
    if module.check_mode:
        module.exit_json(**result)
    try:
        answer = dn.send(url, payload, timeout=p['timeout'], ca_path=p['ca_path'],
                         validate_certs=p['validate_certs'])
    except dn.NotifyError as exc:
        result.update(error=str(exc), error_kind=exc.kind, status=exc.status)
        if p['fail_on_error']:
            module.fail_json(msg=result['error'], **result)
        module.warn('deploy notification not sent: %s' % result['error'])
        module.exit_json(**result)
    result.update(sent=True, status=answer['status'], body=answer['body'])
    module.exit_json(**result)


if __name__ == '__main__':
    main()
