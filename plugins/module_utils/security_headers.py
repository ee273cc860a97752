# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Divan platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Security header analysis with Mozilla HTTP Observatory style scoring.

The score follows the Observatory's published method: start at 100, subtract
every penalty, and add the bonuses only when the penalised score is still 90
or more; the grade comes from the Observatory grading chart (the score rounded
down to a multiple of 5, capped at 100, looked up in the chart).

Tests scored from one response: content-security-policy,
strict-transport-security, x-content-type-options, x-frame-options,
referrer-policy, cross-origin-resource-policy, cookies,
cross-origin-resource-sharing, and redirection when the http:// redirect was
probed. Subresource integrity (an HTML body test) is not scored.

Independently of the score, ``analyze`` lists *failures* against the Divan
bar: HSTS with max-age >= 31536000 and includeSubDomains, a CSP without
'unsafe-inline'/'unsafe-eval' for scripts, framing denied (X-Frame-Options
DENY/SAMEORIGIN or CSP frame-ancestors), nosniff, a private Referrer-Policy,
no version in Server / X-Powered-By.
"""

import re

# Observatory grading chart: lower bound of the range -> grade.
GRADE_CHART = (
    (100, 'A+'), (90, 'A'), (85, 'A-'), (80, 'B+'), (70, 'B'), (65, 'B-'),
    (60, 'C+'), (50, 'C'), (45, 'C-'), (40, 'D+'), (30, 'D'), (25, 'D-'), (0, 'F'),
)
GRADES = tuple(grade for _low, grade in GRADE_CHART)
MINIMUM_SCORE_FOR_EXTRA_CREDIT = 90

# Observatory score modifiers, by test result.
MODIFIERS = {
    # content-security-policy
    'csp-implemented-with-no-unsafe-default-src-none': 10,
    'csp-implemented-with-no-unsafe': 5,
    'csp-implemented-with-unsafe-inline-in-style-src-only': 0,
    'csp-implemented-with-insecure-scheme-in-passive-content-only': -10,
    'csp-implemented-with-unsafe-eval': -10,
    'csp-implemented-with-insecure-scheme': -20,
    'csp-implemented-with-unsafe-inline': -20,
    'csp-not-implemented': -25,
    'csp-header-invalid': -25,
    # strict-transport-security
    'hsts-implemented-max-age-at-least-six-months': 0,
    'hsts-implemented-max-age-less-than-six-months': -10,
    'hsts-not-implemented': -20,
    'hsts-not-implemented-no-https': -20,
    'hsts-invalid-cert': -20,
    'hsts-header-invalid': -20,
    # x-content-type-options
    'x-content-type-options-nosniff': 0,
    'x-content-type-options-not-implemented': -5,
    'x-content-type-options-header-invalid': -5,
    # x-frame-options
    'x-frame-options-implemented-via-csp': 5,
    'x-frame-options-allow-from-origin': 0,
    'x-frame-options-sameorigin-or-deny': 0,
    'x-frame-options-not-implemented': -20,
    'x-frame-options-header-invalid': -20,
    # referrer-policy
    'referrer-policy-private': 5,
    'referrer-policy-not-implemented': 0,
    'referrer-policy-unsafe': -5,
    'referrer-policy-header-invalid': -5,
    # cross-origin-resource-policy
    'corp-implemented-with-same-origin': 10,
    'corp-implemented-with-same-site': 10,
    'corp-implemented-with-cross-origin': 0,
    'corp-not-implemented': 0,
    'corp-header-invalid': -5,
    # cookies
    'cookies-secure-with-httponly-sessions-and-samesite': 5,
    'cookies-not-found': 0,
    'cookies-secure-with-httponly-sessions': 0,
    'cookies-without-secure-flag-but-protected-by-hsts': -5,
    'cookies-session-without-secure-flag-but-protected-by-hsts': -10,
    'cookies-without-secure-flag': -20,
    'cookies-samesite-flag-invalid': -20,
    'cookies-anticsrf-without-samesite-flag': -20,
    'cookies-session-without-httponly-flag': -30,
    'cookies-session-without-secure-flag': -40,
    # cross-origin-resource-sharing
    'cross-origin-resource-sharing-not-implemented': 0,
    'cross-origin-resource-sharing-implemented-with-public-access': 0,
    'cross-origin-resource-sharing-implemented-with-restricted-access': 0,
    'cross-origin-resource-sharing-implemented-with-universal-access': -50,
    # redirection
    'redirection-to-https': 0,
    'redirection-not-needed-no-http': 0,
    'redirection-off-host-from-http': -5,
    'redirection-not-to-https-on-initial-redirection': -10,
    'redirection-missing': -20,
    'redirection-not-to-https': -20,
    'redirection-invalid-cert': -20,
}

# The Origin sent with a security_headers request, to detect reflected CORS.
PROBE_ORIGIN = 'https://observatory-probe.invalid'
HSTS_MIN_MAX_AGE = 31536000
OBSERVATORY_SIX_MONTHS = 15552000
BROAD_SOURCES = frozenset(['ftp:', 'http:', 'https:', '*', 'http://*', 'http://*.*', 'https://*', 'https://*.*'])
UNSAFE_INLINE_SOURCES = frozenset(["'unsafe-inline'", 'data:'])
NONCE_HASH_PREFIXES = ("'sha256-", "'sha384-", "'sha512-", "'nonce-")
PRIVATE_REFERRER = ('no-referrer', 'same-origin', 'strict-origin', 'strict-origin-when-cross-origin')
UNSAFE_REFERRER = ('origin', 'origin-when-cross-origin', 'unsafe-url', 'no-referrer-when-downgrade')


class CspInvalid(ValueError):
    pass


def header_values(headers, name):
    """All values of header ``name`` in a list of (name, value) pairs."""
    name = name.lower()
    return [v for k, v in headers if k.lower() == name]


def first_header(headers, name):
    values = header_values(headers, name)
    return values[0] if values else None


# ---------------------------------------------------------------- CSP


def parse_csp(values):
    """Parse Content-Security-Policy header values into {directive: set(sources)}.

    Several policies (several headers, or one header with commas) all apply,
    so a directive present in more than one keeps the intersection of sources.
    Returns None when there is no policy; raises CspInvalid when unparseable.
    """
    policies = []
    for value in values:
        for policy in value.split(','):
            if policy.strip():
                policies.append(policy)
    if not policies:
        return None
    merged = {}
    for policy in policies:
        seen = {}
        for directive in policy.split(';'):
            tokens = directive.strip().split()
            if not tokens:
                continue
            name = tokens[0].lower()
            if not re.match(r'^[a-z][a-z0-9-]*$', name):
                raise CspInvalid('invalid directive name')
            if name in seen:
                continue  # the first occurrence wins
            sources = set()
            for token in tokens[1:]:
                low = token.lower()
                if low.startswith(("'nonce-", "'sha")):
                    sources.add(low[:low.index('-') + 1] + token[low.index('-') + 1:])
                else:
                    sources.add(low)
            seen[name] = sources
        for name, sources in seen.items():
            merged[name] = merged[name] & sources if name in merged else set(sources)
    if not merged:
        raise CspInvalid('no directive')
    return merged


def _has_nonce_or_hash(sources):
    return any(s.startswith(NONCE_HASH_PREFIXES) for s in sources)


def csp_test(headers, https=True):
    """Return (result, policy, facts) for the CSP of a response."""
    try:
        csp = parse_csp(header_values(headers, 'content-security-policy'))
    except CspInvalid:
        return 'csp-header-invalid', None, {}
    if csp is None:
        return 'csp-not-implemented', None, {}
    default = csp.get('default-src')
    script_src = set(csp.get('script-src') or default or {'*'})
    object_src = set(csp.get('object-src') or default or {'*'})
    style_src = set(csp.get('style-src') or default or {'*'})
    for sources in (script_src, style_src):
        if _has_nonce_or_hash(sources):
            sources.discard("'unsafe-inline'")
    if "'strict-dynamic'" in script_src:
        if not _has_nonce_or_hash(script_src):
            return 'csp-header-invalid', csp, {}
        for s in list(script_src):
            if s in ("'self'", "'unsafe-inline'") or any(s.startswith(b) for b in BROAD_SOURCES):
                script_src.discard(s)

    passive = ('img-src', 'media-src')
    active_sources = set(script_src)
    for name, sources in csp.items():
        if name not in passive and name != 'script-src':
            active_sources |= sources
    passive_sources = set()
    for name in passive:
        passive_sources |= set(csp.get(name) or default or set())

    facts = {
        'script_unsafe_inline': bool(script_src & (BROAD_SOURCES | UNSAFE_INLINE_SOURCES)),
        'object_broad': bool(object_src & BROAD_SOURCES),
        'unsafe_eval': "'unsafe-eval'" in (script_src | style_src),
        'script_unsafe_eval': "'unsafe-eval'" in script_src,
        'insecure_active': https and any(s.startswith(('http:', 'ftp:')) for s in active_sources),
        'insecure_passive': https and any(s.startswith(('http:', 'ftp:')) for s in passive_sources),
        'style_unsafe': bool(style_src & (BROAD_SOURCES | UNSAFE_INLINE_SOURCES)),
        'default_none': default == {"'none'"},
    }
    frame_ancestors = csp.get('frame-ancestors')
    facts['frame_ancestors'] = frame_ancestors is not None
    facts['frame_ancestors_restrictive'] = frame_ancestors is not None and not (frame_ancestors & BROAD_SOURCES)

    if facts['script_unsafe_inline'] or facts['object_broad']:
        result = 'csp-implemented-with-unsafe-inline'
    elif facts['insecure_active']:
        result = 'csp-implemented-with-insecure-scheme'
    elif facts['unsafe_eval']:
        result = 'csp-implemented-with-unsafe-eval'
    elif facts['insecure_passive']:
        result = 'csp-implemented-with-insecure-scheme-in-passive-content-only'
    elif facts['style_unsafe']:
        result = 'csp-implemented-with-unsafe-inline-in-style-src-only'
    elif facts['default_none']:
        result = 'csp-implemented-with-no-unsafe-default-src-none'
    else:
        result = 'csp-implemented-with-no-unsafe'
    return result, csp, facts


# ---------------------------------------------------------------- HSTS


def parse_hsts(value):
    """Return (max_age, include_subdomains, preload); raises ValueError when invalid."""
    if value is None:
        raise ValueError('missing')
    if ',' in value:
        raise ValueError('set more than once')
    max_age = None
    include = preload = False
    for part in value.split(';'):
        part = part.strip().lower()
        if part.startswith('max-age='):
            raw = part[len('max-age='):].strip().strip('"')
            if not raw.isdigit():
                raise ValueError('max-age not a number')
            max_age = int(raw)
        elif part == 'includesubdomains':
            include = True
        elif part == 'preload':
            preload = True
    if max_age is None:
        raise ValueError('max-age missing')
    return max_age, include, preload


def hsts_test(headers, https=True, verified=True):
    value = first_header(headers, 'strict-transport-security')
    info = {'max_age': None, 'include_subdomains': False, 'preload': False}
    if not https:
        return 'hsts-not-implemented-no-https', info
    if not verified:
        return 'hsts-invalid-cert', info
    if value is None:
        return 'hsts-not-implemented', info
    try:
        max_age, include, preload = parse_hsts(value)
    except ValueError:
        return 'hsts-header-invalid', info
    info.update(max_age=max_age, include_subdomains=include, preload=preload)
    if max_age < OBSERVATORY_SIX_MONTHS:
        return 'hsts-implemented-max-age-less-than-six-months', info
    return 'hsts-implemented-max-age-at-least-six-months', info


# ---------------------------------------------------------------- others


def xcto_test(headers):
    value = first_header(headers, 'x-content-type-options')
    if value is None:
        return 'x-content-type-options-not-implemented'
    if value.strip().lower() == 'nosniff':
        return 'x-content-type-options-nosniff'
    return 'x-content-type-options-header-invalid'


def xfo_test(headers, csp_facts):
    value = first_header(headers, 'x-frame-options')
    if csp_facts.get('frame_ancestors'):
        return 'x-frame-options-implemented-via-csp'
    if value is None:
        return 'x-frame-options-not-implemented'
    low = value.strip().lower()
    if low in ('deny', 'sameorigin'):
        return 'x-frame-options-sameorigin-or-deny'
    if low.startswith('allow-from'):
        return 'x-frame-options-allow-from-origin'
    return 'x-frame-options-header-invalid'


def referrer_test(headers):
    values = header_values(headers, 'referrer-policy')
    if not values:
        return 'referrer-policy-not-implemented', None
    tokens = [t.strip().lower() for t in ','.join(values).split(',')]
    valid = [t for t in tokens if t in PRIVATE_REFERRER + UNSAFE_REFERRER]
    if not valid:
        return 'referrer-policy-header-invalid', None
    policy = valid[-1]  # the last valid token wins
    if policy in PRIVATE_REFERRER:
        return 'referrer-policy-private', policy
    return 'referrer-policy-unsafe', policy


def corp_test(headers):
    value = first_header(headers, 'cross-origin-resource-policy')
    if value is None:
        return 'corp-not-implemented'
    low = value.strip().lower()
    return {
        'same-origin': 'corp-implemented-with-same-origin',
        'same-site': 'corp-implemented-with-same-site',
        'cross-origin': 'corp-implemented-with-cross-origin',
    }.get(low, 'corp-header-invalid')


def parse_set_cookie(value):
    parts = value.split(';')
    name = parts[0].split('=', 1)[0].strip()
    attrs = {}
    for part in parts[1:]:
        if '=' in part:
            k, v = part.split('=', 1)
            attrs[k.strip().lower()] = v.strip()
        elif part.strip():
            attrs[part.strip().lower()] = True
    return name, attrs


# cookie results, from best to worst (a worse one replaces a better one)
_COOKIE_BADNESS = (
    'cookies-without-secure-flag-but-protected-by-hsts',
    'cookies-without-secure-flag',
    'cookies-session-without-secure-flag-but-protected-by-hsts',
    'cookies-samesite-flag-invalid',
    'cookies-anticsrf-without-samesite-flag',
    'cookies-session-without-httponly-flag',
    'cookies-session-without-secure-flag',
)


def _worse(new, current):
    if current is None or _COOKIE_BADNESS.index(new) > _COOKIE_BADNESS.index(current):
        return new
    return current


def cookies_test(headers, hsts_ok):
    cookies = [parse_set_cookie(v) for v in header_values(headers, 'set-cookie')]
    cookies = [(n, a) for n, a in cookies if n]
    if not cookies:
        return 'cookies-not-found', []
    result = None
    missing_samesite = False
    names = []
    for name, attrs in cookies:
        names.append(name)
        low = name.lower()
        session = 'login' in low or 'sess' in low
        anticsrf = 'csrf' in low
        secure = 'secure' in attrs
        samesite = attrs.get('samesite')
        if samesite is True or (samesite is not None and str(samesite).lower() not in ('lax', 'strict', 'none')):
            result = _worse('cookies-samesite-flag-invalid', result)
        if not secure and isinstance(samesite, str) and samesite.lower() == 'none':
            result = _worse('cookies-samesite-flag-invalid', result)
        if not secure:
            result = _worse('cookies-without-secure-flag-but-protected-by-hsts' if hsts_ok
                            else 'cookies-without-secure-flag', result)
        if anticsrf and not samesite:
            result = _worse('cookies-anticsrf-without-samesite-flag', result)
        if session and not secure:
            result = _worse('cookies-session-without-secure-flag-but-protected-by-hsts' if hsts_ok
                            else 'cookies-session-without-secure-flag', result)
        if session and 'httponly' not in attrs:
            result = _worse('cookies-session-without-httponly-flag', result)
        if not samesite:
            missing_samesite = True
    if result is None:
        result = ('cookies-secure-with-httponly-sessions' if missing_samesite
                  else 'cookies-secure-with-httponly-sessions-and-samesite')
    return result, names


def cors_test(headers):
    acao = first_header(headers, 'access-control-allow-origin')
    if acao is None:
        return 'cross-origin-resource-sharing-not-implemented'
    acao = acao.strip()
    credentials = (first_header(headers, 'access-control-allow-credentials') or '').strip().lower() == 'true'
    if acao == '*':
        return 'cross-origin-resource-sharing-implemented-with-public-access'
    if acao == PROBE_ORIGIN and credentials:
        return 'cross-origin-resource-sharing-implemented-with-universal-access'
    return 'cross-origin-resource-sharing-implemented-with-restricted-access'


def redirection_test(redirect):
    """``redirect``: dict from the http:// probe (status, location, same_host, final_https)."""
    if redirect.get('no_http'):
        return 'redirection-not-needed-no-http'
    if redirect.get('invalid_cert'):
        return 'redirection-invalid-cert'
    location = redirect.get('location')
    if not location:
        return 'redirection-missing'
    if not location.lower().startswith('https://'):
        return ('redirection-not-to-https-on-initial-redirection' if redirect.get('final_https')
                else 'redirection-not-to-https')
    if not redirect.get('same_host'):
        return 'redirection-off-host-from-http'
    return 'redirection-to-https'


