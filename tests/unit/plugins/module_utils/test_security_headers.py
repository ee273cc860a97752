# -*- coding: utf-8 -*-
"""Security header tests and Observatory scoring, from header lists."""

import pytest

from ansible_collections.divan.platform.plugins.module_utils import security_headers as sh

GOOD = [
    ('Strict-Transport-Security', 'max-age=31536000; includeSubDomains'),
    ('Content-Security-Policy', "default-src 'self'; object-src 'none'; frame-ancestors 'none'"),
    ('X-Frame-Options', 'DENY'),
    ('X-Content-Type-Options', 'nosniff'),
    ('Referrer-Policy', 'strict-origin-when-cross-origin'),
]


def replace(headers, name, value=None):
    out = [(k, v) for k, v in headers if k.lower() != name.lower()]
    if value is not None:
        out.append((name, value))
    return out


# ---------------------------------------------------------------- grading


@pytest.mark.parametrize('score,grade', [
    (135, 'A+'), (100, 'A+'), (99, 'A'), (90, 'A'), (89, 'A-'), (85, 'A-'), (84, 'B+'), (80, 'B+'), (79, 'B'),
    (70, 'B'), (69, 'B-'), (65, 'B-'), (64, 'C+'), (60, 'C+'), (59, 'C'), (50, 'C'), (49, 'C-'), (45, 'C-'),
    (44, 'D+'), (40, 'D+'), (39, 'D'), (30, 'D'), (29, 'D-'), (25, 'D-'), (24, 'F'), (0, 'F'), (-10, 'F'),
])
def test_grade_chart(score, grade):
    assert sh.grade_for(score) == grade


def test_bonuses_only_when_penalised_score_is_at_least_90():
    # -5 (nosniff) and +5 (referrer) +10 (CORP): 95 >= 90 -> 110
    assert sh.score_results(['x-content-type-options-not-implemented', 'referrer-policy-private',
                             'corp-implemented-with-same-origin']) == (110, 'A+')
    # -20 -5 = 75 < 90: the +15 bonuses are dropped
    assert sh.score_results(['hsts-not-implemented', 'x-content-type-options-not-implemented',
                             'referrer-policy-private', 'corp-implemented-with-same-origin']) == (75, 'B')
    assert sh.score_results(['csp-not-implemented', 'hsts-not-implemented', 'x-frame-options-not-implemented',
                             'cookies-session-without-secure-flag']) == (0, 'F')


def test_good_headers():
    res = sh.analyze(GOOD)
    assert res['failures'] == []
    assert res['tests']['content-security-policy']['result'] == 'csp-implemented-with-no-unsafe'
    assert res['tests']['x-frame-options']['result'] == 'x-frame-options-implemented-via-csp'
    assert res['score'] == 100 + 5 + 5 + 5 and res['grade'] == 'A+'


def test_min_grade():
    headers = replace(GOOD, 'Strict-Transport-Security')
    res = sh.analyze(headers, min_grade='A')
    assert (res['score'], res['grade']) == (80, 'B+')  # 100 - 20 = 80 < 90: the bonuses do not count
    assert any(f.startswith('security headers grade') for f in res['failures'])
    assert not any(f.startswith('security headers grade') for f in sh.analyze(headers, min_grade='C')['failures'])


# ---------------------------------------------------------------- HSTS


