#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Divan platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: http_check
short_description: Probe HTTP endpoints, security headers, TLS certificates, WebSocket and Socket.IO
version_added: 0.1.0
description:
  - Runs a list of probes from the host that executes the module and fails when any probe fails,
    with a summary of what failed.
  - Each probe sends a request and checks the status, body and JSON content (JMESPath assertions),
    retrying with exponential backoff until it passes, its retries are spent or its deadline passes.
  - "Optional checks per probe: O(probes[].security_headers) (HSTS, CSP, framing, nosniff,
    Referrer-Policy, no version leak, with a score and grade computed with the Mozilla HTTP
    Observatory scoring rules), O(probes[].redirect_https), O(probes[].tls) (chain, hostname, days
    left), O(probes[].websocket) (RFC 6455 handshake, greeting, echo or an expected close code),
    O(probes[].socketio) (Engine.IO v4 polling handshake, follow-up polls of the same session, WebSocket
    upgrade and namespace connect) and O(probes[].user_content) (an upload cannot run as the site)."
  - Uses the Python standard library only, plus C(jmespath) when JSON assertions are used.
  - Request header values (for example an C(X-Admin-Token)) are never returned.
author:
  - Divan platform team (@divan-platform)
requirements:
  - jmespath (only for O(probes[].json) assertions)
