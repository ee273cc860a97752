# -*- coding: utf-8 -*-
"""browser_probe without a browser: arguments, NSS db commands, and log entries as chromium 156 records them."""

import json
import os
import subprocess

import pytest

from ansible_collections.divan.platform.plugins.module_utils import browser_probe as bp

PAGE = 'https://divan.test/'


def perf(method, **params):
    """One entry of selenium's ``performance`` log."""
    return {'level': 'INFO', 'timestamp': 1796138571816,
            'message': json.dumps({'message': {'method': method, 'params': params}, 'webview': 'X'})}


def sent(rid, url, rtype, loader='L1', mixed='none', frame='F1'):
    return perf('Network.requestWillBeSent', requestId=rid, loaderId=loader, frameId=frame, type=rtype,
                documentURL=PAGE, request={'url': url, 'method': 'GET', 'mixedContentType': mixed,
                                           'headers': {'User-Agent': 'HeadlessChrome/156'}})


def received(rid, status, rtype):
    return perf('Network.responseReceived', requestId=rid, type=rtype,
                response={'url': 'ignored', 'status': status, 'headers': {}, 'mimeType': 'text/html'})


def failed(rid, error, rtype, blocked=None, canceled=False):
    params = {'requestId': rid, 'errorText': error, 'type': rtype, 'canceled': canceled}
    if blocked:
        params['blockedReason'] = blocked
    return perf('Network.loadingFailed', **params)


def console(message, level='SEVERE', source='console-api'):
    return {'level': level, 'message': message, 'source': source, 'timestamp': 1796138571816}


RECORDED = [
    # the blank start page's leftovers are not http(s): dropped
    sent('X0', 'chrome://new-tab-page/', 'Document', loader='X0'),
    sent('L1', PAGE, 'Document'),
    perf('Network.requestWillBeSentExtraInfo', requestId='L1', headers={}),
    received('L1', 200, 'Document'),
    perf('Network.dataReceived', requestId='L1', dataLength=1667),
    perf('Network.loadingFinished', requestId='L1'),
    sent('2.1', PAGE + '_next/static/chunks/app.js', 'Script'),
    received('2.1', 200, 'Script'),
    sent('2.2', PAGE + '_next/static/chunks/missing.js', 'Script'),
    received('2.2', 404, 'Script'),
    failed('2.2', 'net::ERR_ABORTED', 'Script', canceled=True),
    sent('2.3', 'https://cdn.example.net/x.png', 'Image'),
    failed('2.3', '', 'Image', blocked='csp'),
    sent('2.4', 'http://divan.test:8080/x.png', 'Image', mixed='optionally-blockable'),
    failed('2.4', 'net::ERR_CONNECTION_REFUSED', 'Image'),
    sent('2.5', PAGE + 'favicon.ico', 'Other'),
    received('2.5', 404, 'Other'),
    sent('2.6', PAGE + 'api/v1/me', 'Fetch'),
    received('2.6', 502, 'Fetch'),
    sent('2.7', PAGE + 'aborted', 'Fetch'),
    failed('2.7', 'net::ERR_ABORTED', 'Fetch', canceled=True),
    perf('Page.frameNavigated', frame={}),
    {'message': 'not json'},
]


def requests():
    return bp.collect_requests(bp.network_events(RECORDED))


# ---------------------------------------------------------------- tools, arguments, NSS


def test_find_executable(tmp_path):
    tool = tmp_path / 'chromium-browser'
    tool.write_text('#!/bin/sh\n')
    tool.chmod(0o755)
    other = tmp_path / 'driver'
    other.write_text('')
    assert bp.find_executable(('chromium', 'chromium-browser'), path=str(tmp_path)) == str(tool)
    assert bp.find_executable('nope', path=str(tmp_path)) is None
    assert bp.find_executable('nope', extra_paths=[str(other), str(tool)], path=str(tmp_path)) == str(tool)
    assert bp.find_executable(str(tool)) == str(tool)
    assert bp.find_executable(str(other)) is None  # not executable


def test_chromium_arguments_as_root_with_a_mapping():
    args = bp.chromium_arguments('127.0.0.1', 'https://divan.test:8443/', '1280,900', 0, '/tmp/p')
    assert '--headless=new' in args and '--disable-gpu' in args and '--disable-dev-shm-usage' in args
    assert '--no-sandbox' in args
    assert '--window-size=1280,900' in args and '--user-data-dir=/tmp/p' in args
    assert '--host-resolver-rules=MAP divan.test 127.0.0.1' in args
    assert '--disable-background-networking' in args