@pytest.mark.parametrize('value,result,failure', [
    ('max-age=31536000; includeSubDomains', 'hsts-implemented-max-age-at-least-six-months', None),
    ('max-age=63072000; includeSubDomains; preload', 'hsts-implemented-max-age-at-least-six-months', None),
    ('max-age=15768000; includeSubDomains', 'hsts-implemented-max-age-at-least-six-months', 'below 31536000'),
    ('max-age=31536000', 'hsts-implemented-max-age-at-least-six-months', 'includeSubDomains missing'),
    ('max-age=86400; includeSubDomains', 'hsts-implemented-max-age-less-than-six-months', 'below 31536000'),
    ('includeSubDomains', 'hsts-header-invalid', 'cannot be parsed'),
    ('max-age=abc', 'hsts-header-invalid', 'cannot be parsed'),
    ('max-age=1, max-age=2', 'hsts-header-invalid', 'cannot be parsed'),
    (None, 'hsts-not-implemented', 'missing'),
])
def test_hsts(value, result, failure):
    res = sh.analyze(replace(GOOD, 'Strict-Transport-Security', value))
    assert res['tests']['strict-transport-security']['result'] == result
    hsts_failures = [f for f in res['failures'] if f.startswith('Strict-Transport-Security')]
    if failure:
        assert len(hsts_failures) == 1 and failure in hsts_failures[0]
    else:
        assert hsts_failures == []


def test_hsts_over_http_or_unverified():
    assert sh.analyze(GOOD, https=False)['tests']['strict-transport-security']['result'] == \
        'hsts-not-implemented-no-https'
    assert sh.analyze(GOOD, verified=False)['tests']['strict-transport-security']['result'] == 'hsts-invalid-cert'


# ---------------------------------------------------------------- CSP


@pytest.mark.parametrize('csp,result,fails', [
    ("default-src 'none'; script-src 'self'; frame-ancestors 'none'", 'csp-implemented-with-no-unsafe-default-src-none',
     False),
    ("default-src 'self'", 'csp-implemented-with-no-unsafe', False),
    ("default-src 'self'; style-src 'self' 'unsafe-inline'", 'csp-implemented-with-unsafe-inline-in-style-src-only',
     False),
    ("default-src 'self'; script-src 'self' 'unsafe-inline'", 'csp-implemented-with-unsafe-inline', True),
    ("default-src 'self'; script-src 'self' 'unsafe-eval'", 'csp-implemented-with-unsafe-eval', True),
    ("default-src 'self'; script-src 'self' data:", 'csp-implemented-with-unsafe-inline', True),
    ("default-src 'self'; script-src https:", 'csp-implemented-with-unsafe-inline', True),
    ("script-src 'self'", 'csp-implemented-with-unsafe-inline', False),  # object-src unrestricted (scored only)
    ("default-src 'self'; script-src 'self' http://cdn.example.org", 'csp-implemented-with-insecure-scheme', True),
    ("default-src 'self'; img-src http://img.example.org",
     'csp-implemented-with-insecure-scheme-in-passive-content-only', False),
    ("default-src 'self'; script-src 'nonce-abc123' 'unsafe-inline'", 'csp-implemented-with-no-unsafe', False),
    ("default-src 'self'; script-src 'nonce-abc' 'strict-dynamic' https: 'unsafe-inline'",
     'csp-implemented-with-no-unsafe', False),
    ("default-src 'self'; script-src 'strict-dynamic'", 'csp-header-invalid', True),
    ("default-src 'self'; sc@ript-src x", 'csp-header-invalid', True),
])
def test_csp(csp, result, fails):
    res = sh.analyze(replace(GOOD, 'Content-Security-Policy', csp))
    assert res['tests']['content-security-policy']['result'] == result
    csp_failures = [f for f in res['failures'] if f.startswith('Content-Security-Policy')]
    assert bool(csp_failures) is fails, csp_failures


def test_csp_missing_and_multiple_policies():
    res = sh.analyze(replace(GOOD, 'Content-Security-Policy'))
    assert res['tests']['content-security-policy']['result'] == 'csp-not-implemented'
    assert any(f.startswith('Content-Security-Policy: missing') for f in res['failures'])
    # two policies: both apply, so the intersection of script sources counts
    two = replace(GOOD, 'Content-Security-Policy', "default-src 'self'; script-src 'self' 'unsafe-inline'")
    two.append(('Content-Security-Policy', "script-src 'self'"))
    assert sh.analyze(two)['tests']['content-security-policy']['result'] == 'csp-implemented-with-no-unsafe'


