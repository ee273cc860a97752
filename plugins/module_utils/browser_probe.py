# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Divan platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A page load in headless Chromium (selenium + chromedriver) for browser_check.

``run_check(params)`` starts chromium through chromedriver with a throwaway
profile and HOME (an NSS database there trusts ``ca_path`` for the run only),
maps the URL's host name to ``connect_host`` with ``--host-resolver-rules``,
loads the page, waits ``settle`` seconds, takes a screenshot and turns what
the browser recorded into lists:

* ``csp_violations``: ``securitypolicyviolation`` events collected in the page
  by a listener injected before any script runs (the console's Content
  Security Policy messages when the page could not be read);
* ``console_errors``: SEVERE console entries, except the ones that belong to
  the other lists (CSP, mixed content, failed loads);
* ``failed_requests``: ``Network.loadingFailed`` and responses with status
  400 or more (from the ``performance`` log, CDP Network events);
* ``mixed_content``: ``http://`` subresources of an ``https://`` page and
  Chrome's "Mixed Content" console messages.

The parsing functions are pure (log entries in, lists out) so that unit tests
run without a browser. selenium is imported only inside ``run_check``.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
import time

try:
    from urllib.parse import urlsplit
except ImportError:  # pragma: no cover
    from urlparse import urlsplit  # type: ignore

from ansible_collections.divan.platform.plugins.module_utils.net import redact_url

CHROMIUM_NAMES = ('chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable')
CHROMEDRIVER_NAMES = ('chromedriver',)
CHROMEDRIVER_PATHS = ('/usr/bin/chromedriver', '/usr/lib/chromium/chromedriver')
INSTALL_HINT = 'apt-get install chromium chromium-driver libnss3-tools; pip install selenium'
DEFAULT_IGNORE_REQUESTS = (r'/favicon\.ico$',)
DEFAULT_IGNORE_CONSOLE = (r'/favicon\.ico\b',)
VIOLATIONS_VAR = '__divanCspViolations'
MAX_ITEMS = 50  # per list in the result
MAX_MESSAGE = 500  # characters of one console message

# Injected with Page.addScriptToEvaluateOnNewDocument: runs in every document before its own scripts.
VIOLATION_LISTENER = """
(function () {
  var list = window.%(var)s = window.%(var)s || [];
  document.addEventListener('securitypolicyviolation', function (e) {
    if (list.length < 200) {
      list.push({violatedDirective: e.violatedDirective, effectiveDirective: e.effectiveDirective,
                 blockedURI: e.blockedURI, sourceFile: e.sourceFile, lineNumber: e.lineNumber,
                 disposition: e.disposition});
    }
  }, true);
})();
""" % {'var': VIOLATIONS_VAR}

DEFAULTS = {
    'url': None,
    'ca_path': None,
    'connect_host': None,
    'chromium': None,
    'chromedriver': None,
    'timeout': 30.0,
    'settle': 1.0,
    'window_size': '1280,900',
    'screenshot': None,
    'ignore_console': None,
    'ignore_requests': None,
    'fail_on_console_errors': True,
    'fail_on_failed_requests': True,
    'fail_on_mixed_content': True,
}


class MissingTool(Exception):
    """A program or library the check needs is not installed (the message says what to install)."""


# ---------------------------------------------------------------- tools and arguments


def find_executable(names, extra_paths=(), path=None):
    """The first of ``names`` found on PATH (or ``path``), else the first existing of ``extra_paths``."""
    if isinstance(names, str):
        names = (names,)
    for name in names:
        if os.sep in name:
            if os.path.isfile(name) and os.access(name, os.X_OK):
                return name
            continue
        found = shutil.which(name, path=path)
        if found:
            return found
    for candidate in extra_paths:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def parse_window_size(value):
    """``'1280,900'`` (or ``1280x900``) -> (1280, 900); ValueError otherwise."""
    match = re.match(r'^\s*(\d+)\s*[,xX]\s*(\d+)\s*$', str(value or ''))
    if not match or not (100 <= int(match.group(1)) <= 10000 and 100 <= int(match.group(2)) <= 10000):
        raise ValueError('window_size must be WIDTH,HEIGHT in pixels (100 to 10000), got %r' % (value,))
    return int(match.group(1)), int(match.group(2))