def version_leaks(headers):
    leaks = []
    for name in ('server', 'x-powered-by', 'x-aspnet-version', 'x-aspnetmvc-version'):
        for value in header_values(headers, name):
            if re.search(r'\d', value):
                leaks.append(name)
    return leaks


def grade_for(score):
    score = max(score, 0)
    bucket = min(score - score % 5, 100)
    for low, grade in GRADE_CHART:
        if bucket >= low:
            return grade
    return 'F'


def grade_rank(grade):
    """0 for A+, growing as the grade gets worse."""
    return GRADES.index(grade)


def score_results(results):
    """Observatory rule: penalties first; bonuses only if still >= 90."""
    uncurved = 100 + sum(MODIFIERS[r] for r in results if MODIFIERS[r] < 0)
    if uncurved >= MINIMUM_SCORE_FOR_EXTRA_CREDIT:
        score = 100 + sum(MODIFIERS[r] for r in results)
    else:
        score = uncurved
    score = max(score, 0)
    return score, grade_for(score)


def analyze(headers, https=True, verified=True, redirect=None, ignore=(), min_grade=None):
    """Analyze response headers.

    Returns a dict: score, grade, tests ({name: {result, score_modifier}}),
    failures (list of messages against the Divan bar, minus ``ignore``d tests).
    """
    tests = {}
    failures = []

    def fail(test, message):
        if test not in ignore:
            failures.append(message)

    csp_result, csp, facts = csp_test(headers, https=https)
    tests['content-security-policy'] = csp_result
    if csp_result in ('csp-not-implemented', 'csp-header-invalid'):
        fail('content-security-policy',
             'Content-Security-Policy: %s; add one (e.g. "default-src \'self\'; frame-ancestors \'none\'; '
             'object-src \'none\'").' % ('missing' if csp_result == 'csp-not-implemented' else 'cannot be parsed'))
    else:
        if facts.get('script_unsafe_inline'):
            fail('content-security-policy',
                 "Content-Security-Policy: script-src allows 'unsafe-inline' (or data:/a broad source); "
                 'use nonces or hashes.')
        if facts.get('script_unsafe_eval'):
            fail('content-security-policy', "Content-Security-Policy: script-src allows 'unsafe-eval'; remove it.")
        if facts.get('insecure_active'):
            fail('content-security-policy', 'Content-Security-Policy: allows http: sources; use https only.')

    hsts_result, hsts_info = hsts_test(headers, https=https, verified=verified)
    tests['strict-transport-security'] = hsts_result
    if hsts_result == 'hsts-not-implemented':
        fail('strict-transport-security',
             'Strict-Transport-Security: missing; set "max-age=31536000; includeSubDomains".')
    elif hsts_result == 'hsts-header-invalid':
        fail('strict-transport-security', 'Strict-Transport-Security: cannot be parsed; set "max-age=31536000; '
             'includeSubDomains".')
    elif hsts_result in ('hsts-not-implemented-no-https', 'hsts-invalid-cert'):
        fail('strict-transport-security', 'Strict-Transport-Security: only counts over https with a valid '
             'certificate.')
    else:
        max_age = int(hsts_info['max_age'] or 0)
        if max_age < HSTS_MIN_MAX_AGE:
            fail('strict-transport-security', 'Strict-Transport-Security: max-age=%d is below %d; raise it.'
                 % (max_age, HSTS_MIN_MAX_AGE))
        if not hsts_info['include_subdomains']:
            fail('strict-transport-security', 'Strict-Transport-Security: includeSubDomains missing; add it.')

    xcto = xcto_test(headers)
    tests['x-content-type-options'] = xcto
    if xcto != 'x-content-type-options-nosniff':
        fail('x-content-type-options', 'X-Content-Type-Options: not "nosniff"; set it to nosniff.')

    xfo = xfo_test(headers, facts)
    tests['x-frame-options'] = xfo
    xfo_value = (first_header(headers, 'x-frame-options') or '').strip().lower()
    if not (xfo_value in ('deny', 'sameorigin') or facts.get('frame_ancestors_restrictive')):
        fail('x-frame-options', "X-Frame-Options: framing is not denied; set X-Frame-Options: DENY (or SAMEORIGIN) "
             "or CSP frame-ancestors 'none'.")

    referrer, policy = referrer_test(headers)
    tests['referrer-policy'] = referrer
    if referrer != 'referrer-policy-private':
        fail('referrer-policy', 'Referrer-Policy: %s; set it to strict-origin-when-cross-origin (or no-referrer, '
             'same-origin, strict-origin).' % ('missing' if referrer == 'referrer-policy-not-implemented'
                                               else 'unsafe or invalid'))

    tests['cross-origin-resource-policy'] = corp_test(headers)

    hsts_ok = hsts_result == 'hsts-implemented-max-age-at-least-six-months'
    cookie_result, cookie_names = cookies_test(headers, hsts_ok)
    tests['cookies'] = cookie_result
    if MODIFIERS[cookie_result] < 0:
        fail('cookies', 'Set-Cookie: %s; use Secure, HttpOnly for session cookies, and SameSite=Lax or Strict.'
             % cookie_result)

    cors = cors_test(headers)
    tests['cross-origin-resource-sharing'] = cors
    if MODIFIERS[cors] < 0:
        fail('cross-origin-resource-sharing', 'Access-Control-Allow-Origin: reflects any origin with credentials; '
             'allow only the platform origins.')

    if redirect is not None:
        tests['redirection'] = redirection_test(redirect)

    for name in version_leaks(headers):
        fail('server-version', '%s: reveals a version; strip it at the proxy.' % name)

    score, grade = score_results(tests.values())
    if min_grade and grade_rank(grade) > grade_rank(min_grade):
        fail('grade', 'security headers grade %s (score %d) is below %s.' % (grade, score, min_grade))
    return {
        'score': score,
        'grade': grade,
        'tests': dict((name, {'result': r, 'score_modifier': MODIFIERS[r]}) for name, r in tests.items()),
        'hsts': hsts_info,
        'referrer_policy': policy,
        'cookies': cookie_names,
        'failures': failures,
    }