# ---------------------------------------------------------------- framing, nosniff, referrer, CORP


@pytest.mark.parametrize('xfo,csp,result,fails', [
    ('DENY', "default-src 'self'", 'x-frame-options-sameorigin-or-deny', False),
    ('sameorigin', "default-src 'self'", 'x-frame-options-sameorigin-or-deny', False),
    (None, "default-src 'self'; frame-ancestors 'self'", 'x-frame-options-implemented-via-csp', False),
    (None, "default-src 'self'; frame-ancestors *", 'x-frame-options-implemented-via-csp', True),
    ('ALLOW-FROM https://a.example', "default-src 'self'", 'x-frame-options-allow-from-origin', True),
    ('GOFORIT', "default-src 'self'", 'x-frame-options-header-invalid', True),
    (None, "default-src 'self'", 'x-frame-options-not-implemented', True),
])
def test_framing(xfo, csp, result, fails):
    headers = replace(replace(GOOD, 'X-Frame-Options', xfo), 'Content-Security-Policy', csp)
    res = sh.analyze(headers)
    assert res['tests']['x-frame-options']['result'] == result
    assert any(f.startswith('X-Frame-Options') for f in res['failures']) is fails


@pytest.mark.parametrize('value,result', [('nosniff', 'x-content-type-options-nosniff'),
                                          (' NoSniff ', 'x-content-type-options-nosniff'),
                                          ('sniff', 'x-content-type-options-header-invalid'),
                                          (None, 'x-content-type-options-not-implemented')])
def test_nosniff(value, result):
    res = sh.analyze(replace(GOOD, 'X-Content-Type-Options', value))
    assert res['tests']['x-content-type-options']['result'] == result
    assert any(f.startswith('X-Content-Type-Options') for f in res['failures']) is (
        result != 'x-content-type-options-nosniff')


@pytest.mark.parametrize('value,result', [
    ('no-referrer', 'referrer-policy-private'), ('same-origin', 'referrer-policy-private'),
    ('strict-origin', 'referrer-policy-private'), ('unsafe-url', 'referrer-policy-unsafe'),
    ('no-referrer-when-downgrade', 'referrer-policy-unsafe'), ('origin', 'referrer-policy-unsafe'),
    ('no-referrer, unsafe-url', 'referrer-policy-unsafe'),  # the last valid one wins
    ('unsafe-url, bogus, strict-origin-when-cross-origin', 'referrer-policy-private'),
    ('bogus', 'referrer-policy-header-invalid'), (None, 'referrer-policy-not-implemented'),
])
def test_referrer_policy(value, result):
    res = sh.analyze(replace(GOOD, 'Referrer-Policy', value))
    assert res['tests']['referrer-policy']['result'] == result
    assert any(f.startswith('Referrer-Policy') for f in res['failures']) is (result != 'referrer-policy-private')


@pytest.mark.parametrize('value,result,modifier', [
    ('same-origin', 'corp-implemented-with-same-origin', 10), ('same-site', 'corp-implemented-with-same-site', 10),
    ('cross-origin', 'corp-implemented-with-cross-origin', 0), ('bogus', 'corp-header-invalid', -5),
    (None, 'corp-not-implemented', 0),
])
def test_corp(value, result, modifier):
    res = sh.analyze(replace(GOOD, 'Cross-Origin-Resource-Policy', value))
    assert res['tests']['cross-origin-resource-policy'] == {'result': result, 'score_modifier': modifier}


# ---------------------------------------------------------------- cookies, CORS, leaks, redirection


