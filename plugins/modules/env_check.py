#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Divan platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: env_check
short_description: Check a Divan environment (secrets and production flags) without revealing it
version_added: 0.1.0
description:
  - Checks the variables of the Divan backend environment (the C(.env) file, or a dict) against
    the Divan contract, and fails when any rule finds an error.
  - "Secrets (C(SECRET_KEY), C(SERVICE_SIGNING_KEY), C(REFRESH_PEPPER), C(OBS_ADMIN_TOKEN),
    C(POSTGRES_PASSWORD), C(REDIS_PASSWORD), C(SMTP_PASSWORD), C(S3_SECRET_KEY)) must be present,
    non-empty, at least O(min_length) characters with at least O(min_entropy_bits) bits of
    estimated entropy, not a placeholder, and pairwise distinct."
  - "Entropy estimate: the smaller of I(length x log2(charset size)) (charset 16 for one-case hex,
    otherwise the sum of the classes present: lower 26, upper 26, digits 10, punctuation 33) and
    I(length x Shannon entropy per character). A value from C(openssl rand -hex 32) scores about 240 bits."
  - "Placeholders: C(CHANGE_ME), C(CHANGE_ME_USE_STRONG_PASSWORD), C(CHANGE_ME_GENERATE_WITH_OPENSSL)
    and anything containing C(change_me)/C(changeme)/C(example)/C(placeholder); common words such as
    C(secret) or C(password); a run of one character; a short pattern repeated; O(extra_placeholders)."
  - "When C(ENVIRONMENT=production) (or O(expect_production)): C(INTENT_SIGNING_REQUIRED) and
    C(COOKIE_SECURE) true (true/True/TRUE/1/yes/on); C(COOKIE_DOMAIN) equal to C(DOMAIN) or C(.DOMAIN);
    C(CORS_ALLOW_ORIGINS) a comma list of https origins on the domain or its subdomains, with no
    wildcard and no local address; SMTP not the development catch-all; the S3 settings complete when
    O(uploads_to_s3); C(SENTRY_DSN) and the frontend's C(NEXT_PUBLIC_SENTRY_DSN), when set,
    well-formed DSNs; C(BACKEND_WORKERS), when set, a positive integer; C(PUBLIC_APP_URL) an https
    URL on the domain; C(OBS_METRICS_PUBLIC) not true."
  - With O(path), also checks that the file is owned by O(owner) and has mode C(0600) or stricter.
  - Values never appear in the result, in the failure message or in the module's log; findings name
    the key, the rule and what to change.
author:
  - Divan platform team (@divan-platform)
options:
  env:
    description:
      - The environment to check, as a dict of variable names to values.
      - Values are converted to strings (YAML booleans become C(true)/C(false)).
      - Mutually exclusive with O(path).
    type: dict
  path:
    description:
      - Path of an env file (C(KEY=value) lines) on the managed host to read and check.
      - Mutually exclusive with O(env).
    type: path
  owner:
    description:
      - User name (or numeric uid) that must own the file given in O(path).
    type: str
    default: root
  secret_keys:
    description:
      - Extra keys to check as secrets, on top of the contract's. Each of them is required.
    type: list
    elements: str
    default: []
  min_length:
    description:
      - Minimum length of every secret.
    type: int
    default: 32
  min_entropy_bits:
    description:
      - Minimum estimated entropy of every secret, in bits.
    type: float
    default: 128
  key_rules:
    description:
      - "Per-key overrides, for example C({SMTP_PASSWORD: {min_length: 20, min_entropy_bits: 100}})
        for a password that a provider generated."

      - Each value is a dict with the optional keys C(min_length) and C(min_entropy_bits).
    type: dict
    default: {}
  extra_placeholders:
    description:
      - More strings that mark a placeholder (matched case-insensitively, as substrings).
    type: list
    elements: str
    default: []
  required_keys:
    description:
      - More keys that must be present and non-empty, on top of C(DOMAIN), C(ENVIRONMENT),
        C(POSTGRES_DB) and C(POSTGRES_USER).
    type: list
    elements: str
    default: []
  uploads_to_s3:
    description:
      - Whether uploads go to object storage; then C(S3_BUCKET_NAME), C(S3_REGION), C(S3_ACCESS_KEY)
        and C(S3_SECRET_KEY) are required.
    type: bool
    default: true
  domain:
    description:
      - The production domain, overriding the C(DOMAIN) variable of the environment.
    type: str
  expect_production:
    description:
      - Require C(ENVIRONMENT=production) and apply the production rules even when it is not set.
      - Set to V(false) for a staging or development inventory; the production rules then apply
        only when C(ENVIRONMENT=production).
    type: bool
    default: true