def test_chromium_arguments_as_a_user_without_mapping():
    args = bp.chromium_arguments('', 'https://divan.test/', '800x600', 1000, '/tmp/p')
    assert '--no-sandbox' not in args
    assert not [a for a in args if a.startswith('--host-resolver-rules')]
    assert '--window-size=800,600' in args


@pytest.mark.parametrize('value', ['1280', 'a,b', '10,10', '', None, '1280,900,1'])
def test_bad_window_size(value):
    with pytest.raises(ValueError):
        bp.parse_window_size(value)


CERT = '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\nAbCd==\n-----END CERTIFICATE-----'


def test_make_nss_db_runs_certutil_for_each_certificate(tmp_path):
    ca = tmp_path / 'bundle.pem'
    ca.write_text('# Caddy root\n%s\n%s\n' % (CERT, CERT.replace('AbCd', 'EfGh')))
    calls = []

    def run(cmd, **kwargs):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, stdout='')

    home = tmp_path / 'home'
    home.mkdir()
    db = bp.make_nss_db(str(home), str(ca), certutil='/usr/bin/certutil', run=run)
    assert db == str(home / '.pki' / 'nssdb') and os.path.isdir(db)
    assert calls[0] == ['/usr/bin/certutil', '-N', '-d', 'sql:' + db, '--empty-password']
    assert [c[1] for c in calls[1:]] == ['-A', '-A']
    assert calls[1][calls[1].index('-t') + 1] == 'C,,'
    assert open(calls[2][-1]).read().strip() == CERT.replace('AbCd', 'EfGh')


def test_make_nss_db_errors(tmp_path):
    empty = tmp_path / 'empty.pem'
    empty.write_text('nothing here')
    with pytest.raises(ValueError, match='no PEM certificate'):
        bp.make_nss_db(str(tmp_path / 'h1'), str(empty), run=None)
    ca = tmp_path / 'ca.pem'
    ca.write_text(CERT)

    def run(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 255, stdout='certutil: function failed: SEC_ERROR_BAD_DATABASE')

    with pytest.raises(RuntimeError, match=r'certutil -N failed \(rc 255\): .*SEC_ERROR_BAD_DATABASE'):
        bp.make_nss_db(str(tmp_path / 'h2'), str(ca), run=run)


# ---------------------------------------------------------------- performance log


def test_collect_requests_and_main_document():
    reqs = requests()
    assert [r['id'] for r in reqs] == ['L1', '2.1', '2.2', '2.3', '2.4', '2.5', '2.6', '2.7']
    main = bp.main_document(reqs)
    assert main['url'] == PAGE and main['status'] == 200


def test_redirect_keeps_the_final_url():
    events = bp.network_events([sent('L1', 'http://divan.test/', 'Document'),
                                sent('L1', PAGE, 'Document'), received('L1', 200, 'Document')])
    (main,) = bp.collect_requests(events)
    assert main['url'] == PAGE and main['redirects'] == ['http://divan.test/'] and main['status'] == 200


def test_failed_requests():
    out = bp.failed_requests(requests())
    assert out == [
        {'url': PAGE + '_next/static/chunks/missing.js', 'type': 'Script', 'status': 404, 'error': None,
         'blocked_reason': None},
        {'url': 'http://divan.test:8080/x.png', 'type': 'Image', 'status': None,
         'error': 'net::ERR_CONNECTION_REFUSED', 'blocked_reason': None},
        {'url': PAGE + 'api/v1/me', 'type': 'Fetch', 'status': 502, 'error': None, 'blocked_reason': None},
    ]  # favicon ignored by default, the CSP block and the page's own abort left out
    assert [r['url'] for r in bp.failed_requests(requests(), ignore=[r'/api/v1/', r'\.png$'])] == [
        PAGE + '_next/static/chunks/missing.js', PAGE + 'favicon.ico']