def chromium_arguments(connect_host, url, window_size, euid, user_data_dir):
    """Command line switches of chromium for one check (headless, isolated, no background network)."""
    width, height = parse_window_size(window_size)
    args = [
        '--headless=new',
        '--disable-gpu',
        '--disable-dev-shm-usage',
        '--window-size=%d,%d' % (width, height),
        '--user-data-dir=%s' % user_data_dir,
        '--no-first-run',
        '--no-default-browser-check',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-default-apps',
        '--disable-extensions',
        '--disable-sync',
        '--disable-domain-reliability',
        '--disable-client-side-phishing-detection',
        '--disable-features=Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider,InterestFeedContentSuggestions',
        '--metrics-recording-only',
        '--no-pings',
        '--password-store=basic',
        '--use-mock-keychain',
        '--hide-scrollbars',
        '--force-device-scale-factor=1',
        '--lang=en-US',
    ]
    if euid == 0:
        args.append('--no-sandbox')  # chromium's sandbox refuses to run as root
    host = urlsplit(url).hostname
    if connect_host and host and host != connect_host:
        args.append('--host-resolver-rules=MAP %s %s' % (host, connect_host))
    return args


def split_pem(text):
    """The PEM certificate blocks of a file's text, in order."""
    return re.findall(r'-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----', text)


def make_nss_db(home, ca_pem_path, certutil='certutil', run=subprocess.run):
    """Make ``home/.pki/nssdb`` (empty password) trusting each certificate of ``ca_pem_path`` for TLS servers.

    Chromium on Linux reads its certificate trust from the NSS database in
    $HOME; this one lives in a temporary HOME, so the CA is trusted for one
    check only. Returns the database directory.
    """
    with open(ca_pem_path) as handle:
        blocks = split_pem(handle.read())
    if not blocks:
        raise ValueError('%s holds no PEM certificate' % ca_pem_path)
    db = os.path.join(home, '.pki', 'nssdb')
    os.makedirs(db, mode=0o700)
    spec = 'sql:' + db

    def certutil_run(args, data=None):
        proc = run([certutil] + args, input=data, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                   universal_newlines=True, check=False)
        if proc.returncode != 0:
            output = (proc.stdout or '').strip()[:300]
            raise RuntimeError('certutil %s failed (rc %d): %s' % (args[0], proc.returncode, output))

    certutil_run(['-N', '-d', spec, '--empty-password'])
    for index, block in enumerate(blocks):
        path = os.path.join(home, 'ca-%d.pem' % index)
        with open(path, 'w') as handle:
            handle.write(block + '\n')
        certutil_run(['-A', '-d', spec, '-n', 'divan-check-ca-%d' % index, '-t', 'C,,', '-a', '-i', path])
    return db


# ---------------------------------------------------------------- log parsing (pure)


def _compile(patterns):
    return [re.compile(p) for p in (patterns or [])]


def _ignored(text, compiled):
    return any(c.search(text or '') for c in compiled)


def _http(url):
    return (url or '').split(':', 1)[0].lower() in ('http', 'https')


def _short(text, limit=MAX_MESSAGE):
    text = text or ''
    return text if len(text) <= limit else text[:limit - 3] + '...'


def is_csp_message(message):
    low = (message or '').lower()
    return 'content security policy' in low or 'content-security-policy' in low


def is_mixed_content_message(message):
    return 'mixed content' in (message or '').lower()


def network_events(performance_entries):
    """CDP Network.* events ({'method', 'params'}) out of selenium's ``performance`` log entries."""
    events = []
    for entry in performance_entries or []:
        raw = entry.get('message') if isinstance(entry, dict) else entry
        try:
            message = json.loads(raw)['message'] if isinstance(raw, str) else raw['message']
        except (ValueError, KeyError, TypeError):
            continue
        method = message.get('method') or ''
        if method.startswith('Network.'):
            events.append({'method': method, 'params': message.get('params') or {}})
    return events


def collect_requests(events):
    """Requests by id, in order: url, type, method, status, error, blocked_reason, mixed_content_type, frame."""
    requests = {}
    order = []
    for event in events:
        params = event['params']
        rid = params.get('requestId')
        if not rid:
            continue
        if event['method'] == 'Network.requestWillBeSent':
            request = params.get('request') or {}
            item = requests.get(rid)
            if item is None:
                item = requests[rid] = {'id': rid, 'url': None, 'type': None, 'method': None, 'status': None,
                                        'error': None, 'blocked_reason': None, 'mixed_content_type': None,
                                        'frame': None, 'loader': None, 'document_url': None, 'redirects': []}
                order.append(rid)
            elif item['url']:
                item['redirects'].append(item['url'])  # same id again: a redirect
            item.update(url=request.get('url'), method=request.get('method'), type=params.get('type'),
                        frame=params.get('frameId'), loader=params.get('loaderId'),
                        document_url=params.get('documentURL'),
                        mixed_content_type=request.get('mixedContentType'))
        elif rid in requests:
            item = requests[rid]
            if event['method'] == 'Network.responseReceived':
                response = params.get('response') or {}
                item['status'] = response.get('status')
                item['type'] = params.get('type') or item['type']
            elif event['method'] == 'Network.loadingFailed':
                item['error'] = params.get('errorText') or None
                item['blocked_reason'] = params.get('blockedReason') or params.get('corsErrorStatus', {}).get(
                    'corsError') or None
                item['canceled'] = bool(params.get('canceled'))
    return [requests[rid] for rid in order if _http(requests[rid]['url'])]