notes:
  - Supports check mode; the module only reads.
  - Never pass the env through C(ansible.builtin.debug); the module itself never returns values.
seealso:
  - module: divan.platform.http_check
  - module: divan.platform.smtp_check
  - module: divan.platform.s3_check
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
- name: Check the backend env file on the host
  divan.platform.env_check:
    path: /srv/divan/.env
    owner: root

- name: Check an environment built from inventory variables, with a provider-made SMTP password
  divan.platform.env_check:
    env:
      ENVIRONMENT: production
      DOMAIN: example.org
      SECRET_KEY: "{{ vault_secret_key }}"
      SERVICE_SIGNING_KEY: "{{ vault_service_signing_key }}"
      REFRESH_PEPPER: "{{ vault_refresh_pepper }}"
      OBS_ADMIN_TOKEN: "{{ vault_obs_admin_token }}"
      POSTGRES_DB: divan
      POSTGRES_USER: divan
      POSTGRES_PASSWORD: "{{ vault_postgres_password }}"
      REDIS_PASSWORD: "{{ vault_redis_password }}"
      INTENT_SIGNING_REQUIRED: true
      COOKIE_SECURE: true
      COOKIE_DOMAIN: .example.org
      CORS_ALLOW_ORIGINS: https://example.org
      PUBLIC_APP_URL: https://example.org
      SMTP_HOST: smtp.postmarkapp.com
      SMTP_PORT: 587
      SMTP_USER: "{{ vault_smtp_user }}"
      SMTP_PASSWORD: "{{ vault_smtp_password }}"
      SMTP_FROM_EMAIL: no-reply@example.org
    key_rules:
      SMTP_PASSWORD:
        min_entropy_bits: 100
    uploads_to_s3: false

- name: Report without failing, then show what to fix
  divan.platform.env_check:
    path: /srv/divan/.env
  register: env_report
  ignore_errors: true

- name: Show the findings (keys and rules only, never values)
  ansible.builtin.debug:
    var: env_report.findings
