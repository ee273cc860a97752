# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Divan platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Text edits of an inventory's secrets file, for the divan.platform.vault_secrets action.

The file is edited as text so that its comments and order are kept: a
missing key is appended as ``key: "<hex>"``; a key present with an empty
value (``key:``, ``key: ''``, ``key: null``, ``key: ~``) has its line replaced.
A key with any other value is never touched.
"""

import binascii
import os
import re

KEY_RE = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')
DEFAULT_SECRET_BYTES = 32  # 64 hex characters, like `openssl rand -hex 32`


def generate_secret(nbytes=DEFAULT_SECRET_BYTES):
    """A CSPRNG secret as lowercase hex (os.urandom, as the secrets module does)."""
    return binascii.hexlify(os.urandom(nbytes)).decode('ascii')


def is_empty(value):
    return value is None or (isinstance(value, str) and value.strip() == '')


def plan(data, keys):
    """(to_create, to_fill, kept): absent keys, keys present but empty, keys with a value."""
    data = data or {}
    to_create, to_fill, kept = [], [], []
    for key in keys:
        if key not in data:
            to_create.append(key)
        elif is_empty(data[key]):
            to_fill.append(key)
        else:
            kept.append(key)
    return to_create, to_fill, kept


def _empty_line_re(key):
    return re.compile(r'^%s[ \t]*:[ \t]*(?:|~|null|Null|NULL|\'\'|"")[ \t]*(?:#.*)?$' % re.escape(key), re.M)


def apply(text, new_values, to_fill=()):
    """Return ``text`` with the new values set; raises ValueError when a line to fill cannot be found."""
    text = text or ''
    for key in to_fill:
        pattern = _empty_line_re(key)
        if len(pattern.findall(text)) != 1:
            raise ValueError('%s is present with an empty value but its line cannot be edited safely; '
                             'remove that line and run again' % key)
        text = pattern.sub('%s: "%s"' % (key, new_values[key]), text, count=1)
    appended = [k for k in new_values if k not in to_fill]
    if appended:
        if not text.strip():
            text = '---\n'
        elif not text.endswith('\n'):
            text += '\n'
        text += '# added by divan.platform.vault_secrets\n'
        for key in appended:
            text += '%s: "%s"\n' % (key, new_values[key])
    return text
