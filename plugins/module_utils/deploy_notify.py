# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Divan platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deploy notifications to a Slack-compatible incoming webhook (standard library only).

``build_message`` makes the payload: ``text``, one line a person reads on a
phone, and ``divan``, the same facts machine-readable for a generic receiver.
``redact`` takes secrets out of free text (a failure message may carry
anything). ``send`` POSTs the payload; its errors never name more of the URL
than ``scheme://host[:port]`` (a Slack webhook URL carries its secret in the
path).
"""

import json
import re

try:
    from urllib.parse import quote, urlsplit
except ImportError:  # pragma: no cover
    from urllib import quote  # type: ignore
    from urlparse import urlsplit  # type: ignore

from ansible_collections.divan.platform.plugins.module_utils.http_probe import http_request
from ansible_collections.divan.platform.plugins.module_utils.net import describe_error, split_url

# event -> (emoji shortcode, wording); {deploy} is "deploy of 1.1.0" (or "deploy"), {to} " to 1.0.0" (or ""),
# {by} " by alice" (or "")
EVENTS = {
    'start': (':rocket:', '{deploy} started{by}'),
    'success': (':white_check_mark:', '{deploy}{by} succeeded'),
    'failure': (':x:', '{deploy}{by} failed'),
    'rollback': (':rewind:', 'rolled back{to}{by}'),
    'rollback_failure': (':rotating_light:', 'rollback{to}{by} failed'),
}
EVENT_NAMES = ('start', 'success', 'failure', 'rollback', 'rollback_failure')
# "in 2m 05s" for what finished, "after 40s" for what failed
FAILED_EVENTS = ('failure', 'rollback_failure')

REDACTED = '***'
MAX_HOSTS_SHOWN = 5
MAX_TEXT_DETAIL = 200
MAX_DETAIL = 2000
MAX_BODY = 200
USER_AGENT = 'divan.platform-deploy_notify'

# Authorization-style credentials: "Bearer abc.def", "Basic dXNlcjpwYXNz"
_AUTH_SCHEME_RE = re.compile(r'\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]+', re.I)
# scheme://user:password@host -> scheme://***@host
_USERINFO_RE = re.compile(r'\b([a-z][a-z0-9+.-]*://)[^\s/?#@]+@', re.I)
# a Slack webhook URL carries its secret in the path
_SLACK_HOOK_RE = re.compile(r'(hooks\.slack(?:-gov)?\.com/(?:services|workflows|triggers)/)[^\s\'"<>]+', re.I)
# name=value, name: value, "name": "value" with a secret-looking name
_SECRET_NAME = (r'[A-Za-z0-9_.-]*(?:passw(?:or)?d|passwd|pwd|secret|token|pepper|private[_-]?key|credential|'
                r'api[_-]?key|access[_-]?key|authorization|dsn|webhook|signature|session[_-]?id)[A-Za-z0-9_.-]*')
_ASSIGNMENT_RE = re.compile(
    r'(?P<name>\b' + _SECRET_NAME + r')(?P<sep>["\']?\s*[=:]\s*)'
    r'(?!\*\*\*)(?!(?:Bearer|Basic|Token)\s)'
    r'(?P<value>"[^"]*"|\'[^\']*\'|[^\s&,;\'"]+)', re.I)


class NotifyError(Exception):
    """A notification that could not be sent; the message names only scheme://host[:port]."""

    def __init__(self, message, status=None, kind='http'):
        super(NotifyError, self).__init__(message)
        self.status = status
        self.kind = kind


# ---------------------------------------------------------------- redaction


def _secret_forms(secrets):
    forms = set()
    for secret in secrets or ():
        if secret is None or isinstance(secret, bool):
            continue
        secret = str(secret)
        if not secret.strip():
            continue
        forms.add(secret)
        forms.add(quote(secret, safe=''))  # as it appears in a URL
        forms.add(json.dumps(secret)[1:-1])  # as it appears in a JSON string
    # longest first, so that a secret containing another one goes as a whole
    return sorted(forms, key=len, reverse=True)


def redact(text, secrets=None):
    """``text`` with the given secret strings and credential-looking parts replaced by ``***``.

    Credential-looking: ``Bearer ...``/``Basic ...``, ``scheme://user:pass@``,
    ``name=value`` (or ``name: value``) where the name says password, secret,
    token, key, DSN, webhook..., and Slack webhook URL paths.
    """
    if text is None:
        return None
    text = str(text)
    for secret in _secret_forms(secrets):
        text = text.replace(secret, REDACTED)
    text = _USERINFO_RE.sub(lambda m: m.group(1) + REDACTED + '@', text)
    text = _SLACK_HOOK_RE.sub(lambda m: m.group(1) + REDACTED, text)
    text = _AUTH_SCHEME_RE.sub(lambda m: m.group(1) + ' ' + REDACTED, text)
    text = _ASSIGNMENT_RE.sub(lambda m: m.group('name') + m.group('sep') + REDACTED, text)
    return text