"""

RETURN = r"""
findings:
  description:
    - One entry per problem found; values are never included.
  returned: always
  type: list
  elements: dict
  contains:
    key:
      description: The variable concerned (C((file)) for the file's owner and mode).
      type: str
      sample: SECRET_KEY
    rule:
      description: Identifier of the rule that failed.
      type: str
      sample: secret_placeholder
    severity:
      description: C(error) (fails the task) or C(warning).
      type: str
      sample: error
    message:
      description: What is wrong and what to change.
      type: str
      sample: "SECRET_KEY: looks like a placeholder (contains a placeholder marker); generate one with `openssl rand -hex 32`."
error_count:
  description: Number of findings with severity C(error).
  returned: always
  type: int
  sample: 0
warning_count:
  description: Number of findings with severity C(warning).
  returned: always
  type: int
  sample: 1
checked_keys:
  description: Names of the variables that were present in the environment.
  returned: always
  type: list
  elements: str
  sample: [DOMAIN, ENVIRONMENT, SECRET_KEY]
"""

import os
import pwd

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.divan.platform.plugins.module_utils import env_rules
from ansible_collections.divan.platform.plugins.module_utils.common import (
    hide_dict_values,
    is_secret_name,
    mask_values,
)


def _resolve_owner(owner):
    if owner.isdigit():
        return int(owner)
    try:
        return pwd.getpwnam(owner).pw_uid
    except KeyError:
        return None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            env=dict(type='dict'),
            path=dict(type='path'),
            owner=dict(type='str', default='root'),
            secret_keys=dict(type='list', elements='str', default=[], no_log=False),
            min_length=dict(type='int', default=env_rules.DEFAULT_MIN_LENGTH),
            min_entropy_bits=dict(type='float', default=env_rules.DEFAULT_MIN_ENTROPY_BITS),
            key_rules=dict(type='dict', default={}, no_log=False),
            extra_placeholders=dict(type='list', elements='str', default=[]),
            required_keys=dict(type='list', elements='str', default=[], no_log=False),
            uploads_to_s3=dict(type='bool', default=True),
            domain=dict(type='str'),
            expect_production=dict(type='bool', default=True),
        ),
        mutually_exclusive=[('env', 'path')],
        required_one_of=[('env', 'path')],
        supports_check_mode=True,
        # the module must not write the environment to syslog/journald
        no_log=True,
    )
    p = module.params
    invocation = {'module_args': dict(p, env=hide_dict_values(p['env']))}
    findings = []

    if p['path']:
        path = p['path']
        try:
            st = os.stat(path)
        except OSError as exc:
            module.fail_json(msg='%s: cannot be read (%s); create it or fix the path.' % (path, exc.strerror),
                             findings=[], error_count=1, warning_count=0, checked_keys=[], invocation=invocation)
        uid = _resolve_owner(p['owner'])
        if uid is None:
            findings.append(env_rules.finding('(file)', 'file_owner_unknown',
                                              '%s: owner %s does not exist on this host.' % (path, p['owner'])))
        findings.extend(env_rules.check_file_stat(st, owner_name=p['owner'], owner_uid=uid, path=path))
        try:
            with open(path, 'rb') as fh:
                text = to_text(fh.read(), errors='surrogate_or_strict')
            env, duplicates = env_rules.parse_env_text(text)
        except (OSError, IOError) as exc:
            module.fail_json(msg='%s: cannot be read (%s).' % (path, exc.strerror), findings=findings,
                             error_count=1, warning_count=0, checked_keys=[], invocation=invocation)
        except (env_rules.EnvParseError, UnicodeError) as exc:
            module.fail_json(msg='%s: cannot be parsed (%s).' % (path, to_text(exc) if isinstance(
                exc, env_rules.EnvParseError) else 'not UTF-8'), findings=findings, error_count=1,
                warning_count=0, checked_keys=[], invocation=invocation)
        for key in duplicates:
            findings.append(env_rules.finding(key, 'duplicate_key',
                                              '%s: assigned more than once in %s; keep one line.' % (key, path),
                                              env_rules.WARNING))
    else:
        env = env_rules.normalize_env(p['env'])

    secret_names = set(env_rules.DEFAULT_SECRET_KEYS) | set(p['secret_keys'])
    mask_values(module, [v for k, v in env.items() if k in secret_names or is_secret_name(k)])

    findings.extend(env_rules.check_env(
        env,
        secret_keys=p['secret_keys'],
        min_length=p['min_length'],
        min_entropy_bits=p['min_entropy_bits'],
        key_rules=p['key_rules'],
        extra_placeholders=p['extra_placeholders'],
        required_keys=p['required_keys'],
        uploads_to_s3=p['uploads_to_s3'],
        domain=p['domain'],
        expect_production=p['expect_production'],
    ))
    errors, warnings = env_rules.summarize(findings)
    result = dict(
        changed=False,
        findings=findings,
        error_count=len(errors),
        warning_count=len(warnings),
        checked_keys=sorted(env),
        invocation=invocation,
    )
    if errors:
        module.fail_json(
            msg='env check found %d error(s): %s' % (len(errors), ' | '.join(f['message'] for f in errors)),
            **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