def main_document(requests):
    """The navigation's own request: the first Document request whose id is its loader id."""
    for item in requests:
        if item['type'] == 'Document' and item['id'] == item['loader']:
            return item
    for item in requests:
        if item['type'] == 'Document':
            return item
    return None


def failed_requests(requests, ignore=DEFAULT_IGNORE_REQUESTS):
    """Requests that failed (network error) or were answered 400 or more; CSP and mixed-content blocks excluded.

    Those blocks are reported as CSP violations and mixed content; a request
    the page itself cancelled (``net::ERR_ABORTED`` with no status) is left out.
    """
    compiled = _compile(ignore)
    out = []
    for item in requests:
        blocked = (item.get('blocked_reason') or '').lower()
        if blocked in ('csp', 'mixed-content'):
            continue
        status = item.get('status')
        error = item.get('error')
        bad_status = status is not None and status >= 400
        if error == 'net::ERR_ABORTED' and not bad_status and item.get('canceled'):
            continue
        if not (bad_status or error):
            continue
        url = redact_url(item['url'])
        if _ignored(url, compiled):
            continue
        out.append({'url': url, 'type': item.get('type'), 'status': status,
                    'error': None if bad_status and error == 'net::ERR_ABORTED' else error,
                    'blocked_reason': item.get('blocked_reason')})
    return out


def mixed_content(page_url, requests, console_entries=()):
    """http:// subresources of an https:// page, and Chrome's "Mixed Content" console messages."""
    out = []
    seen = set()
    if (page_url or '').lower().startswith('https://'):
        main = main_document(requests)
        for item in requests:
            if item is main:
                continue
            url = item['url'] or ''
            kind = item.get('mixed_content_type')
            if url.lower().startswith('http://') or (kind and kind != 'none'):
                key = redact_url(url)
                if key in seen:
                    continue
                seen.add(key)
                out.append({'url': key, 'type': item.get('type'), 'source': 'network',
                            'mixed_content_type': kind,
                            'blocked': (item.get('blocked_reason') or '') == 'mixed-content'})
    for entry in console_entries or []:
        message = entry.get('message') or ''
        if not is_mixed_content_message(message):
            continue
        found = re.search(r"insecure (?:[\w ]+ )?'(http://[^']+)'", message) or re.search(r"'(http://[^']+)'",
                                                                                          message)
        url = redact_url(found.group(1)) if found else None
        if url and url in seen:
            continue
        seen.add(url)
        low = message.lower()
        out.append({'url': url, 'type': None, 'source': 'console', 'mixed_content_type': None,
                    'blocked': 'has been blocked' in low, 'upgraded': 'automatically upgraded' in low,
                    'message': _short(message)})
    return out


def console_errors(console_entries, ignore=DEFAULT_IGNORE_CONSOLE, failed_urls=()):
    """SEVERE console entries, minus ignored patterns and the ones reported in another list.

    Left out: "Failed to load resource" (source ``network``, see
    failed_requests), Content Security Policy messages (csp_violations),
    Mixed Content messages (mixed_content), and the browser's own messages
    (not ``console-api``) that quote the URL of a request that failed, such as
    "Refused to execute script from '<url>' because its MIME type
    ('text/plain') is not executable" after a 404: the consequence of that
    failed request (ignored or not), not a second problem.
    """
    compiled = _compile(ignore)
    quoted = ["'%s'" % u for u in failed_urls or () if u]
    out = []
    for entry in console_entries or []:
        if (entry.get('level') or '').upper() != 'SEVERE':
            continue
        message = entry.get('message') or ''
        if entry.get('source') == 'network' or is_csp_message(message) or is_mixed_content_message(message):
            continue
        if _ignored(message, compiled):
            continue
        if entry.get('source') != 'console-api' and any(q in message for q in quoted):
            continue
        out.append({'level': 'SEVERE', 'source': entry.get('source'), 'message': _short(message)})
    return out


