#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Divan platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: apt_signing_key
short_description: Install an apt repository's OpenPGP signing key, pinned by its fingerprint
version_added: 0.1.0
description:
  - Writes the public key that signs an apt repository to O(dest) (for example
    C(/etc/apt/keyrings/docker.asc)), for the C(signed_by) of M(ansible.builtin.deb822_repository)
    or the C(Signed-By) of a deb822 source.
  - When O(dest) already holds the key with the O(fingerprint) (and no other key), nothing is
    downloaded and nothing changes, so a run without network access to the key's server still passes.
  - Otherwise the key is downloaded from O(url) and its primary key fingerprint is computed (pure
    Python, no C(gpg) needed on the host) and compared with O(fingerprint). A key with another
    fingerprint, or a file with other keys besides the pinned one, is refused with both fingerprints
    in the message, and O(dest) is left as it was. A good key is written atomically.
  - The file is written ASCII-armored when O(dest) ends in C(.asc) and binary when it ends in C(.gpg)
    (the two forms apt accepts), converting the download when needed; any other name gets it as downloaded.
  - In check mode nothing is downloaded or written; a missing or wrong O(dest) is reported as changed.
author:
  - Divan platform team (@divan-platform)
options:
  url:
    description:
      - Where to download the key from, C(https://), C(http://) or C(file://) (a path on the host, for tests).
      - Only used when O(dest) does not already hold the pinned key.
    type: str
    required: true
  dest:
    description:
      - The key file to write, for example C(/etc/apt/keyrings/docker.asc). Its directory must exist
        (C(/etc/apt/keyrings) exists on Debian 12 and later).
    type: path
    required: true
  fingerprint:
    description:
      - The full fingerprint of the primary key, 40 hexadecimal digits (64 for a v5/v6 key), in any case,
        spaces allowed, as C(gpg --show-keys KEYFILE) prints it. A key ID is not accepted.
    type: str
    required: true
  mode:
    description: Permissions of O(dest), as for M(ansible.builtin.file).
    type: raw
    default: "0644"
  owner:
    description: Owner of O(dest).
    type: str
    default: root
  group:
    description: Group of O(dest).
    type: str
    default: root
  timeout:
    description: Timeout of the download, in seconds.
    type: int
    default: 30
  validate_certs:
    description: Verify the server's TLS certificate when downloading from an C(https://) URL.
    type: bool
    default: true
  ca_path:
    description: CA certificate file (PEM) to verify the key server against. Default the system trust store.
    type: path
notes:
  - The fingerprint pin is what makes the download safe; TLS only protects the transfer.
seealso:
  - module: ansible.builtin.deb822_repository
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
- name: Install Docker's apt signing key, pinned
  divan.platform.apt_signing_key:
    url: https://download.docker.com/linux/debian/gpg
    dest: /etc/apt/keyrings/docker.asc
    fingerprint: 9DC8 5822 9FC7 DD38 854A E2D8 8D81 803C 0EBF CD88
  register: docker_key

- name: Add Docker's apt repository, signed by that key
  ansible.builtin.deb822_repository:
    name: docker
    types: [deb]
    uris: https://download.docker.com/linux/debian
    suites: ["{{ ansible_facts['distribution_release'] }}"]
    components: [stable]
    signed_by: /etc/apt/keyrings/docker.asc
"""

RETURN = r"""
fingerprint:
  description: The fingerprint of the primary key O(dest) holds (would hold, in check mode), upper-case hex.
  returned: success, and in check mode when O(dest) already holds the key
  type: str
  sample: 9DC858229FC7DD38854AE2D88D81803C0EBFCD88
dest:
  description: The key file.
  returned: always
  type: str
  sample: /etc/apt/keyrings/docker.asc
fetched:
  description: Whether the key was downloaded in this run (never in check mode, never when O(dest) already held it).
  returned: always
  type: bool
  sample: false
msg:
  description: One line saying what was done.
  returned: always
  type: str
  sample: /etc/apt/keyrings/docker.asc holds the key 9DC8 5822 9FC7 DD38 854A E2D8 8D81 803C 0EBF CD88
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native
from ansible.module_utils.six.moves.urllib.parse import unquote, urlparse
from ansible.module_utils.urls import fetch_url

from ansible_collections.divan.platform.plugins.module_utils.apt_signing_key import (
    MAX_KEY_BYTES,
    FingerprintMismatch,
    KeyFormatError,
    decide,
    format_fingerprint,
    normalize_fingerprint,
)


def read_existing(module, path):
    if not os.path.exists(path):
        return None
    if os.path.isdir(path):
        module.fail_json(msg='dest %s is a directory; give the key file path, e.g. %s/NAME.asc' % (path, path),
                         dest=path, fetched=False)
    try:
        with open(path, 'rb') as handle:
            return handle.read(MAX_KEY_BYTES + 1)
    except (IOError, OSError) as exc:
        module.fail_json(msg='cannot read %s: %s' % (path, to_native(exc)), dest=path, fetched=False)


def download(module, url, dest):
    parsed = urlparse(url)
    if parsed.scheme == 'file':
        path = unquote(parsed.path)
        try:
            with open(path, 'rb') as handle:
                return handle.read(MAX_KEY_BYTES + 1)
        except (IOError, OSError) as exc:
            module.fail_json(msg='cannot read the key %s: %s' % (url, to_native(exc)), dest=dest, fetched=False)
    if parsed.scheme not in ('http', 'https'):
        module.fail_json(msg='url %s: only https://, http:// and file:// URLs are supported' % url,
                         dest=dest, fetched=False)
    resp, info = fetch_url(module, url, timeout=module.params['timeout'], ca_path=module.params['ca_path'])
    if resp is None or info.get('status') != 200:
        module.fail_json(msg='cannot download the key from %s: HTTP %s %s' % (url, info.get('status'), info.get('msg')),
                         dest=dest, fetched=False)
    try:
        return resp.read(MAX_KEY_BYTES + 1)
    except Exception as exc:  # socket errors, timeouts while reading the body
        module.fail_json(msg='cannot download the key from %s: %s' % (url, to_native(exc)), dest=dest, fetched=False)
    finally:
        resp.close()


def write_atomic(module, dest, content):
    directory = os.path.dirname(dest) or '.'
    if not os.path.isdir(directory):
        module.fail_json(msg='the directory %s of dest does not exist: create it first (ansible.builtin.file '
                         'state=directory mode=0755)' % directory, dest=dest, fetched=True)
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(dest), dir=directory)
    try:
        with os.fdopen(fd, 'wb') as handle:
            handle.write(content)
    except (IOError, OSError) as exc:
        os.unlink(tmp)
        module.fail_json(msg='cannot write %s: %s' % (tmp, to_native(exc)), dest=dest, fetched=True)
    module.atomic_move(tmp, dest)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type='str', required=True),
            dest=dict(type='path', required=True),
            fingerprint=dict(type='str', required=True),
            mode=dict(type='raw', default='0644'),
            owner=dict(type='str', default='root'),
            group=dict(type='str', default='root'),
            timeout=dict(type='int', default=30),
            validate_certs=dict(type='bool', default=True),
            ca_path=dict(type='path'),
        ),
        supports_check_mode=True,
    )
    params = module.params
    dest = params['dest']
    try:
        wanted = normalize_fingerprint(params['fingerprint'])
    except ValueError as exc:
        module.fail_json(msg=to_native(exc), dest=dest, fetched=False)
    file_args = module.load_file_common_arguments(dict(path=dest, mode=params['mode'], owner=params['owner'],
                                                       group=params['group']))

    plan = decide(read_existing(module, dest), wanted, dest=dest)
    if plan['action'] == 'keep':
        changed = module.set_fs_attributes_if_different(file_args, False)
        msg = '%s holds the key %s' % (dest, format_fingerprint(plan['fingerprint']))
        if changed:
            msg += '; its owner or mode %s set' % ('would be' if module.check_mode else 'was')
        module.exit_json(changed=changed, fingerprint=plan['fingerprint'], dest=dest, fetched=False, msg=msg)

    if module.check_mode:
        module.exit_json(changed=True, dest=dest, fetched=False,
                         msg='check mode: %s: %s; the key would be downloaded from %s, checked against %s and '
                             'written (nothing downloaded or written in check mode)'
                             % (dest, plan['reason'], params['url'], format_fingerprint(wanted)))

    fetched = download(module, params['url'], dest)
    try:
        plan = decide(read_existing(module, dest), wanted, fetched=fetched, dest=dest)
    except FingerprintMismatch as exc:
        module.fail_json(msg='refusing the key from %s: %s; %s was left unchanged' % (params['url'], exc, dest),
                         expected=exc.expected, got=exc.got, dest=dest, fetched=True)
    except KeyFormatError as exc:
        module.fail_json(msg='refusing the download from %s: %s; %s was left unchanged' % (params['url'], exc, dest),
                         dest=dest, fetched=True)
    if plan['action'] == 'keep':  # another run wrote it in between
        changed = module.set_fs_attributes_if_different(file_args, False)
        module.exit_json(changed=changed, fingerprint=plan['fingerprint'], dest=dest, fetched=True,
                         msg='%s holds the key %s' % (dest, format_fingerprint(plan['fingerprint'])))
    write_atomic(module, dest, plan['content'])
    module.set_fs_attributes_if_different(file_args, True)
    module.exit_json(changed=True, fingerprint=plan['fingerprint'], dest=dest, fetched=True,
                     msg='wrote %s with the key %s from %s (it was: %s)'
                         % (dest, format_fingerprint(plan['fingerprint']), params['url'], plan['reason']))


if __name__ == '__main__':
    main()
