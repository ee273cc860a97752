# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Divan platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small helpers shared by the divan.platform verification modules."""

import re

HIDDEN = '********'
# Keys (env variables, header names, option names) whose values are secrets.
SECRET_NAME_RE = re.compile(
    r'(PASSW|SECRET|TOKEN|PEPPER|PRIVATE|CREDENTIAL|^COOKIE$|AUTHORIZATION|(^|[_-])KEY$|'
    r'API[_-]?KEY|DSN|WEBHOOK)', re.I)
# Shorter values are not added to the masking list: masking is a substring
# replacement over the whole result and would mangle ordinary words.
MIN_MASKED_LENGTH = 6


def is_secret_name(name):
    return bool(SECRET_NAME_RE.search(str(name)))


def mask_values(module, values):
    """Add secret values to the module's no_log list (defence in depth)."""
    for value in values:
        if value is None or isinstance(value, bool):
            continue
        value = str(value)
        if len(value) >= MIN_MASKED_LENGTH:
            module.no_log_values.add(value)


def hide_dict_values(data):
    """Same keys, every value replaced: for the invocation shown at -vvv."""
    if not isinstance(data, dict):
        return data
    return dict((k, HIDDEN) for k in data)