def _violation(item):
    def text(name):
        value = item.get(name)
        return '' if value is None else str(value)

    line = item.get('lineNumber')
    try:
        line = int(line) if line not in (None, '') else None
    except (TypeError, ValueError):
        line = None
    return {'violatedDirective': text('violatedDirective'), 'effectiveDirective': text('effectiveDirective') or
            text('violatedDirective'), 'blockedURI': redact_url(text('blockedURI')) if _http(text('blockedURI'))
            else text('blockedURI'), 'sourceFile': redact_url(text('sourceFile')) if text('sourceFile') else '',
            'lineNumber': line, 'disposition': text('disposition') or 'enforce'}


def csp_violations(page_violations, console_entries=()):
    """The page's ``securitypolicyviolation`` events (deduplicated), else what the console said about CSP.

    ``page_violations`` is the list the injected listener filled, or None when
    it could not be read; console messages are used only when it is empty.
    """
    out = []
    seen = set()
    for raw in page_violations or []:
        if not isinstance(raw, dict):
            continue
        item = _violation(raw)
        key = tuple(sorted(item.items()))
        if key not in seen:
            seen.add(key)
            out.append(item)
    if out:
        return out
    for entry in console_entries or []:
        message = entry.get('message') or ''
        if not is_csp_message(message) or 'violat' not in message.lower():
            continue
        quoted = re.search(r'directive:? "([^"]+)"', message)
        bare = re.search(r"directive:? '([\w-]+)", message)
        directive = quoted.group(1) if quoted else (bare.group(1) if bare else '')
        explicit = re.search(r"Note that '([\w-]+)' was not explicitly set", message)
        blocked = re.search(r"(?:Loading|Refused to load|Connecting to|Framing) (?:the [\w ]+ )?'([^']+)'", message)
        effective = explicit.group(1) if explicit else (directive.split()[0] if directive else '')
        if not blocked and ('inline' in message.lower() or 'executing inline' in message.lower()):
            blocked_uri = 'inline'
        elif not blocked and 'eval' in message.lower():
            blocked_uri = 'eval'
        else:
            blocked_uri = blocked.group(1) if blocked else ''
        source = re.match(r'^(\S+) (\d+)(?::\d+)? ', message)
        item = _violation({'violatedDirective': directive,
                           'effectiveDirective': effective, 'blockedURI': blocked_uri,
                           'sourceFile': source.group(1) if source else '',
                           'lineNumber': source.group(2) if source else None,
                           'disposition': 'report' if 'report-only' in message.lower() else 'enforce'})
        item['message'] = _short(message)
        out.append(item)
    return out


# ---------------------------------------------------------------- summary


def _plural(count, word):
    return '%d %s%s' % (count, word, '' if count == 1 else 's')


def _list(items, describe, limit=5):
    texts = [describe(i) for i in items[:limit]]
    if len(items) > limit:
        texts.append('%d more' % (len(items) - limit))
    return '; '.join(texts)


def describe_violation(v):
    where = v.get('sourceFile') or ''
    if where and v.get('lineNumber'):
        where = '%s:%s' % (where, v['lineNumber'])
    text = '%s blocked %s' % (v.get('effectiveDirective') or v.get('violatedDirective') or '?',
                              v.get('blockedURI') or '?')
    if v.get('disposition') == 'report':
        text += ' (report-only)'
    return text + (' (%s)' % where if where else '')


def describe_request(r):
    what = 'HTTP %s' % r['status'] if r.get('status') and r['status'] >= 400 else (r.get('error') or 'failed')
    return '%s %s' % (r['url'], what)


def failures_of(result, params):
    """Plain sentences with figures, one per kind of problem that fails the check."""
    failures = []
    if result.get('load_error'):
        failures.append('page did not load: %s' % result['load_error'])
    violations = result.get('csp_violations') or []
    if violations:
        failures.append('%s: %s' % (_plural(len(violations), 'Content-Security-Policy violation'),
                                    _list(violations, describe_violation)))
    errors = result.get('console_errors') or []
    if errors and params.get('fail_on_console_errors', True):
        failures.append('%s: %s' % (_plural(len(errors), 'console error'),
                                    _list(errors, lambda e: _short(e['message'], 200))))
    failed = result.get('failed_requests') or []
    if failed and params.get('fail_on_failed_requests', True):
        failures.append('%s: %s' % (_plural(len(failed), 'failed request'), _list(failed, describe_request)))
    mixed = result.get('mixed_content') or []
    if mixed and params.get('fail_on_mixed_content', True):
        failures.append('%s: %s' % (_plural(len(mixed), 'mixed content request'),
                                    _list(mixed, lambda m: m.get('url') or _short(m.get('message'), 200))))
    return failures