def test_mixed_content_from_the_network_and_the_console():
    messages = [console("https://divan.test/ 0 Mixed Content: The page at 'https://divan.test/' was loaded over "
                        "HTTPS, but requested an insecure element 'http://divan.test:9000/y.png'. This request was "
                        "automatically upgraded to HTTPS, For more information see https://blog.chromium.org/x",
                        level='WARNING', source='security'),
                console("https://divan.test/ 0 Mixed Content: The page at 'https://divan.test/' was loaded over "
                        "HTTPS, but requested an insecure script 'http://divan.test:8080/x.png'. This request has "
                        "been blocked; the content must be served over HTTPS.", source='security')]
    out = bp.mixed_content(PAGE, requests(), messages)
    assert [(m['url'], m['source']) for m in out] == [('http://divan.test:8080/x.png', 'network'),
                                                      ('http://divan.test:9000/y.png', 'console')]
    assert out[1]['upgraded'] and not out[1]['blocked']
    assert bp.mixed_content('http://divan.test/', requests(), []) == []  # an http page has no mixed content


def test_network_events_accepts_decoded_messages():
    entry = {'message': {'message': {'method': 'Network.loadingFinished', 'params': {'requestId': '1'}}}}
    assert bp.network_events([entry]) == [{'method': 'Network.loadingFinished', 'params': {'requestId': '1'}}]


# ---------------------------------------------------------------- browser log


CONSOLE = [
    console('https://divan.test/ 4:16 "boom" Object'),
    console('https://divan.test/missing.js - Failed to load resource: the server responded with a status of '
            '404 (Not Found)', source='network'),
    console('https://divan.test/ 1 Loading the image \'https://cdn.example.net/x.png\' violates the following '
            'Content Security Policy directive: "default-src \'self\'". Note that \'img-src\' was not explicitly '
            'set, so \'default-src\' is used as a fallback. The action has been blocked.', source='security'),
    console('https://divan.test/ 4 Executing inline script violates the following Content Security Policy '
            'directive \'script-src \'none\'\'. Either the \'unsafe-inline\' keyword...', source='security'),
    console("https://divan.test/ - Refused to execute script from 'https://divan.test/missing.js' because its "
            "MIME type ('text/plain') is not executable, and strict MIME type checking is enabled.",
            source='javascript'),
    console('https://divan.test/app.js 10:3 "deprecated"', level='WARNING'),
    console('https://divan.test/favicon.ico - Failed to load resource', source='other'),
    console('https://divan.test/app.js 1:1 Uncaught TypeError: x is undefined', source='javascript'),
]


def test_console_errors():
    out = bp.console_errors(CONSOLE, failed_urls=['https://divan.test/missing.js'])
    assert out == [{'level': 'SEVERE', 'source': 'console-api', 'message': 'https://divan.test/ 4:16 "boom" Object'},
                   {'level': 'SEVERE', 'source': 'javascript',
                    'message': 'https://divan.test/app.js 1:1 Uncaught TypeError: x is undefined'}]
    assert len(bp.console_errors(CONSOLE, ignore=['TypeError'])) == 3  # the MIME refusal counts without failed_urls
    long = bp.console_errors([console('x' * 2000)])[0]['message']
    assert len(long) == bp.MAX_MESSAGE and long.endswith('...')


def test_csp_violations_from_the_page_are_deduplicated():
    event = {'violatedDirective': 'script-src-elem', 'effectiveDirective': 'script-src-elem', 'blockedURI': 'inline',
             'sourceFile': 'https://divan.test/', 'lineNumber': 4, 'disposition': 'enforce'}
    out = bp.csp_violations([event, dict(event), 'junk'], CONSOLE)
    assert out == [event]


def test_csp_violations_fall_back_to_the_console():
    out = bp.csp_violations(None, CONSOLE)
    assert [(v['effectiveDirective'], v['blockedURI'], v['lineNumber']) for v in out] == [
        ('img-src', 'https://cdn.example.net/x.png', 1), ('script-src', 'inline', 4)]
    assert out[0]['sourceFile'] == 'https://divan.test/'


# ---------------------------------------------------------------- failures and summary


