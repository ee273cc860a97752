#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Divan platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: image_retention
short_description: Remove the Divan release images an app host no longer needs, keeping the last releases
version_added: 0.1.0
description:
  - Reads the release log the M(divan.platform.app) role writes (O(releases_log), one JSON object per
    line) and the current release record (O(current_release)), and keeps the images of the last
    O(keep) distinct releases (distinct by C(identity.images), newest first, the current release
    always one of them), so that C(playbooks/rollback.yml) still finds the previous images on the host.
  - Removes only images of the repositories (a reference without its tag or digest) that some release
    of the log names, by their exact references (C(docker image rm registry:5000/divan/backend:1.1.0),
    C(...@sha256:...)), and the untagged images a release of the log recorded in C(identity.image_ids),
    by ID. Other images of the host are never looked at; there is no C(docker image prune).
  - An image that a container uses, running or stopped, is kept (RV(in_use)); an image that
    C(docker image rm) still refuses is reported in RV(skipped) with docker's reason, not as a failure.
  - Failure lines of the log (C(action=deploy-failed), no identity) are ignored; a line that is not JSON
    is skipped with a warning.
author:
  - Divan platform team (@divan-platform)
requirements:
  - The docker CLI on the host, talking to the daemon (run as root).
options:
  releases_log:
    description:
      - The release log, C(<app_root>/releases.log). When it does not exist or records no release,
        nothing is removed.
    type: path
    required: true
  current_release:
    description:
      - The current release record, C(<app_root>/current-release.json); its images are always kept.
      - The module fails, removing nothing, when the log records releases and this file is missing or unreadable.
    type: path
    required: true
  keep:
    description:
      - How many distinct releases keep their images, the current one included; V(1) keeps only the current
        release (no rollback from local images is possible then).
    type: int
    default: 3
  keep_images:
    description:
      - Image references kept in any case, besides the kept releases' (listed in RV(kept)); the
        M(divan.platform.app) role passes the images of the release it deploys, which a run in check
        mode has not recorded yet.
    type: list
    elements: str
    default: []
notes:
  - In check mode the module reports what it would remove and removes nothing.
seealso:
  - module: community.docker.docker_image_remove
  - name: docker image rm
    description: The command the module runs for each removed reference.
    link: https://docs.docker.com/reference/cli/docker/image/rm/
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
- name: Keep the images of the current and the two previous releases
  divan.platform.image_retention:
    releases_log: /opt/divan/releases.log
    current_release: /opt/divan/current-release.json
    keep: 3
  register: app_retention

- name: Say what was removed
  ansible.builtin.debug:
    msg: "{{ app_retention.removed | length }} image(s) removed, {{ (app_retention.freed_bytes / 1048576) | round(1) }} MiB freed"
"""

RETURN = r"""
removed:
  description: The references (or IDs of untagged images) removed, or that would be removed in check mode.
  returned: always
  type: list
  elements: str
  sample: [registry:5000/divan/backend:1.0.0, registry:5000/divan/frontend:1.0.0]
kept:
  description: The image references of the kept releases, as the release records name them, and O(keep_images).
  returned: always
  type: list
  elements: str
  sample: [registry:5000/divan/backend:1.2.0, registry:5000/divan/backend:1.1.0]
kept_releases:
  description: The versions of the kept releases, the current one first.
  returned: always
  type: list
  elements: str
  sample: ["1.2.0", "1.1.0"]
in_use:
  description: References or IDs of the releases' repositories that are kept only because a container uses them.
  returned: always
  type: list
  elements: str
  sample: [registry:5000/divan/backend:0.9.0]
skipped:
  description: References C(docker image rm) refused, each with docker's reason.
  returned: always
  type: list
  elements: dict
  contains:
    ref:
      description: The reference or ID.
      type: str
    reason:
      description: What docker answered.
      type: str
freed_bytes:
  description:
    - The sum of the sizes C(docker image ls) reported for the images that were deleted (would be, in check
      mode). Best effort - layers shared with kept images are counted too.
  returned: always
  type: int
  sample: 482344960
msg:
  description: One line with the counts.
  returned: always
  type: str
  sample: removed 3 image reference(s) (482.3 MB); kept the images of 2 release(s) (1.2.0, 1.1.0)
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.divan.platform.plugins.module_utils.image_retention import DockerError, retain


def read_text(module, path):
    """The file's text, or None when it does not exist."""
    if not os.path.exists(path):
        return None
    try:
        with open(path, 'rb') as handle:
            return handle.read().decode('utf-8', 'replace')
    except (IOError, OSError) as exc:
        module.fail_json(msg='cannot read %s: %s' % (path, to_native(exc)))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            releases_log=dict(type='path', required=True),
            current_release=dict(type='path', required=True),
            keep=dict(type='int', default=3),
            keep_images=dict(type='list', elements='str', default=[]),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params['keep'] < 1:
        module.fail_json(msg='keep must be 1 or more (got %d); to keep every image, do not run this module'
                         % params['keep'])
    log_text = read_text(module, params['releases_log'])
    current_text = read_text(module, params['current_release'])

    docker = module.get_bin_path('docker')
    if log_text and not docker:
        module.fail_json(msg='the docker CLI was not found on this host: install Docker (divan.platform.docker)')

    def run(args):
        return module.run_command([docker] + list(args[1:]), environ_update=dict(LC_ALL='C'))

    try:
        result = retain(run, log_text, current_text, params['keep'], check_mode=module.check_mode,
                        keep_images=params['keep_images'])
    except (ValueError, DockerError) as exc:
        module.fail_json(msg='%s (%s, %s)' % (to_native(exc), params['releases_log'], params['current_release']))
    for warning in result.pop('warnings'):
        module.warn(warning)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