def summarize(result):
    if result.get('passed'):
        return 'browser check of %s passed (%s, %s, %.1fs)' % (
            result.get('url'), 'HTTP %s' % result.get('status'), _plural(result.get('requests') or 0, 'request'),
            result.get('elapsed') or 0)
    failures = result.get('failures') or [result.get('msg') or 'error']
    return 'browser check of %s failed: %s' % (result.get('url'), '; '.join(failures))


# ---------------------------------------------------------------- the check


def empty_result(url):
    return {'passed': False, 'failures': [], 'url': redact_url(url or ''), 'final_url': None, 'title': None,
            'status': None, 'csp_violations': [], 'console_errors': [], 'failed_requests': [],
            'mixed_content': [], 'requests': 0, 'elapsed': 0.0, 'screenshot': None, 'browser_version': None,
            'error_kind': None, 'msg': None}


def _missing(result, what):
    result.update(error_kind='missing', msg='%s not found: install it (%s)' % (what, INSTALL_HINT))
    result['failures'] = [result['msg']]
    return result


def _import_selenium():
    try:
        from selenium import webdriver
        from selenium.common.exceptions import TimeoutException, WebDriverException
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        return None
    return webdriver, Service, TimeoutException, WebDriverException


def run_check(params, euid=None):
    """Load ``params['url']`` in headless chromium; returns the result dict (see the module's RETURN)."""
    p = dict(DEFAULTS)
    p.update(dict((k, v) for k, v in params.items() if v is not None))
    result = empty_result(p['url'])
    started = time.monotonic()
    try:
        parse_window_size(p['window_size'])
        ignore_console = list(DEFAULT_IGNORE_CONSOLE) + list(p['ignore_console'] or [])
        ignore_requests = list(DEFAULT_IGNORE_REQUESTS) + list(p['ignore_requests'] or [])
        _compile(ignore_console + ignore_requests)
    except (ValueError, re.error) as exc:
        result.update(error_kind='config', msg='invalid option: %s' % exc, failures=['invalid option: %s' % exc])
        return result
    if urlsplit(p['url']).scheme not in ('http', 'https'):
        msg = 'url must be http:// or https://, got %s' % result['url']
        result.update(error_kind='config', msg=msg, failures=[msg])
        return result
    if p['ca_path'] and not os.path.isfile(p['ca_path']):
        msg = 'ca_path %s is not a file' % p['ca_path']
        result.update(error_kind='config', msg=msg, failures=[msg])
        return result

    selenium = _import_selenium()
    if selenium is None:
        return _missing(result, 'the selenium Python library')
    webdriver, Service, TimeoutException, WebDriverException = selenium
    chromium = find_executable(p['chromium'] or CHROMIUM_NAMES)
    if not chromium:
        return _missing(result, 'chromium (%s)' % (p['chromium'] or ', '.join(CHROMIUM_NAMES)))
    chromedriver = find_executable(p['chromedriver'] or CHROMEDRIVER_NAMES,
                                   () if p['chromedriver'] else CHROMEDRIVER_PATHS)
    if not chromedriver:
        return _missing(result, 'chromedriver (%s)' % (p['chromedriver'] or 'chromium-driver'))
    certutil = find_executable('certutil') if p['ca_path'] else None
    if p['ca_path'] and not certutil:
        return _missing(result, 'certutil (libnss3-tools), needed to trust ca_path,')

    os.environ.setdefault('SE_OFFLINE', 'true')  # never let Selenium Manager download anything
    home = tempfile.mkdtemp(prefix='divan-browser-')
    driver = None
    try:
        if p['ca_path']:
            try:
                make_nss_db(home, p['ca_path'], certutil=certutil)
            except (OSError, ValueError, RuntimeError) as exc:
                msg = 'cannot trust ca_path: %s' % exc
                result.update(error_kind='config', msg=msg, failures=[msg])
                return result
        profile = os.path.join(home, 'profile')
        os.mkdir(profile)
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for arg in chromium_arguments(p['connect_host'], p['url'], p['window_size'],
                                      os.geteuid() if euid is None else euid, profile):
            options.add_argument(arg)
        options.set_capability('goog:loggingPrefs', {'browser': 'ALL', 'performance': 'ALL'})
        options.page_load_strategy = 'normal'
        env = dict(os.environ, HOME=home, XDG_CONFIG_HOME=os.path.join(home, '.config'),
                   XDG_CACHE_HOME=os.path.join(home, '.cache'))
        service = Service(executable_path=chromedriver, env=env, log_output=os.path.join(home, 'chromedriver.log'))
        try:
            driver = webdriver.Chrome(options=options, service=service)
        except WebDriverException as exc:
            msg = 'chromium did not start through chromedriver: %s' % _short(str(exc).strip(), 600)
            result.update(error_kind='browser', msg=msg, failures=[msg])
            return result
        result['browser_version'] = driver.capabilities.get('browserVersion')
        driver.set_page_load_timeout(p['timeout'])
        driver.set_script_timeout(max(5, p['timeout']))
        width, height = parse_window_size(p['window_size'])
        # headless chromium's window size includes the (invisible) window frame: make the viewport the size
        driver.execute_cdp_cmd('Emulation.setDeviceMetricsOverride', {'width': width, 'height': height,
                                                                      'deviceScaleFactor': 1, 'mobile': False})
        driver.execute_cdp_cmd('Page.addScriptToEvaluateOnNewDocument', {'source': VIOLATION_LISTENER})
        driver.get_log('performance')  # drop what the blank start page logged
        driver.get_log('browser')
        load_error = None
        try:
            driver.get(p['url'])
        except TimeoutException:
            load_error = 'no load event within %gs' % p['timeout']
        except WebDriverException as exc:
            load_error = _short(str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc), 300)
        if p['settle'] and p['settle'] > 0:
            time.sleep(p['settle'])

        page_violations = None
        try:
            page_violations = driver.execute_script('return window.%s || null;' % VIOLATIONS_VAR)
            result['title'] = driver.title
            result['final_url'] = redact_url(driver.current_url)
        except WebDriverException:
            pass
        console = driver.get_log('browser')
        performance = driver.get_log('performance')
        requests = collect_requests(network_events(performance))
        main = main_document(requests)
        result['requests'] = len(requests)
        if main:
            result['status'] = main.get('status')
            if not load_error and main.get('error') and main.get('status') is None:
                load_error = main['error']
            elif not load_error and main.get('status') is not None and main['status'] >= 400:
                load_error = 'HTTP %s' % main['status']
        elif not load_error:
            load_error = 'no request for the page was recorded'
        if result['final_url'] and result['final_url'].startswith('chrome-error:') and not load_error:
            load_error = 'chromium showed an error page'

        page_url = result['final_url'] if _http(result['final_url']) else p['url']
        result['csp_violations'] = csp_violations(page_violations, console)[:MAX_ITEMS]
        failed_urls = [r['url'] for r in failed_requests(requests, ())]
        result['console_errors'] = console_errors(console, ignore_console, failed_urls)[:MAX_ITEMS]
        result['failed_requests'] = [r for r in failed_requests(requests, ignore_requests)
                                     if not (main and load_error and r['url'] == redact_url(main['url']))][:MAX_ITEMS]
        result['mixed_content'] = mixed_content(page_url, requests, console)[:MAX_ITEMS]

        if p['screenshot']:
            shot = os.path.abspath(os.path.expanduser(p['screenshot']))
            folder = os.path.dirname(shot)
            if not os.path.isdir(folder):
                os.makedirs(folder)
            try:
                if driver.save_screenshot(shot):
                    result['screenshot'] = shot
            except WebDriverException:
                result['screenshot'] = None

        result['load_error'] = load_error
        if load_error:
            result['error_kind'] = 'load'
        result['failures'] = failures_of(result, p)
        result['passed'] = not result['failures']
        del result['load_error']
        result['elapsed'] = round(time.monotonic() - started, 2)
        result['msg'] = summarize(result)
        return result
    except WebDriverException as exc:  # the browser went away in the middle of the check
        text = str(exc).strip()
        msg = 'chromium failed during the check: %s' % _short(text.splitlines()[0] if text else repr(exc), 300)
        result.pop('load_error', None)
        result.update(passed=False, error_kind='browser', msg=msg, failures=[msg])
        return result
    finally:
        if driver is not None:
            try:
                driver.quit()
            except Exception:  # pylint: disable=broad-except
                pass
        shutil.rmtree(home, ignore_errors=True)
        if not result['elapsed']:
            result['elapsed'] = round(time.monotonic() - started, 2)