@pytest.mark.parametrize('cookies,hsts,result', [
    ([], True, 'cookies-not-found'),
    (['sessionid=x; Secure; HttpOnly; SameSite=Lax'], True, 'cookies-secure-with-httponly-sessions-and-samesite'),
    (['sessionid=x; Secure; HttpOnly'], True, 'cookies-secure-with-httponly-sessions'),
    (['theme=dark'], True, 'cookies-without-secure-flag-but-protected-by-hsts'),
    (['theme=dark'], False, 'cookies-without-secure-flag'),
    (['sessionid=x; HttpOnly'], True, 'cookies-session-without-secure-flag-but-protected-by-hsts'),
    (['sessionid=x; Secure'], True, 'cookies-session-without-httponly-flag'),
    (['sessionid=x; HttpOnly'], False, 'cookies-session-without-secure-flag'),
    (['csrftoken=x; Secure'], True, 'cookies-anticsrf-without-samesite-flag'),
    (['a=b; Secure; SameSite=Bogus'], True, 'cookies-samesite-flag-invalid'),
    (['a=b; SameSite=None'], True, 'cookies-samesite-flag-invalid'),
])
def test_cookies(cookies, hsts, result):
    headers = GOOD if hsts else replace(GOOD, 'Strict-Transport-Security')
    headers = headers + [('Set-Cookie', c) for c in cookies]
    res = sh.analyze(headers)
    assert res['tests']['cookies']['result'] == result
    assert any(f.startswith('Set-Cookie') for f in res['failures']) is (sh.MODIFIERS[result] < 0)


def test_cors_universal_access_with_credentials():
    reflected = GOOD + [('Access-Control-Allow-Origin', sh.PROBE_ORIGIN), ('Access-Control-Allow-Credentials', 'true')]
    res = sh.analyze(reflected)
    assert res['tests']['cross-origin-resource-sharing']['result'] == \
        'cross-origin-resource-sharing-implemented-with-universal-access'
    assert any(f.startswith('Access-Control-Allow-Origin') for f in res['failures'])
    public = sh.analyze(GOOD + [('Access-Control-Allow-Origin', '*')])
    assert public['tests']['cross-origin-resource-sharing']['result'] == \
        'cross-origin-resource-sharing-implemented-with-public-access'
    restricted = sh.analyze(GOOD + [('Access-Control-Allow-Origin', 'https://example.org'),
                                    ('Access-Control-Allow-Credentials', 'true')])
    assert restricted['failures'] == []


@pytest.mark.parametrize('name,value,leak', [
    ('Server', 'nginx/1.18.0', True), ('Server', 'Caddy', False), ('X-Powered-By', 'PHP/8.2.1', True),
    ('X-Powered-By', 'Next.js', False), ('X-AspNet-Version', '4.0.30319', True),
])
def test_version_leaks(name, value, leak):
    res = sh.analyze(GOOD + [(name, value)])
    assert any('reveals a version' in f for f in res['failures']) is leak


@pytest.mark.parametrize('redirect,result', [
    ({'location': 'https://example.org/', 'same_host': True, 'final_https': True}, 'redirection-to-https'),
    ({'location': 'https://www.example.org/', 'same_host': False, 'final_https': True},
     'redirection-off-host-from-http'),
    ({'location': 'http://example.org/x', 'same_host': True, 'final_https': True},
     'redirection-not-to-https-on-initial-redirection'),
    ({'location': 'http://example.org/x', 'same_host': True, 'final_https': False}, 'redirection-not-to-https'),
    ({'location': None}, 'redirection-missing'),
    ({'no_http': True}, 'redirection-not-needed-no-http'),
])
def test_redirection_result(redirect, result):
    assert sh.analyze(GOOD, redirect=redirect)['tests']['redirection']['result'] == result
    assert 'redirection' not in sh.analyze(GOOD)['tests']


def test_ignore_list():
    bad = [('Server', 'nginx/1.2')]
    res = sh.analyze(bad, ignore=('content-security-policy', 'strict-transport-security', 'x-content-type-options',
                                  'x-frame-options', 'referrer-policy', 'server-version'))
    # CSP -25, HSTS -20, nosniff -5, XFO -20: 30
    assert res['failures'] == [] and (res['score'], res['grade']) == (30, 'D')
