# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Divan platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rules that a Divan production environment (the backend's .env) must satisfy.

Plain functions, no Ansible imports: the env_check module wraps them and the
unit tests call them directly.

Nothing here ever puts a variable's *value* into a finding, a message or an
exception: findings name the key, the rule and what to change.

Entropy estimator (``estimate_entropy_bits``), in bits, for a value ``v`` of
length ``n``:

* charset estimate: ``n * log2(C)`` where ``C`` is the size of the smallest
  alphabet that covers ``v``: 16 when every character is a hex digit of one
  case, otherwise the sum of the classes present (lower 26, upper 26,
  digits 10, other printable ASCII 33, anything else 100);
* Shannon estimate: ``n * H`` where ``H = -sum(p * log2 p)`` over the observed
  character frequencies of ``v``;
* the estimate is the smaller of the two.  A 64-hex-digit value from
  ``openssl rand -hex 32`` scores about 240 bits; ``aaaa...`` scores 0;
  ``abcabc...`` is caught separately as a repeated pattern.
"""

import math
import re

try:  # Python 3
    from urllib.parse import urlsplit
except ImportError:  # pragma: no cover
    from urlparse import urlsplit  # type: ignore

ERROR = 'error'
WARNING = 'warning'

# The secrets of the Divan contract (.env.production.example).
DEFAULT_SECRET_KEYS = (
    'SECRET_KEY',
    'SERVICE_SIGNING_KEY',
    'REFRESH_PEPPER',
    'OBS_ADMIN_TOKEN',
    'POSTGRES_PASSWORD',
    'REDIS_PASSWORD',
    'SMTP_PASSWORD',
    'S3_SECRET_KEY',
)
# Secrets that the platform always needs; the others are required by their
# feature (SMTP_PASSWORD with SMTP_USER, S3_SECRET_KEY with uploads to S3).
ALWAYS_REQUIRED_SECRETS = (
    'SECRET_KEY',
    'SERVICE_SIGNING_KEY',
    'REFRESH_PEPPER',
    'OBS_ADMIN_TOKEN',
    'POSTGRES_PASSWORD',
    'REDIS_PASSWORD',
)
DEFAULT_REQUIRED_KEYS = ('DOMAIN', 'ENVIRONMENT', 'POSTGRES_DB', 'POSTGRES_USER')
S3_KEYS = ('S3_BUCKET_NAME', 'S3_REGION', 'S3_ACCESS_KEY', 'S3_SECRET_KEY')

DEFAULT_MIN_LENGTH = 32
DEFAULT_MIN_ENTROPY_BITS = 128.0

# Values shipped in the platform's .env.production.example.
SHIPPED_PLACEHOLDERS = (
    'CHANGE_ME_USE_STRONG_PASSWORD',
    'CHANGE_ME_GENERATE_WITH_OPENSSL',
    'CHANGE_ME',
)
# A value that contains one of these (case-insensitive) is a placeholder.
PLACEHOLDER_FRAGMENTS = (
    'change_me', 'changeme', 'change-me', 'replace_me', 'replaceme',
    'replace-me', 'example', 'placeholder', 'your_', 'your-', 'generate_with',
    'xxxxxx',
)
# A value that is one of these words (case-insensitive, digits and
# punctuation around it ignored) is a placeholder.
PLACEHOLDER_WORDS = (
    'secret', 'password', 'passwd', 'changeme', 'change', 'default', 'test',
    'testing', 'admin', 'root', 'token', 'key', 'none', 'null', 'todo', 'fixme',
    'dev', 'development', 'local', 'insecure', 'qwerty', 'letmein',
)

TRUE_WORDS = ('true', '1', 'yes', 'on')
FALSE_WORDS = ('false', '0', 'no', 'off')
LOCAL_HOSTS = ('localhost', '127.0.0.1', '::1', '0.0.0.0', 'mailhog', 'mailpit',
               'maildev', 'host.docker.internal')
DEV_SMTP_PORTS = ('1025',)
SENTRY_DSN_KEYS = ('SENTRY_DSN', 'NEXT_PUBLIC_SENTRY_DSN')

GENERATE_HINT = 'generate one with `openssl rand -hex 32`'
_KEY_RE = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')


class EnvParseError(ValueError):
    """An env file line that cannot be parsed (the message names the line, not its value)."""


def finding(key, rule, message, severity=ERROR):
    return {'key': key, 'rule': rule, 'severity': severity, 'message': message}


# ---------------------------------------------------------------- parsing


def _unquote(raw, lineno):
    raw = raw.strip()
    if not raw:
        return ''
    if raw[0] in ('"', "'"):
        quote = raw[0]
        end = raw.find(quote, 1)
        while quote == '"' and end > 0 and raw[end - 1] == '\\':
            end = raw.find(quote, end + 1)
        if end < 0:
            raise EnvParseError('line %d: unterminated quoted value' % lineno)
        value = raw[1:end]
        rest = raw[end + 1:].strip()
        if rest and not rest.startswith('#'):
            raise EnvParseError('line %d: unexpected characters after the closing quote' % lineno)
        if quote == '"':
            value = (value.replace('\\n', '\n').replace('\\"', '"')
                     .replace('\\\\', '\\'))
        return value
    # unquoted: an inline comment starts at " #"
    m = re.search(r'\s+#', raw)
    if m:
        raw = raw[:m.start()]
    return raw.strip()


def parse_env_text(text):
    """Parse docker-compose style env text.

    Returns ``(env, duplicates)`` where ``env`` maps key to value (the last
    assignment wins) and ``duplicates`` lists keys assigned more than once.
    Accepts ``KEY=value``, ``export KEY=value``, single or double quotes,
    blank lines and ``#`` comments.
    """
    env = {}
    duplicates = []
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith('#'):
            continue
        if stripped.startswith('export '):
            stripped = stripped[len('export '):].lstrip()
        if '=' not in stripped:
            raise EnvParseError('line %d: expected KEY=VALUE' % lineno)
        key, raw = stripped.split('=', 1)
        key = key.strip()
        if not _KEY_RE.match(key):
            raise EnvParseError('line %d: invalid variable name' % lineno)
        if key in env and key not in duplicates:
            duplicates.append(key)
        env[key] = _unquote(raw, lineno)
    return env, duplicates


def normalize_env(env):
    """Turn the values of a dict (from YAML: bools, ints, None) into strings."""
    out = {}
    for key, value in (env or {}).items():
        if value is None:
            out[str(key)] = ''
        elif isinstance(value, bool):
            out[str(key)] = 'true' if value else 'false'
        else:
            out[str(key)] = str(value)
    return out


# ---------------------------------------------------------------- secrets


def charset_size(value):
    """Size of the smallest alphabet covering ``value`` (see module docstring)."""
    if not value:
        return 0
    if re.match(r'^[0-9a-f]+$', value) or re.match(r'^[0-9A-F]+$', value):
        return 16
    size = 0
    if re.search(r'[a-z]', value):
        size += 26
    if re.search(r'[A-Z]', value):
        size += 26
    if re.search(r'[0-9]', value):
        size += 10
    if re.search(r'[!-/:-@\[-`{-~ ]', value):
        size += 33
    if re.search(r'[^\x20-\x7e]', value):
        size += 100
    return size


def shannon_bits_per_char(value):
    if not value:
        return 0.0
    counts = {}
    for ch in value:
        counts[ch] = counts.get(ch, 0) + 1
    n = float(len(value))
    return -sum((c / n) * math.log(c / n, 2) for c in counts.values())


def estimate_entropy_bits(value):
    """min(length * log2(charset size), length * Shannon entropy per char)."""
    if not value:
        return 0.0
    n = len(value)
    charset_bits = n * math.log(charset_size(value), 2)
    shannon_bits = n * shannon_bits_per_char(value)
    return round(min(charset_bits, shannon_bits), 1)


def repeated_unit(value):
    """Length of the shortest unit that, repeated, makes ``value`` (0 if none)."""
    n = len(value)
    for size in range(1, n // 2 + 1):
        if n % size == 0 and value[:size] * (n // size) == value:
            return size
    return 0


def placeholder_reason(value, extra_placeholders=()):
    """Why ``value`` looks like a placeholder (a description, never the value), or None."""
    if value is None:
        return None
    lower = value.strip().lower()
    if not lower:
        return None
    for shipped in SHIPPED_PLACEHOLDERS:
        if lower == shipped.lower():
            return 'is a placeholder shipped in .env.production.example'
    for extra in extra_placeholders or ():
        extra = str(extra).strip().lower()
        if extra and extra in lower:
            return 'matches a placeholder listed for this inventory'
    for frag in PLACEHOLDER_FRAGMENTS:
        if frag in lower:
            return 'contains a placeholder marker'
    if lower.startswith('<') and lower.endswith('>'):
        return 'is a <placeholder> in angle brackets'
    word = re.sub(r'[^a-z]', '', lower)
    if word in PLACEHOLDER_WORDS:
        return 'is a common placeholder word'
    if len(set(lower)) == 1:
        return 'is a run of one character'
    unit = repeated_unit(lower)
    if unit and unit <= 8:
        return 'is a short pattern repeated'
    return None


def _rule_for(key, overrides, name, default):
    rules = (overrides or {}).get(key) or {}
    value = rules.get(name)
    return default if value is None else value


def check_secret(key, value, min_length=DEFAULT_MIN_LENGTH,
                 min_entropy_bits=DEFAULT_MIN_ENTROPY_BITS, extra_placeholders=()):
    """Findings for one secret value (never containing the value)."""
    if value is None:
        return [finding(key, 'secret_missing', '%s: missing; %s.' % (key, GENERATE_HINT))]
    if value.strip() == '':
        return [finding(key, 'secret_empty', '%s: empty; %s.' % (key, GENERATE_HINT))]
    out = []
    reason = placeholder_reason(value, extra_placeholders)
    if reason:
        out.append(finding(key, 'secret_placeholder',
                           '%s: looks like a placeholder (%s); %s.' % (key, reason, GENERATE_HINT)))
    if value != value.strip():
        out.append(finding(key, 'secret_whitespace',
                           '%s: has leading or trailing whitespace; remove it (it is part of the value).' % key,
                           WARNING))
    if len(value) < min_length:
        out.append(finding(key, 'secret_too_short',
                           '%s: %d characters, at least %d required; %s.'
                           % (key, len(value), min_length, GENERATE_HINT)))
    bits = estimate_entropy_bits(value)
    if not reason and bits < min_entropy_bits:
        out.append(finding(key, 'secret_low_entropy',
                           '%s: about %d bits of estimated entropy, at least %d required; %s.'
                           % (key, int(bits), int(min_entropy_bits), GENERATE_HINT)))
    return out


# ---------------------------------------------------------------- flags


def is_true(value):
    return value is not None and value.strip().lower() in TRUE_WORDS


def _host_on_domain(host, domain):
    host = (host or '').lower().rstrip('.')
    domain = domain.lower().rstrip('.')
    return host == domain or host.endswith('.' + domain)


def _is_local_host(host):
    host = (host or '').lower().strip('[]')
    return host in LOCAL_HOSTS or host.startswith('127.') or host.endswith('.localhost')


def check_cookie_domain(env, domain):
    value = env.get('COOKIE_DOMAIN')
    if not value:
        return [finding('COOKIE_DOMAIN', 'cookie_domain_missing',
                        'COOKIE_DOMAIN: missing; set it to .%s (or %s).' % (domain, domain))]
    if value.strip().lower().lstrip('.') != domain.lower():
        return [finding('COOKIE_DOMAIN', 'cookie_domain_mismatch',
                        'COOKIE_DOMAIN: does not match DOMAIN; set it to .%s (or %s).' % (domain, domain))]
    return []


def check_cors(env, domain):
    key = 'CORS_ALLOW_ORIGINS'
    value = env.get(key)
    if not value or not value.strip():
        return [finding(key, 'cors_missing', '%s: missing; set it to https://%s.' % (key, domain))]
    out = []
    origins = [o.strip() for o in value.split(',')]
    if any(not o for o in origins):
        out.append(finding(key, 'cors_empty_entry',
                           '%s: contains an empty entry; remove the stray comma.' % key, WARNING))
    for index, origin in enumerate(o for o in origins if o):
        pos = index + 1
        if '*' in origin:
            out.append(finding(key, 'cors_wildcard',
                               '%s: entry %d is a wildcard; list the exact origins, e.g. https://%s.'
                               % (key, pos, domain)))
            continue
        parts = urlsplit(origin)
        if parts.scheme != 'https':
            out.append(finding(key, 'cors_not_https',
                               '%s: entry %d is not an https:// origin; use https://%s.' % (key, pos, domain)))
            continue
        try:
            host = parts.hostname
        except ValueError:
            host = None
        if not host:
            out.append(finding(key, 'cors_invalid',
                               '%s: entry %d is not a valid origin; use https://%s.' % (key, pos, domain)))
            continue
        if _is_local_host(host):
            out.append(finding(key, 'cors_localhost',
                               '%s: entry %d points to a local address; remove it.' % (key, pos)))
            continue
        if not _host_on_domain(host, domain):
            out.append(finding(key, 'cors_off_domain',
                               '%s: entry %d is not on %s or its subdomains; remove it or fix DOMAIN.'
                               % (key, pos, domain)))
        if parts.path not in ('',) or parts.query or parts.fragment or parts.username:
            out.append(finding(key, 'cors_not_origin',
                               '%s: entry %d has a path, query or credentials; an origin is only '
                               'scheme://host[:port] (no trailing slash).' % (key, pos)))
    return out


def check_smtp(env):
    out = []
    host = (env.get('SMTP_HOST') or '').strip()
    port = (env.get('SMTP_PORT') or '').strip()
    if not host:
        out.append(finding('SMTP_HOST', 'smtp_missing',
                           'SMTP_HOST: missing; set the host of a real SMTP provider (SES, Postmark, SendGrid...).'))
    elif _is_local_host(host) or port in DEV_SMTP_PORTS:
        out.append(finding('SMTP_HOST', 'smtp_dev_catchall',
                           'SMTP_HOST/SMTP_PORT: point to the development catch-all (local host or port 1025); '
                           'configure a real SMTP provider.'))
    if port and (not port.isdigit() or not 0 < int(port) < 65536):
        out.append(finding('SMTP_PORT', 'smtp_port_invalid', 'SMTP_PORT: not a TCP port number; use 587 or 465.'))
    if host and not (env.get('SMTP_FROM_EMAIL') or '').strip():
        out.append(finding('SMTP_FROM_EMAIL', 'smtp_from_missing',
                           'SMTP_FROM_EMAIL: missing; set the sender address (e.g. no-reply@<DOMAIN>).'))
    tls = env.get('SMTP_TLS')
    if tls is not None and tls.strip() and not is_true(tls) and port != '465':
        out.append(finding('SMTP_TLS', 'smtp_tls_off',
                           'SMTP_TLS: disabled; credentials and mail would travel in clear text, set SMTP_TLS=true.',
                           WARNING))
    return out


def check_sentry_dsn(value, key='SENTRY_DSN'):
    msg = ('%s: not a well-formed DSN; expected https://<public-key>@<host>/<project-id> '
           '(copy it from the Sentry project settings).' % key)
    try:
        parts = urlsplit(value.strip())
        host = parts.hostname
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        return [finding(key, 'sentry_dsn_invalid', msg)]
    if parts.scheme != 'https':
        return [finding(key, 'sentry_dsn_invalid', msg)]
    if not parts.username or not re.match(r'^[A-Za-z0-9]+$', parts.username):
        return [finding(key, 'sentry_dsn_invalid', msg)]
    if not host or not port_ok or '.' not in host and host != 'localhost':
        return [finding(key, 'sentry_dsn_invalid', msg)]
    segments = [s for s in parts.path.split('/') if s]
    if not segments or not segments[-1].isdigit() or parts.query or parts.fragment:
        return [finding(key, 'sentry_dsn_invalid', msg)]
    return []


def check_url_on_domain(key, value, domain, required=True):
    if not value or not value.strip():
        if required:
            return [finding(key, 'url_missing', '%s: missing; set it to https://%s.' % (key, domain))]
        return []
    try:
        parts = urlsplit(value.strip())
        host = parts.hostname
    except ValueError:
        host = None
        parts = None
    if parts is None or parts.scheme != 'https' or not host:
        return [finding(key, 'url_not_https', '%s: not an https:// URL; use https://%s.' % (key, domain))]
    if not _host_on_domain(host, domain):
        return [finding(key, 'url_off_domain', '%s: not on DOMAIN; use https://%s.' % (key, domain))]
    return []


# ---------------------------------------------------------------- the whole env


def check_env(env, secret_keys=(), min_length=DEFAULT_MIN_LENGTH,
              min_entropy_bits=DEFAULT_MIN_ENTROPY_BITS, key_rules=None,
              extra_placeholders=(), required_keys=(), uploads_to_s3=True,
              domain=None, expect_production=True):
    """Check an environment (dict of str -> str) against the Divan contract.

    ``secret_keys`` and ``required_keys`` extend the defaults;
    ``key_rules`` maps a key to ``{'min_length': N, 'min_entropy_bits': N}``.
    Returns a list of findings (dicts with key, rule, severity, message).
    """
    env = normalize_env(env)
    key_rules = key_rules or {}
    out = []

    # required non-secret keys
    for key in _unique(list(DEFAULT_REQUIRED_KEYS) + list(required_keys or ())):
        if not (env.get(key) or '').strip():
            out.append(finding(key, 'required_missing', '%s: missing or empty; set it.' % key))

    # secrets
    secrets = _unique(list(DEFAULT_SECRET_KEYS) + list(secret_keys or ()))
    checked = []
    for key in secrets:
        value = env.get(key)
        required = (key in ALWAYS_REQUIRED_SECRETS or key in (secret_keys or ())
                    or (key == 'SMTP_PASSWORD' and (env.get('SMTP_USER') or '').strip())
                    or (key == 'S3_SECRET_KEY' and uploads_to_s3))
        if value is None and not required:
            continue
        if key == 'S3_SECRET_KEY' and uploads_to_s3 and not (value or '').strip():
            # reported once, by the S3 completeness rule below
            continue
        checked.append(key)
        out.extend(check_secret(
            key, value,
            min_length=_rule_for(key, key_rules, 'min_length', min_length),
            min_entropy_bits=_rule_for(key, key_rules, 'min_entropy_bits', min_entropy_bits),
            extra_placeholders=extra_placeholders))

    # pairwise distinct
    seen = {}
    for key in checked:
        value = env.get(key)
        if not value:
            continue
        if value in seen:
            out.append(finding(key, 'secret_reused',
                               '%s: same value as %s; every secret must be distinct, %s.'
                               % (key, seen[value], GENERATE_HINT)))
        else:
            seen[value] = key

    # production flags
    environment = (env.get('ENVIRONMENT') or '').strip().lower()
    if expect_production and environment and environment != 'production':
        out.append(finding('ENVIRONMENT', 'environment_not_production',
                           'ENVIRONMENT: is not production; set ENVIRONMENT=production.'))
    if environment == 'production' or expect_production:
        out.extend(check_production_flags(env, domain=domain, uploads_to_s3=uploads_to_s3))
    return out


def check_production_flags(env, domain=None, uploads_to_s3=True):
    out = []
    for key in ('INTENT_SIGNING_REQUIRED', 'COOKIE_SECURE'):
        if not is_true(env.get(key)):
            out.append(finding(key, 'flag_not_true', '%s: must be true in production; set %s=true.' % (key, key)))
    if is_true(env.get('OBS_METRICS_PUBLIC')):
        out.append(finding('OBS_METRICS_PUBLIC', 'metrics_public',
                           'OBS_METRICS_PUBLIC: /metrics must not be public; set OBS_METRICS_PUBLIC=false '
                           'and scrape with the X-Admin-Token header.'))
    for key in ('DEBUG', 'EMAIL_DEV_MODE', 'EMAIL_VERIFICATION_BYPASS'):
        if is_true(env.get(key)):
            out.append(finding(key, 'dev_flag_on', '%s: development switch is on; set %s=false.' % (key, key)))

    domain = (domain or env.get('DOMAIN') or '').strip().lower().rstrip('.')
    if domain:
        if _is_local_host(domain) or '.' not in domain:
            out.append(finding('DOMAIN', 'domain_invalid',
                               'DOMAIN: not a public domain name; set the production domain (e.g. example.org).'))
        out.extend(check_cookie_domain(env, domain))
        out.extend(check_cors(env, domain))
        out.extend(check_url_on_domain('PUBLIC_APP_URL', env.get('PUBLIC_APP_URL'), domain))
        out.extend(check_url_on_domain('UPLOAD_BASE_URL', env.get('UPLOAD_BASE_URL'), domain, required=False))
    out.extend(check_smtp(env))

    if uploads_to_s3:
        for key in S3_KEYS:
            if not (env.get(key) or '').strip():
                out.append(finding(key, 's3_incomplete',
                                   '%s: missing; uploads go to S3 in production, set %s '
                                   '(or set uploads_to_s3: false for this inventory).' % (key, key)))

    # the backend's DSN, and the frontend's (a build argument) when the env carries it
    for key in SENTRY_DSN_KEYS:
        dsn = env.get(key)
        if dsn and dsn.strip():
            out.extend(check_sentry_dsn(dsn, key))

    workers = env.get('BACKEND_WORKERS')
    if workers is not None and workers.strip():
        if not re.match(r'^[0-9]+$', workers.strip()) or int(workers) < 1:
            out.append(finding('BACKEND_WORKERS', 'workers_invalid',
                               'BACKEND_WORKERS: not a positive integer; use 2 x cores + 1.'))
    return out


def _unique(items):
    out = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


# ---------------------------------------------------------------- the file


def check_file_stat(st, owner_name=None, owner_uid=None, path='env file'):
    """Findings for an env file's ownership and mode (``st`` is an os.stat result)."""
    import stat as stat_mod
    out = []
    mode = stat_mod.S_IMODE(st.st_mode)
    if mode & ~0o600:
        out.append(finding('(file)', 'file_mode',
                           '%s: mode %04o is too open; run chmod 0600 on it.' % (path, mode)))
    if owner_uid is not None and st.st_uid != owner_uid:
        out.append(finding('(file)', 'file_owner',
                           '%s: owned by uid %d, expected %s; run chown %s on it.'
                           % (path, st.st_uid, owner_name, owner_name)))
    return out


def summarize(findings):
    errors = [f for f in findings if f['severity'] == ERROR]
    warnings = [f for f in findings if f['severity'] == WARNING]
    return errors, warnings
