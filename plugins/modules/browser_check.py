#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Divan platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: browser_check
short_description: Load a page in headless Chromium and fail on CSP violations, console errors, failed requests
version_added: 0.1.0
description:
  - Loads O(url) in a real browser, Debian's headless C(chromium) driven by C(chromedriver) through
    C(selenium), and records Content-Security-Policy violations, console errors, failed requests and
    mixed content; optionally writes a PNG screenshot of the page.
  - The browser runs on the host that runs the module (the verification role delegates it to the
    controller), so that host needs C(chromium), C(chromium-driver) (C(/usr/bin/chromedriver)),
    C(libnss3-tools) (C(certutil), only with O(ca_path)) and the C(selenium) Python library. When one is
    missing, the module fails with RV(error_kind=missing) and a message saying what to install.
    Selenium Manager is never used (the driver path is passed explicitly, C(SE_OFFLINE) is set), so
    nothing is downloaded.
  - Each run uses a throwaway profile and C(HOME) (removed afterwards, the driver is always quit). With
    O(ca_path), the certificates of that PEM file are imported with trust C(C,,) into a new NSS
    database in that C(HOME) (C($HOME/.pki/nssdb), where Chromium on Linux reads its trust), so the CA is
    trusted for this run only; the system trust store is not changed.
  - When the module runs as root, Chromium is started with C(--no-sandbox) (its sandbox refuses root).
    Background networking, component updates, sync and extensions are off, so the browser only fetches
    what the page asks for.
  - "What fails the check: a Content-Security-Policy violation (always, report-only ones included), a page
    that did not load (network or TLS error, no load event within O(timeout), HTTP status of 400 or more),
    SEVERE console messages (O(fail_on_console_errors)), requests that failed or got a status of 400 or more
    (O(fail_on_failed_requests)) and C(http://) requests of an C(https://) page (O(fail_on_mixed_content))."
  - CSP violations are collected in the page by a C(securitypolicyviolation) listener injected before any of
    its scripts runs (C(Page.addScriptToEvaluateOnNewDocument)); requests come from the C(performance) log
    (Chrome DevTools Protocol C(Network) events), console messages from the C(browser) log. A console message
    that belongs to another list (a C(Failed to load resource), a CSP or a C(Mixed Content) message) is not
    counted again as a console error.
  - When the check does not pass, the module fails with the summary as C(msg) and all its return values;
    call it with C(failed_when) to read them.
author:
  - Divan platform team (@divan-platform)
requirements:
  - selenium (Python library, 4.x)
  - chromium and chromedriver (Debian packages C(chromium), C(chromium-driver))
  - certutil (Debian package C(libnss3-tools)), only with O(ca_path)
options:
  url:
    description: The page to load, C(http://) or C(https://).
    type: str
    required: true
  ca_path:
    description:
      - PEM file of the root CA (or several certificates) to trust for this run, for example Caddy's internal
        CA root, on the host that runs the module. Default only the system trust of NSS.
    type: path
  connect_host:
    description:
      - Address the URL's host name is mapped to (C(--host-resolver-rules=MAP host address)), for example the
        proxy's address before DNS points at it; the name is still used for TLS and the C(Host) header.
        Every request of the page to that host name goes there.
      - An empty string resolves names normally.
    type: str
    default: ''
  chromium:
    description: Path of the browser. Default the first of C(chromium), C(chromium-browser), C(google-chrome) on C(PATH).
    type: path
  chromedriver:
    description: Path of chromedriver (its version must match the browser's). Default C(chromedriver) on C(PATH), else
      C(/usr/bin/chromedriver).
    type: path
  timeout:
    description: Seconds to wait for the page's load event.
    type: float
    default: 30
  settle:
    description: Seconds to wait after the load event for late errors and requests.
    type: float
    default: 1
  window_size:
    description: Window (and screenshot) size in pixels, C(WIDTH,HEIGHT).
    type: str
    default: '1280,900'
  screenshot:
    description:
      - Path of a PNG screenshot of the page to write on the host that runs the module (its folder is made
        when missing). It is output of the check, written in check mode too.
    type: path
  ignore_console:
    description: Regular expressions (searched in the message) of console errors that do not count.
      C(/favicon\.ico) is always ignored.
    type: list
    elements: str
    default: []
  ignore_requests:
    description: Regular expressions (searched in the URL) of failed requests that do not count.
      C(/favicon\.ico$) is always ignored.
    type: list
    elements: str
    default: []
  fail_on_console_errors:
    description: Console errors fail the check (they are returned either way).
    type: bool
    default: true
  fail_on_failed_requests:
    description: Failed requests fail the check (they are returned either way).
    type: bool
    default: true
  fail_on_mixed_content:
    description: Mixed content fails the check (it is returned either way).
    type: bool
    default: true
notes:
  - Supports check mode; the module only reads the site. The screenshot is written in check mode too.
  - One check of a small page takes about 2 to 3 seconds with the default O(settle) (about 0.6 seconds of it to start
    the browser).
seealso:
  - module: divan.platform.http_check
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
- name: Load the front page through Caddy, with Caddy's internal CA, before DNS points at the proxy
  divan.platform.browser_check:
    url: https://divan.example.org/
    connect_host: 203.0.113.10
    ca_path: /tmp/divan-verify/caddy-root.crt
    screenshot: /tmp/divan-verify/frontend.png
  delegate_to: localhost
  register: divan_browser
  failed_when: false

- name: Fail with what the browser saw
  ansible.builtin.assert:
    that: divan_browser.passed
    fail_msg: "{{ divan_browser.failures | join('; ') }}"

- name: Only CSP violations and mixed content fail (console errors and failed requests are reported)
  divan.platform.browser_check:
    url: https://staging.example.org/
    fail_on_console_errors: false
    fail_on_failed_requests: false
    ignore_requests:
      - /api/v1/me$
    timeout: 60
    settle: 3
"""

RETURN = r"""
passed:
  description: Whether the page loaded and nothing failed the check.
  returned: always
  type: bool
  sample: false
failures:
  description: What failed, one plain sentence with figures per kind of problem.
  returned: always
  type: list
  elements: str
  sample:
    - "2 Content-Security-Policy violations: script-src-elem blocked inline (https://divan.test/:4); script-src-elem
      blocked https://divan.test/_next/static/chunks/app.js (https://divan.test/:5)"
url:
  description: The URL checked (without credentials).
  returned: always
  type: str
final_url:
  description: The URL the browser ended on (after redirects), C(chrome-error://chromewebdata/) for an error page.
  returned: always
  type: str
title:
  description: The page title.
  returned: always
  type: str
  sample: Divan
status:
  description: HTTP status of the main document (from the performance log); null when no response came.
  returned: always
  type: int
  sample: 200
csp_violations:
  description: Content-Security-Policy violations, as the page's C(securitypolicyviolation) events reported them.
  returned: always
  type: list
  elements: dict
  contains:
    violatedDirective:
      description: The directive as reported by the event.
      type: str
    effectiveDirective:
      description: The directive that was enforced (for example C(script-src-elem)).
      type: str
    blockedURI:
      description: What was blocked, a URL or C(inline), C(eval).
      type: str
    sourceFile:
      description: The document or script where it happened.
      type: str
    lineNumber:
      description: Its line.
      type: int
    disposition:
      description: C(enforce) or C(report) (a report-only policy).
      type: str
console_errors:
  description: SEVERE console messages not ignored and not part of another list - C(level), C(source), C(message).
  returned: always
  type: list
  elements: dict
  sample:
    - level: SEVERE
      source: console-api
      message: 'https://divan.test/ 4:16 "boom"'
failed_requests:
  description: Requests that failed or were answered 400 or more - C(url), C(type), C(status), C(error),
    C(blocked_reason).
  returned: always
  type: list
  elements: dict
  sample:
    - url: https://divan.test/_next/static/chunks/missing.js
      type: Script
      status: 404
      error: null
      blocked_reason: null
mixed_content:
  description: C(http://) requests of an C(https://) page (C(source=network)) and Chrome's Mixed Content console
    messages (C(source=console)) - C(url), C(type), C(source), C(blocked), C(upgraded), C(message).
  returned: always
  type: list
  elements: dict
requests:
  description: Number of HTTP(S) requests the page made, the document included.
  returned: always
  type: int
elapsed:
  description: Seconds the check took, browser start and settle time included.
  returned: always
  type: float
screenshot:
  description: Absolute path of the PNG written, null when none was asked for or it could not be taken.
  returned: always
  type: str
browser_version:
  description: The browser's version, as chromedriver reports it.
  returned: always
  type: str
  sample: 156.0.8078.114
error_kind:
  description:
    - Null when the page loaded; C(missing) when chromium, chromedriver, certutil or selenium is not installed
      (C(msg) says what to install), C(load) when the page could not be loaded (network or TLS error, timeout,
      status 400 or more), C(browser) when chromium did not start, C(config) for an invalid option.
  returned: always
  type: str
msg:
  description: One line, the summary of the check.
  returned: always
  type: str
  sample: browser check of https://divan.test/ passed (HTTP 200, 2 requests, 1.8s)
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.divan.platform.plugins.module_utils import browser_probe


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type='str', required=True),
            ca_path=dict(type='path'),
            connect_host=dict(type='str', default=''),
            chromium=dict(type='path'),
            chromedriver=dict(type='path'),
            timeout=dict(type='float', default=30.0),
            settle=dict(type='float', default=1.0),
            window_size=dict(type='str', default='1280,900'),
            screenshot=dict(type='path'),
            ignore_console=dict(type='list', elements='str', default=[]),
            ignore_requests=dict(type='list', elements='str', default=[]),
            fail_on_console_errors=dict(type='bool', default=True),
            fail_on_failed_requests=dict(type='bool', default=True),
            fail_on_mixed_content=dict(type='bool', default=True),
        ),
        supports_check_mode=True,
    )
    result = browser_probe.run_check(module.params)
    result['msg'] = result.get('msg') or browser_probe.summarize(result)
    result['changed'] = False
    if not result['passed']:
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
