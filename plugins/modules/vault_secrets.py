#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Divan platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: vault_secrets
short_description: Add missing random secrets to a vault-encrypted variables file
version_added: 0.1.0
description:
  - Reads an inventory's vault-encrypted variables file with the vault password that
    C(ansible-playbook) was given (C(--vault-password-file) or C(--vault-id)), adds every key of
    O(keys) that is absent (or present with an empty value) with a new random secret of O(bytes)
    bytes written as lowercase hex (64 characters by default), and writes the file back encrypted
    with the same vault secret and vault id.
  - Never changes a key that has a value; keeps the file's comments and order (new keys are appended).
  - A missing file is created (mode C(0600)); an existing file that is not vault-encrypted is refused.
  - Returns the names of the keys it created and kept, never their values.
  - This is an action plugin; it runs on the controller, whatever the task's host.
author:
  - Divan platform team (@divan-platform)
options:
  path:
    description:
      - Path of the vault-encrypted YAML file, for example
        C(inventories/production/group_vars/all/vault.yml). A relative path is relative to the
        current directory.
    type: path
    required: true
  keys:
    description: Variable names that must hold a secret.
    type: list
    elements: str
    required: true
  bytes:
    description: Random bytes per secret (the secret has twice as many hex characters). At least 16.
    type: int
    default: 32
notes:
  - Supports check mode; then it only reports which keys it would create.
  - "For a password hash (for example HTTP basic auth in Caddy), derive it from a secret in a
    template or vars: C({{ vault_metrics_password | ansible.builtin.password_hash('bcrypt') }}) (needs
    passlib with bcrypt on the controller); give a fixed C(salt) to keep it idempotent."
seealso:
  - name: playbooks/secrets.yml
    description: The playbook that runs this action for an inventory.
    link: https://docs.ansible.com/ansible/latest/vault_guide/index.html
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
"""

EXAMPLES = r"""
- name: Make sure the production secrets exist
  divan.platform.vault_secrets:
    path: inventories/production/group_vars/all/vault.yml
    keys:
      - vault_secret_key
      - vault_service_signing_key
      - vault_refresh_pepper
  register: created_secrets
  no_log: true

- name: Say which secrets were created
  ansible.builtin.debug:
    var: created_secrets.created
"""

RETURN = r"""
path:
  description: Absolute path of the file.
  returned: always
  type: str
created:
  description: Keys that were added (or, in check mode, would be).
  returned: always
  type: list
  elements: str
  sample: [vault_secret_key]
kept:
  description: Keys that already had a value and were left as they were.
  returned: always
  type: list
  elements: str
  sample: [vault_postgres_password]
"""