def test_failure_sentences_have_figures():
    result = {
        'csp_violations': [{'effectiveDirective': 'script-src', 'blockedURI': 'inline',
                            'sourceFile': 'https://divan.test/', 'lineNumber': 4},
                           {'effectiveDirective': 'script-src-elem', 'blockedURI': 'https://divan.test/app.js',
                            'sourceFile': '', 'lineNumber': 0, 'disposition': 'report'}],
        'console_errors': [{'message': 'boom'}],
        'failed_requests': [{'url': 'https://divan.test/a.js', 'status': 404, 'error': None},
                            {'url': 'https://divan.test/b.js', 'status': None, 'error': 'net::ERR_FAILED'}],
        'mixed_content': [{'url': 'http://divan.test/x.png'}],
    }
    assert bp.failures_of(result, {}) == [
        '2 Content-Security-Policy violations: script-src blocked inline (https://divan.test/:4); '
        'script-src-elem blocked https://divan.test/app.js (report-only)',
        '1 console error: boom',
        '2 failed requests: https://divan.test/a.js HTTP 404; https://divan.test/b.js net::ERR_FAILED',
        '1 mixed content request: http://divan.test/x.png',
    ]
    lenient = bp.failures_of(result, {'fail_on_console_errors': False, 'fail_on_failed_requests': False,
                                      'fail_on_mixed_content': False})
    assert len(lenient) == 1 and lenient[0].startswith('2 Content-Security-Policy violations')
    assert bp.failures_of({'load_error': 'net::ERR_CERT_AUTHORITY_INVALID'}, {}) == [
        'page did not load: net::ERR_CERT_AUTHORITY_INVALID']


def test_summarize():
    assert bp.summarize({'passed': True, 'url': PAGE, 'status': 200, 'requests': 3, 'elapsed': 2.04}) == \
        'browser check of https://divan.test/ passed (HTTP 200, 3 requests, 2.0s)'
    assert bp.summarize({'passed': False, 'url': PAGE, 'failures': ['a', 'b']}) == \
        'browser check of https://divan.test/ failed: a; b'


# ---------------------------------------------------------------- run_check without a browser


def test_run_check_without_selenium_says_what_to_install(monkeypatch):
    monkeypatch.setattr(bp, '_import_selenium', lambda: None)
    result = bp.run_check({'url': PAGE})
    assert result['error_kind'] == 'missing' and not result['passed']
    assert 'selenium' in result['msg'] and 'pip install selenium' in result['msg']


def test_run_check_without_chromium(monkeypatch, tmp_path):
    monkeypatch.setattr(bp, '_import_selenium', lambda: ('webdriver', 'Service', Exception, Exception))
    result = bp.run_check({'url': PAGE, 'chromium': str(tmp_path / 'chromium')})
    assert result['error_kind'] == 'missing'
    assert result['msg'].startswith('chromium (%s) not found' % (tmp_path / 'chromium'))
    assert 'apt-get install chromium chromium-driver libnss3-tools' in result['msg']


@pytest.mark.parametrize('params, text', [
    ({'url': 'ftp://divan.test/'}, 'url must be http:// or https://'),
    ({'url': PAGE, 'window_size': 'big'}, 'window_size must be'),
    ({'url': PAGE, 'ignore_console': ['(']}, 'invalid option'),
    ({'url': PAGE, 'ca_path': '/nonexistent/ca.pem'}, 'ca_path /nonexistent/ca.pem is not a file'),
])
def test_run_check_config_errors(params, text):
    result = bp.run_check(params)
    assert result['error_kind'] == 'config' and text in result['msg'] and not result['passed']


# ---------------------------------------------------------------- the module shell


def _run_module(args, capsys):
    from ansible.module_utils.testing import patch_module_args

    from ansible_collections.divan.platform.plugins.modules import browser_check

    with patch_module_args(args):
        with pytest.raises(SystemExit) as exc:
            browser_check.main()
    out = capsys.readouterr().out
    return exc.value.code, json.loads(out[out.index('{'):])


def test_module_fails_with_every_return_value_when_the_check_fails(capsys, monkeypatch):
    def fake(params):
        assert params['connect_host'] == '' and params['timeout'] == 30.0 and params['window_size'] == '1280,900'
        result = bp.empty_result(params['url'])
        result.update(failures=['1 console error: boom'], status=200, title='Divan')
        result['msg'] = bp.summarize(result)
        return result

    monkeypatch.setattr(bp, 'run_check', fake)
    rc, result = _run_module({'url': PAGE}, capsys)
    assert rc == 1 and result['failed'] and result['changed'] is False
    assert result['msg'] == 'browser check of https://divan.test/ failed: 1 console error: boom'
    assert result['passed'] is False and result['title'] == 'Divan' and result['csp_violations'] == []


def test_module_passes_in_check_mode(capsys, monkeypatch):
    def fake(params):
        result = bp.empty_result(params['url'])
        result.update(passed=True, status=200, requests=2, elapsed=1.5)
        return result

    monkeypatch.setattr(bp, 'run_check', fake)
    rc, result = _run_module({'url': PAGE, '_ansible_check_mode': True}, capsys)
    assert rc == 0 and not result.get('failed') and result['changed'] is False
    assert result['msg'] == 'browser check of https://divan.test/ passed (HTTP 200, 2 requests, 1.5s)'