# ---------------------------------------------------------------- message


def format_hosts(hosts, limit=MAX_HOSTS_SHOWN):
    """``app1, app2`` or ``app1, app2, app3, app4, app5 and 3 more`` (duplicates and blanks dropped)."""
    if hosts is None:
        return ''
    if isinstance(hosts, str):
        hosts = re.split(r'[\s,]+', hosts)
    names = []
    for host in hosts:
        name = str(host).strip() if host is not None else ''
        if name and name not in names:
            names.append(name)
    if len(names) <= limit:
        return ', '.join(names)
    return '%s and %d more' % (', '.join(names[:limit]), len(names) - limit)


def format_duration(seconds):
    """``45s``, ``2m 05s``, ``1h 02m``."""
    total = int(round(float(seconds)))
    if total < 60:
        return '%ds' % total
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return '%dm %02ds' % (minutes, secs)
    hours, minutes = divmod(minutes, 60)
    return '%dh %02dm' % (hours, minutes)


def _one_line(text, limit):
    text = ' '.join(text.split())
    return text if len(text) <= limit else text[:limit - 3].rstrip() + '...'


def _slack_escape(text):
    """Slack's three control characters (so that a detail cannot make an @channel or a link)."""
    return text.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')


def _clean(value, secrets):
    if value is None:
        return None
    value = redact(str(value).strip(), secrets)
    return value or None


def build_message(event, site, version=None, previous_version=None, hosts=None, deployed_by=None, playbook=None,
                  duration=None, detail=None, secrets=None):
    """The webhook payload: ``{'text': one line, 'divan': the machine-readable fields}``.

    ``version`` is the release deployed (for a rollback: the one returned to),
    ``previous_version`` the one it replaces. ``detail`` (and every other
    field) goes through ``redact`` with ``secrets``. Raises ValueError for an
    unknown event, an empty site or a negative duration.
    """
    if event not in EVENTS:
        raise ValueError('unknown deploy notification event %r: use one of %s' % (event, ', '.join(EVENT_NAMES)))
    site = _clean(site, secrets)
    if not site:
        raise ValueError('a deploy notification needs the site (for example the domain, divan_domain)')
    if duration is not None:
        try:
            duration = float(duration)
        except (TypeError, ValueError):
            raise ValueError('duration must be a number of seconds, got %r' % (duration,))
        if duration < 0:
            raise ValueError('duration must be a number of seconds >= 0, got %s' % duration)
    version = _clean(version, secrets)
    previous_version = _clean(previous_version, secrets)
    deployed_by = _clean(deployed_by, secrets)
    playbook = _clean(playbook, secrets)
    host_list = None
    if hosts is not None:
        if isinstance(hosts, str):
            hosts = re.split(r'[\s,]+', hosts)
        host_list = []
        for name in (_clean(h, secrets) for h in hosts):
            if name and name not in host_list:
                host_list.append(name)
    if detail is not None:
        detail = _clean(detail, secrets)
        if detail and len(detail) > MAX_DETAIL:
            detail = detail[:MAX_DETAIL - 3] + '...'

    emoji, wording = EVENTS[event]
    phrase = wording.format(deploy='deploy of %s' % version if version else 'deploy',
                            to=' to %s' % version if version else '',
                            by=' by %s' % deployed_by if deployed_by else '')
    text = '%s %s: %s' % (emoji, site, phrase)
    if previous_version and previous_version != version:
        text += ' (from %s)' % previous_version
    shown = format_hosts(host_list)
    if shown:
        text += ' on %s' % shown
    if duration is not None and event != 'start':
        text += ' %s %s' % ('after' if event in FAILED_EVENTS else 'in', format_duration(duration))
    if detail:
        text += ': %s' % _one_line(detail, MAX_TEXT_DETAIL)
    return {
        'text': _slack_escape(_one_line(text, 1000)),
        'divan': {
            'event': event,
            'site': site,
            'version': version,
            'previous_version': previous_version,
            'hosts': host_list,
            'deployed_by': deployed_by,
            'playbook': playbook,
            'duration_seconds': duration,
            'detail': detail,
        },
    }