options:
  probes:
    description:
      - The probes to run, in order.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: A label for the probe in results and messages (default the URL).
        type: str
      url:
        description:
          - URL to probe; C(http), C(https), or for WebSocket probes also C(ws) and C(wss).
          - For Socket.IO probes, the base URL of the site (the path comes from O(probes[].socketio_path)).
        type: str
        required: true
      method:
        description:
          - HTTP method, for example V(POST) or V(PUT) with O(probes[].body).
          - In check mode only V(GET), V(HEAD) and V(OPTIONS) requests are sent; a probe with another
            method is not run and is returned with RV(probes[].skipped=true).
        type: str
        default: GET
      headers:
        description:
          - Request headers. Their values are never returned; values of credential-like headers
            (C(Authorization), C(X-Admin-Token), C(Cookie), names with token/key/secret) are also masked.
          - Credential headers are not forwarded to another host when following redirects.
        type: dict
      body:
        description: Request body (a string).
        type: str
      status:
        description: Accepted status codes.
        type: list
        elements: int
        default: [200]
      json:
        description:
          - JSON assertions, a dict of JMESPath expression to expected value, evaluated on the
            response body. A string expected value also matches the string form of a number.
        type: dict
      body_contains:
        description: Strings the response body must contain.
        type: list
        elements: str
      body_equals:
        description: The response body must be exactly this string (UTF-8), for example a file read back.
        type: str
      user_content:
        description:
          - "Check that the response, user-supplied content such as an upload, cannot run as the site - it
            needs a C(Content-Security-Policy) with a C(sandbox) directive or C(Content-Disposition: attachment),
            and C(X-Content-Type-Options: nosniff)."
        type: bool
        default: false
      request:
        description:
          - Send the HTTP request and check status, body and JSON. Set to V(false) for a probe that
            only checks TLS or the redirect.
        type: bool
        default: true
      timeout:
        description: Timeout of one attempt's network operations, in seconds.
        type: float
        default: 10
      retries:
        description:
          - How many times to retry a failing probe.
          - A Socket.IO probe is retried only when its handshake failed, never once a session exists (a
            failed poll is a finding, not a glitch).
        type: int
        default: 0
      delay:
        description: Seconds to wait before the first retry; each later wait is multiplied by O(probes[].backoff).
        type: float
        default: 1
      backoff:
        description: Multiplier of the delay between retries (capped at 60 seconds).
        type: float
        default: 2
      deadline:
        description: Give up retrying once this many seconds have passed since the first attempt.
        type: float
      follow_redirects:
        description: Follow redirects (up to 10) and check the final response.
        type: bool
        default: false
      ca_path:
        description:
          - CA certificate file (PEM), or hashed directory, to verify the server against, for example
            Caddy's internal CA root. Default the system trust store.
        type: path
      validate_certs:
        description: Verify TLS certificates and host names.
        type: bool
        default: true
      connect_host:
        description:
          - Connect to this address instead of resolving the URL's host; the URL's host is still used
            for TLS SNI, certificate checks and the Host header (like C(curl --resolve)).
        type: str
      security_headers:
        description:
          - Check the response's security headers. Failures are a missing HSTS (or C(max-age) below
            31536000 or no C(includeSubDomains)), a missing CSP or one allowing C('unsafe-inline') or
            C('unsafe-eval') for scripts, framing not denied (C(X-Frame-Options) DENY/SAMEORIGIN or CSP
            C(frame-ancestors)), no C(nosniff), an unsafe or missing C(Referrer-Policy), a version
            number in C(Server) or C(X-Powered-By), insecure cookies, and CORS reflecting any origin
            with credentials.
          - Also computes the Mozilla HTTP Observatory score and grade for the header tests (base
            100, penalties, bonuses only when still at 90 or more).
        type: bool
        default: false
      security_headers_ignore:
        description:
          - Names of header tests whose failures do not fail the probe (they are still scored), among
            C(content-security-policy), C(strict-transport-security), C(x-content-type-options),
            C(x-frame-options), C(referrer-policy), C(cookies), C(cross-origin-resource-sharing),
            C(server-version), C(grade).
        type: list
        elements: str
      min_grade:
        description: Fail the probe when the Observatory grade is below this one (for example C(A)).
        type: str
        choices: [A+, A, A-, B+, B, B-, C+, C, C-, D+, D, D-, F]
      redirect_https:
        description:
          - Check that the C(http://) form of the URL answers 301 or 308 with a Location on C(https://),
            the same host and the same path.
          - With an C(http://) URL, the other checks of the probe then run against the redirect target.
        type: bool
        default: false
      http_port:
        description: Port of the C(http://) form of an C(https://) URL for O(probes[].redirect_https) (default 80).
        type: int
      tls:
        description:
          - Check the certificate of the URL's host - chain verified against O(probes[].ca_path) or the
            system store, host name match, and at least O(probes[].min_days_valid) days left.
        type: bool
        default: false
      min_days_valid:
        description: Minimum number of days before the certificate expires.
        type: int
        default: 14
      websocket:
        description:
          - Make a WebSocket opening handshake to the URL (101, correct C(Sec-WebSocket-Accept)),
            and when O(probes[].ws_message) is set, send it and expect an echo.
        type: bool
        default: false
      ws_message:
        description: Text message to send after the WebSocket handshake.
        type: str
      ws_expect:
        description: Text the reply must contain (default the message itself, an echo).
        type: str
      ws_greeting:
        description:
          - Text the first message the server sends after the handshake must contain, read before
            O(probes[].ws_message) is sent (for example the session id in the greeting of an activities
            session stream).
        type: str
      ws_expect_close:
        description:
          - The server must close the WebSocket with this close code (for example V(1008) for a session
            that does not exist); the probe fails on another code, a connection that ends without a close
            frame, or no close within O(probes[].timeout). Messages before the close are skipped.
          - O(probes[].ws_message) is still sent first when set, its reply is not checked.
        type: int
        aliases: [expect_close]
      origin:
        description: C(Origin) header for WebSocket and Socket.IO probes.
        type: str
      socketio:
        description:
          - Socket.IO check - Engine.IO v4 polling handshake, upgrade to WebSocket
            (C(2probe)/C(3probe)/C(5)) and a connect to O(probes[].socketio_namespace).
        type: bool
        default: false
      socketio_path:
        description: Path of the Socket.IO endpoint.
        type: str
        default: /socket.io/
      socketio_namespace:
        description: Socket.IO namespace to connect to.
        type: str
        default: /
      socketio_polls:
        description:
          - Follow-up long-polling requests of the same session after the handshake, each an event
            O(probes[].socketio_event) with an ack id that the server must acknowledge (the first one also
            connects the namespace), with the cookies the server or proxy set (a sticky-session cookie).
          - "The probe fails when any poll is refused, with C(N of M polls: 400 Invalid session) when they
            reached a process that does not hold the session (several processes without sticky sessions
            or a shared manager). The pids in the acks, when they carry one, are returned."
          - V(0) skips the polls (handshake, upgrade and namespace connect only).
        type: int
        default: 20
        aliases: [polls]
      socketio_event:
        description: Event emitted with an ack id by each poll; the server must acknowledge it.
        type: str
        default: ping
notes:
  - Supports check mode; the module only reads.
seealso:
  - module: divan.platform.env_check
  - name: HTTP Observatory scoring
    description: The scoring method and grade chart the security headers score follows.
    link: https://developer.mozilla.org/en-US/observatory/docs/tests_and_scoring
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
- name: Wait for the backend to be ready through Caddy, then check the public site
  divan.platform.http_check:
    probes:
      - name: backend ready
        url: https://example.org/health/ready
        json:
          status: ok
        retries: 10
        delay: 2
        deadline: 120
      - name: metrics need the admin token
        url: https://example.org/metrics
        status: [403]
      - name: metrics with the admin token
        url: https://example.org/metrics
        headers:
          X-Admin-Token: "{{ vault_obs_admin_token }}"
        body_contains: [process_cpu_seconds_total]
      - name: front page, headers, TLS
        url: https://example.org/
        security_headers: true
        min_grade: B
        tls: true
        min_days_valid: 21
      - name: http redirects to https
        url: http://example.org/some/path
        redirect_https: true
        request: false

- name: Check WebSockets and Socket.IO through the proxy, before DNS points at the host
  divan.platform.http_check:
    probes:
      - name: socket.io on the backend, 20 polls of one session, never retried
        url: https://example.org
        socketio: true
        socketio_polls: 20
        retries: 0
        connect_host: 203.0.113.10
      - name: create an activities session
        url: https://example.org/activities/session/healthcheck
        method: POST
        status: [200, 201]
        connect_host: 203.0.113.10
      - name: its stream greets with the session id, then echoes
        url: wss://example.org/activities/session/healthcheck/stream
        websocket: true
        ws_greeting: healthcheck
        ws_message: hello
        connect_host: 203.0.113.10
      - name: an unknown session is closed with 1008
        url: wss://example.org/activities/session/no-such-session/stream
        websocket: true
        ws_expect_close: 1008
        connect_host: 203.0.113.10

- name: Upload without authentication, read it back, check that HTML uploads cannot run as the site
  divan.platform.http_check:
    probes:
      - url: https://example.org/uploads/verify/probe.txt
        method: PUT
        body: divan verify
        status: [201]
      - url: https://example.org/uploads/verify/probe.txt
        body_equals: divan verify
      - url: https://example.org/uploads/verify/probe.html
        method: PUT
        body: <script>alert(1)</script>
        status: [201]
      - url: https://example.org/uploads/verify/probe.html
        user_content: true

- name: Check a staging host served with Caddy's internal CA
  divan.platform.http_check:
    probes:
      - url: https://staging.example.org/health/live
        ca_path: /var/lib/caddy/.local/share/caddy/pki/authorities/local/root.crt
        tls: true
"""

RETURN = r"""
probes:
  description: One result per probe, in order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The probe's name.
      type: str
    url:
      description: The probe's URL (without credentials).
      type: str
    passed:
      description: Whether every check of the probe passed.
      type: bool
    failures:
      description: What failed, one message per problem.
      type: list
      elements: str
    latency_ms:
      description: Time of the request (or handshake), in milliseconds, redirects included.
      type: int
    attempts:
      description: Number of attempts made.
      type: int
    status:
      description: HTTP status of the final response (101 for a WebSocket).
      type: int
    error_kind:
      description: For network failures - C(dns), C(connect), C(tls), C(handshake), C(protocol), C(config)...
      type: str
    security_headers:
      description: With O(probes[].security_headers) - C(score), C(grade), C(tests) (result and score
        modifier per Observatory test), C(hsts), C(referrer_policy), C(cookies) (names) and C(failures).
      type: dict
      returned: when requested
      sample:
        score: 105
        grade: A+
        tests:
          strict-transport-security:
            result: hsts-implemented-max-age-at-least-six-months
            score_modifier: 0
    redirect:
      description: With O(probes[].redirect_https) - C(url), C(status), C(location), C(same_host).
      type: dict
      returned: when requested
    tls:
      description: With O(probes[].tls) - C(verified), C(verify_error), C(not_before), C(not_after),
        C(days_left), C(tls_version), C(cipher), C(subject_alt_names).
      type: dict
      returned: when requested
      sample:
        verified: true
        not_after: "2027-02-23T12:00:00Z"
        days_left: 89
    websocket:
      description: With O(probes[].websocket) - C(handshake), C(latency_ms), C(roundtrip_ms), C(greeting_ok),
        C(echo_ok), C(close_code), C(close_reason).
      type: dict
      returned: when requested
    socketio:
      description: With O(probes[].socketio) - C(sid_received), C(upgrades), C(polls), C(polls_ok),
        C(poll_failures) (reason to count), C(pids) (the processes that answered), C(upgraded), C(connected),
        C(latency_ms).
      type: dict
      returned: when requested
      sample:
        sid_received: true
        polls: 20
        polls_ok: 10
        poll_failures:
          400 Invalid session: 10
        pids: [7]
        upgraded: false
        connected: true
    user_content:
      description: With O(probes[].user_content) - C(content_type), C(csp_sandbox), C(attachment), C(nosniff).
      type: dict
      returned: when requested
    skipped:
      description: True for a probe not run in check mode (a method other than GET, HEAD or OPTIONS).
      type: bool
      returned: in check mode
summary:
  description: One line saying how many probes passed or which failed and why.
  returned: always
  type: str
  sample: all 3 probe(s) passed
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.divan.platform.plugins.module_utils import http_probe
from ansible_collections.divan.platform.plugins.module_utils.common import (
    HIDDEN,
    is_secret_name,
    mask_values,
)

PROBE_SPEC = dict(
    name=dict(type='str'),
    url=dict(type='str', required=True),
    method=dict(type='str', default='GET'),
    headers=dict(type='dict', no_log=False),
    body=dict(type='str'),
    status=dict(type='list', elements='int', default=[200]),
    json=dict(type='dict'),
    body_contains=dict(type='list', elements='str'),
    request=dict(type='bool', default=True),
    timeout=dict(type='float', default=10.0),
    retries=dict(type='int', default=0),
    delay=dict(type='float', default=1.0),
    backoff=dict(type='float', default=2.0),
    deadline=dict(type='float'),
    follow_redirects=dict(type='bool', default=False),
    ca_path=dict(type='path'),
    validate_certs=dict(type='bool', default=True),
    connect_host=dict(type='str'),
    security_headers=dict(type='bool', default=False),
    security_headers_ignore=dict(type='list', elements='str'),
    min_grade=dict(type='str', choices=['A+', 'A', 'A-', 'B+', 'B', 'B-', 'C+', 'C', 'C-', 'D+', 'D', 'D-', 'F']),
    redirect_https=dict(type='bool', default=False),
    http_port=dict(type='int'),
    tls=dict(type='bool', default=False),
    min_days_valid=dict(type='int', default=14),
    websocket=dict(type='bool', default=False),
    ws_message=dict(type='str'),
    ws_expect=dict(type='str'),
    ws_greeting=dict(type='str'),
    ws_expect_close=dict(type='int', aliases=['expect_close']),
    origin=dict(type='str'),
    socketio=dict(type='bool', default=False),
    socketio_path=dict(type='str', default='/socket.io/'),
    socketio_namespace=dict(type='str', default='/'),
    socketio_polls=dict(type='int', default=20, aliases=['polls']),
    socketio_event=dict(type='str', default='ping'),
    body_equals=dict(type='str'),
    user_content=dict(type='bool', default=False),
)


def _credential_header(name):
    low = name.lower()
    return is_secret_name(name) or 'auth' in low or low in ('cookie', 'x-api-key')


def _writes(probe):
    """An HTTP request with a method that may change something on the server."""
    return not (probe.get('websocket') or probe.get('socketio')) and probe.get('request', True) and \
        (probe.get('method') or 'GET').upper() not in http_probe.SAFE_METHODS


def _skipped(probe):
    return {'name': probe.get('name') or http_probe.redact_url(probe['url']), 'url': http_probe.redact_url(probe['url']),
            'passed': True, 'skipped': True, 'failures': [], 'latency_ms': None, 'status': None, 'attempts': 0,
            'error_kind': None}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            probes=dict(type='list', elements='dict', required=True, options=PROBE_SPEC),
        ),
        supports_check_mode=True,
        # request headers may carry tokens: keep the invocation out of syslog/journald
        no_log=True,
    )
    probes = module.params['probes']
    for probe in probes:
        headers = probe.get('headers') or {}
        mask_values(module, [v for k, v in headers.items() if _credential_header(k)])
    if any(p.get('json') for p in probes) and not http_probe.HAS_JMESPATH:
        module.fail_json(msg=missing_required_lib('jmespath'))

    invocation = {'module_args': {'probes': [
        dict(p, headers=dict((k, HIDDEN) for k in p['headers']) if p.get('headers') else p.get('headers'))
        for p in probes]}}
    results = [_skipped(p) if module.check_mode and _writes(p) else http_probe.run_probe(p) for p in probes]
    summary = http_probe.summarize(results)
    if any(not r['passed'] for r in results):
        module.fail_json(msg=summary, probes=results, summary=summary, changed=False, invocation=invocation)
    module.exit_json(changed=False, probes=results, summary=summary, invocation=invocation)


if __name__ == '__main__':
    main()
