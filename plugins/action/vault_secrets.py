# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Divan platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side action behind divan.platform.vault_secrets (see plugins/modules/vault_secrets.py).

Runs on the controller because it needs the vault secrets that ansible-playbook
loaded from --vault-password-file / --vault-id: it decrypts the file with them
and encrypts the result with the same secret and vault id.
"""

import os
import tempfile

import yaml

from ansible import constants as C
from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text
from ansible.parsing.vault import is_encrypted, match_encrypt_secret
from ansible.plugins.action import ActionBase

from ansible_collections.divan.platform.plugins.module_utils import secrets_file


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(('path', 'keys', 'bytes'))
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp

        args = self._task.args
        path = args.get('path')
        keys = args.get('keys')
        nbytes = args.get('bytes', secrets_file.DEFAULT_SECRET_BYTES)
        if not path or not isinstance(path, str):
            return self._fail(result, 'path is required (the inventory\'s vault-encrypted secrets file)')
        if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
            return self._fail(result, 'keys must be a non-empty list of variable names')
        bad = [k for k in keys if not secrets_file.KEY_RE.match(k)]
        if bad:
            return self._fail(result, 'not valid variable names: %s' % ', '.join(bad))
        try:
            nbytes = int(nbytes)
        except (TypeError, ValueError):
            return self._fail(result, 'bytes must be an integer')
        if nbytes < 16:
            return self._fail(result, 'bytes must be at least 16 (128 bits)')

        path = os.path.abspath(os.path.expanduser(str(path)))
        vault = self._loader._vault  # the secrets given with --vault-password-file / --vault-id
        if not vault.secrets:
            return self._fail(result, 'no vault password: run with --vault-password-file FILE (or --vault-id)')

        result.update(path=path, created=[], kept=[], changed=False)
        secret = vault_id = None
        text = ''
        data = {}
        if os.path.exists(path):
            try:
                with open(path, 'rb') as fh:
                    raw = fh.read()
            except (IOError, OSError) as exc:
                return self._fail(result, 'cannot read %s: %s' % (path, to_native(exc.strerror)))
            if raw.strip():
                if not is_encrypted(raw):
                    return self._fail(result, '%s exists but is not vault-encrypted; encrypt it first with '
                                      '`ansible-vault encrypt %s` (it must never be committed in clear)' % (path, path))
                try:
                    plaintext, vault_id, secret = vault.decrypt_and_get_vault_id(raw)
                except AnsibleError as exc:
                    return self._fail(result, 'cannot decrypt %s with the vault password given: %s'
                                      % (path, to_native(exc.message if hasattr(exc, 'message') else exc)))
                text = to_text(plaintext, errors='surrogate_or_strict')
                try:
                    data = yaml.safe_load(text)
                except yaml.YAMLError:
                    return self._fail(result, '%s does not contain valid YAML once decrypted' % path)
                if data is None:
                    data = {}
                if not isinstance(data, dict):
                    return self._fail(result, '%s must contain a YAML mapping of variables' % path)

        to_create, to_fill, kept = secrets_file.plan(data, keys)
        missing = to_create + to_fill
        result['kept'] = kept
        result['created'] = missing
        result['changed'] = bool(missing)
        if not missing or self._task.check_mode:
            return result

        new_values = dict((key, secrets_file.generate_secret(nbytes)) for key in missing)
        try:
            new_text = secrets_file.apply(text, new_values, to_fill)
        except ValueError as exc:
            return self._fail(result, '%s: %s' % (path, exc))
        check = yaml.safe_load(new_text)
        if not isinstance(check, dict) or any(check.get(k) != v for k, v in new_values.items()) or \
                any(check.get(k) != data.get(k) for k in kept):
            return self._fail(result, 'internal check failed: the edited file would not hold the expected values; '
                              'nothing was written')

        if secret is None:
            vault_id, secret = match_encrypt_secret(vault.secrets, encrypt_vault_id=C.DEFAULT_VAULT_ENCRYPT_IDENTITY)
        if vault_id == C.DEFAULT_VAULT_IDENTITY:
            vault_id = None
        try:
            b_vaulttext = vault.encrypt(to_bytes(new_text), secret=secret, vault_id=vault_id)
        except AnsibleError as exc:
            return self._fail(result, 'cannot encrypt: %s' % to_native(exc))

        directory = os.path.dirname(path)
        try:
            if not os.path.isdir(directory):
                os.makedirs(directory, 0o755)
            fd, tmp_path = tempfile.mkstemp(prefix='.vault-secrets-', dir=directory)
            try:
                os.fchmod(fd, 0o600)
                with os.fdopen(fd, 'wb') as fh:
                    fh.write(b_vaulttext)
                os.replace(tmp_path, path)
            except BaseException:
                if os.path.exists(tmp_path):
                    os.unlink(tmp_path)
                raise
        except (IOError, OSError) as exc:
            return self._fail(result, 'cannot write %s: %s' % (path, to_native(exc.strerror or exc)))
        return result

    @staticmethod
    def _fail(result, msg):
        result['failed'] = True
        result['msg'] = msg
        return result