# ---------------------------------------------------------------- sending


def url_origin(url):
    """``scheme://host[:port]`` of a URL (no user info, path, query or fragment): what errors may show."""
    try:
        parts = urlsplit(url or '')
        host = parts.hostname or ''
        port = parts.port
    except ValueError:
        return '(an unparsable URL)'
    if not parts.scheme or not host:
        return '(a URL without scheme or host)'
    if ':' in host:
        host = '[%s]' % host
    return '%s://%s%s' % (parts.scheme.lower(), host, ':%d' % port if port else '')


def url_secret_parts(url):
    """The URL and its secret-bearing parts: path, query, user info, its last path segment and long segments.

    Short ordinary segments (``services``, ``hooks``) are left out: redacting them would mangle words.
    """
    pieces = [url]
    try:
        parts = urlsplit(url or '')
    except ValueError:
        return [p for p in pieces if p]
    segments = [seg for seg in (parts.path or '').split('/') if seg]
    pieces += [parts.path, parts.query, parts.fragment, parts.username, parts.password]
    if segments and len(segments[-1]) >= 8:
        pieces.append(segments[-1])
    pieces += [seg for seg in segments if len(seg) >= 16]
    return [p for p in pieces if p and p != '/']


def _scrub(text, url):
    """Remove every secret-bearing part of ``url`` from ``text`` (defence in depth); the URL becomes its origin."""
    if url and text:
        text = text.replace(url, url_origin(url))
    return redact(text, url_secret_parts(url)[1:])


_STATUS_HINTS = {
    400: 'the webhook refused the message (invalid payload)',
    401: 'the webhook URL is wrong, revoked or needs other credentials: check SLACK_WEBHOOK_URL',
    403: 'the webhook URL is wrong, revoked or needs other credentials: check SLACK_WEBHOOK_URL',
    404: 'the webhook URL is wrong or was removed: check SLACK_WEBHOOK_URL',
    410: 'the webhook was removed (channel archived or app uninstalled): make a new one',
    429: 'rate limited by the webhook: too many messages',
}


def _post(url, body, headers, timeout, ca_path, validate_certs):
    """(status, body bytes) of one POST; the default opener of ``send`` (tests replace it)."""
    resp = http_request(url, method='POST', headers=headers, body=body, timeout=timeout, ca_path=ca_path,
                        validate_certs=validate_certs, max_body=4096)
    return resp.status, resp.body


def send(url, payload, timeout=10.0, ca_path=None, validate_certs=True, opener=None):
    """POST ``payload`` as JSON to ``url``; returns ``{'status': int, 'body': first 200 characters}``.

    Raises NotifyError for a bad URL, a network or TLS error or a non-2xx
    answer; its message names the webhook as ``scheme://host[:port]`` only.
    """
    origin = url_origin(url)
    if not url:
        raise NotifyError('no webhook URL: set url (for example to the SLACK_WEBHOOK_URL of the platform env)',
                          kind='config')
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        scheme = ''
    if scheme not in ('http', 'https'):
        raise NotifyError('webhook URL %s: use an http:// or https:// URL' % origin, kind='config')
    try:
        split_url(url)
    except ValueError as exc:
        raise NotifyError('webhook URL %s is not usable: %s' % (origin, _scrub(str(exc), url)), kind='config')
    data = json.dumps(payload, sort_keys=True).encode('utf-8')
    headers = {'Content-Type': 'application/json; charset=utf-8', 'User-Agent': USER_AGENT, 'Accept': '*/*'}
    try:
        status, raw = (opener or _post)(url, data, headers, timeout, ca_path, validate_certs)
    except Exception as exc:  # pylint: disable=broad-except  # any network error is reported, never a traceback
        kind, text = describe_error(exc)
        raise NotifyError('cannot send to the webhook %s: %s' % (origin, _scrub(text, url)), kind=kind)
    if isinstance(raw, bytes):
        raw = raw.decode('utf-8', 'replace')
    body = _scrub((raw or '')[:MAX_BODY], url)
    if not 200 <= int(status) < 300:
        hint = _STATUS_HINTS.get(int(status)) or ('the webhook server failed' if int(status) >= 500
                                                  else 'the webhook did not accept the message')
        answer = _one_line(body, 120)
        text = 'webhook %s answered HTTP %d%s; %s' % (origin, int(status), ' (%s)' % answer if answer else '', hint)
        raise NotifyError(text, status=int(status), kind='http')
    return {'status': int(status), 'body': body}