# ---------------------------------------------------------------- run_check with a fake selenium


class FakeTimeout(Exception):
    pass


class FakeWebDriverError(Exception):
    pass


class FakeDriver(object):
    instances = []

    def __init__(self, options=None, service=None):
        self.options, self.service, self.quit_called, self.cdp = options, service, False, []
        self.capabilities = {'browserVersion': '156.0.8078.114'}
        start_page = [sent('X0', 'chrome://x/', 'Document')]
        self.logs = {'browser': [[], CONSOLE[:1]], 'performance': [start_page, RECORDED]}
        FakeDriver.instances.append(self)

    def set_page_load_timeout(self, seconds):
        self.timeout = seconds

    def set_script_timeout(self, seconds):
        pass

    def execute_cdp_cmd(self, cmd, args):
        self.cdp.append(cmd)

    def get_log(self, kind):
        return self.logs[kind].pop(0)

    def get(self, url):
        self.url = url
        if FakeDriver.fail_on == 'get':
            raise FakeWebDriverError('chrome not reachable\n  (Session info: chrome=156)')

    def execute_script(self, script):
        return []

    title = 'Divan'
    current_url = PAGE

    def save_screenshot(self, path):
        with open(path, 'wb') as handle:
            handle.write(b'\x89PNG\r\n\x1a\n')
        return True

    def quit(self):
        self.quit_called = True


class FakeOptions(object):
    def __init__(self):
        self.arguments, self.capabilities = [], {}

    def add_argument(self, arg):
        self.arguments.append(arg)

    def set_capability(self, name, value):
        self.capabilities[name] = value


class FakeWebdriver(object):
    Chrome = FakeDriver
    ChromeOptions = FakeOptions


class FakeService(object):
    def __init__(self, executable_path=None, env=None, log_output=None):
        self.path, self.env = executable_path, env


@pytest.fixture
def fake_selenium(monkeypatch, tmp_path):
    FakeDriver.instances, FakeDriver.fail_on = [], None
    monkeypatch.setattr(bp, '_import_selenium', lambda: (FakeWebdriver, FakeService, FakeTimeout,
                                                         FakeWebDriverError))
    tools = {}
    for name in ('chromium', 'chromedriver'):
        path = tmp_path / name
        path.write_text('#!/bin/sh\n')
        path.chmod(0o755)
        tools[name] = str(path)
    return tools


def test_run_check_with_a_fake_browser(fake_selenium, tmp_path):
    shot = tmp_path / 'out' / 'page.png'
    result = bp.run_check(dict(fake_selenium, url=PAGE, connect_host='127.0.0.1', settle=0, screenshot=str(shot)),
                          euid=0)
    (driver,) = FakeDriver.instances
    assert driver.quit_called and not os.path.exists(driver.service.env['HOME'])
    assert driver.service.path == fake_selenium['chromedriver']
    assert '--no-sandbox' in driver.options.arguments
    assert '--host-resolver-rules=MAP divan.test 127.0.0.1' in driver.options.arguments
    assert driver.options.capabilities['goog:loggingPrefs'] == {'browser': 'ALL', 'performance': 'ALL'}
    assert driver.cdp == ['Emulation.setDeviceMetricsOverride', 'Page.addScriptToEvaluateOnNewDocument']
    assert result['status'] == 200 and result['title'] == 'Divan' and result['requests'] == 8
    assert result['screenshot'] == str(shot) and shot.read_bytes().startswith(b'\x89PNG')
    assert result['browser_version'] == '156.0.8078.114' and result['error_kind'] is None
    assert [f.split(':')[0] for f in result['failures']] == ['1 console error', '3 failed requests',
                                                             '1 mixed content request']
    assert result['msg'].startswith('browser check of https://divan.test/ failed: 1 console error')


def test_run_check_browser_gone_is_reported_and_cleaned_up(fake_selenium):
    FakeDriver.fail_on = 'get'
    result = bp.run_check(dict(fake_selenium, url=PAGE, settle=0))
    (driver,) = FakeDriver.instances
    assert driver.quit_called and not os.path.exists(driver.service.env['HOME'])
    assert result['error_kind'] == 'load' and not result['passed']
    assert result['failures'][0] == 'page did not load: chrome not reachable'
