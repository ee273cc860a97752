#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Divan platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: verify_report
short_description: Write the production readiness report (HTML, JUnit XML, JSON) from the checklist and the checks
version_added: 0.1.0
description:
  - Maps every bullet line of the platform's production checklist (a markdown file) to the checks of the
    verification (dicts with C(id), C(item), C(result), C(why), C(at)) through a mapping, gives each line a
    verdict, and writes three files in O(dest) - C(report.html) (one self-contained page, inline CSS, no script,
    no external asset, readable on a phone), C(report.junit.xml) (one test suite per checklist section, one test
    case per line, for CI) and C(report.json) (the whole report).
  - "A line's verdict: V(fail) if one of its checks failed, V(pass) if at least one passed and none failed,
    V(skip) otherwise (a mapped check that did not run counts as a skip, its evidence says C(<id>: not run)),
    V(not automatable) for a line the mapping marks so (its reason is shown)."
  - Fails, naming the line numbers and texts, when the mapping leaves a checklist line out, matches one line
    with several entries, or has an entry whose O(mapping[].match) hits no line or several lines; also fails on a
    check without an C(id) or with a result other than V(pass), V(fail), V(skip).
  - "Meant to run on the controller (C(delegate_to: localhost), C(run_once)); the checks are data, the module
    opens no connection."
author:
  - Divan platform team (@divan-platform)
options:
  checklist:
    description:
      - The checklist's markdown text (for example C(lookup('file', 'PRODUCTION_CHECKLIST.md')) of the copy the
        verify role ships).
      - Bullet lines are those starting with C(- ) (any indentation); C(## N. Title) starts a section,
        C(### Title) a subsection.
    type: str
    required: true
  mapping:
    description:
      - One entry per checklist bullet line (the verify role ships C(checklist-map.yml)).
    type: list
    elements: dict
    required: true
    suboptions:
      match:
        description: A substring of the line (as written in the markdown) that matches exactly one bullet line.
        type: str
        required: true
      checks:
        description: Ids of the checks that decide the line's verdict.
        type: list
        elements: str
      not_automatable:
        description:
          - Why no check can decide the line, one sentence. The line's verdict is then V(not automatable).
          - Mutually exclusive with O(mapping[].checks).
        type: str
      note:
        description: A remark shown with the line.
        type: str
  checks:
    description:
      - The check results, each a dict with C(id) (for example C(proxy.tls_headers)), C(item) (a one-line title),
        C(result) (V(pass), V(fail) or V(skip)), C(why) (the evidence) and C(at) (ISO-8601 UTC time).
      - Checks whose id starts with C(finding.) are also listed as application findings.
      - Other keys are kept in the JSON file.
    type: list
    elements: dict
    required: true
  site:
    description: The site the report is about (its public host name).
    type: str
    required: true
  header:
    description:
      - The security headers result shown in the summary, for example C(score), C(grade), C(min_grade), C(note).
    type: dict
  screenshot:
    description:
      - A PNG file, on the host running the module, embedded in the HTML page (as a C(data:) URL).
      - A missing, unreadable or non-PNG file is a note in the report, not an error.
    type: path
  dest:
    description: Directory the three files are written to; created (with parents) when missing.
    type: path
    required: true
  title:
    description: Title of the report (default C(Production readiness) and the site).
    type: str
notes:
  - The report is output for people and CI, like a log, not managed state - the module always returns
    C(changed=false), rewrites the three files on every run, and writes them in check mode too (a check-mode
    verification still produces its report).
  - Each file is written to a temporary file in O(dest) and renamed over the old one.
seealso:
  - module: divan.platform.http_check
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The report files are written in check mode too (they are output, not managed state).
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Write the readiness report on the controller
  divan.platform.verify_report:
    checklist: "{{ lookup('ansible.builtin.file', 'PRODUCTION_CHECKLIST.md') }}"
    mapping: "{{ lookup('ansible.builtin.file', 'checklist-map.yml') | from_yaml }}"
    checks: "{{ verify_checks }}"
    site: example.org
    header:
      score: 105
      grade: A+
      min_grade: B
    screenshot: "{{ playbook_dir }}/reports/example.org/front.png"
    dest: "{{ playbook_dir }}/reports/example.org"
  delegate_to: localhost
  run_once: true
  register: verify_report_result

- name: Say where the report is
  ansible.builtin.debug:
    msg: "{{ verify_report_result.files.html }}: {{ verify_report_result.summary }}"
"""

RETURN = r"""
summary:
  description:
    - Counts of the checklist lines per verdict (C(lines), C(pass), C(fail), C(skip), C(not_automatable)), of the
      checks per result (C(checks) with C(pass), C(fail), C(skip), C(total)), and C(not_run) (mapped check ids
      without a result).
  returned: success
  type: dict
  sample:
    lines: 44
    pass: 30
    fail: 3
    skip: 8
    not_automatable: 3
    checks:
      pass: 40
      fail: 3
      skip: 2
      total: 45
    not_run: 1
files:
  description: Paths of the files written.
  returned: success
  type: dict
  contains:
    html:
      description: The self-contained HTML page.
      type: str
      sample: /srv/reports/example.org/report.html
    junit:
      description: The JUnit XML file.
      type: str
      sample: /srv/reports/example.org/report.junit.xml
    json:
      description: The JSON document.
      type: str
      sample: /srv/reports/example.org/report.json
unmapped_checks:
  description: Ids of the checks that no checklist line refers to (they are still listed in the report).
  returned: success
  type: list
  elements: str
  sample: [host.time_sync]
not_run_checks:
  description: Ids the mapping refers to that have no result among O(checks).
  returned: success
  type: list
  elements: str
  sample: [monitoring.scrape]
screenshot_note:
  description: Why O(screenshot) was not embedded, when it was not.
  returned: when O(screenshot) is set and could not be embedded
  type: str
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native

from ansible_collections.divan.platform.plugins.module_utils import readiness_report as rr

MAPPING_SPEC = dict(
    match=dict(type='str', required=True),
    checks=dict(type='list', elements='str'),
    not_automatable=dict(type='str'),
    note=dict(type='str'),
)

FILES = (('html', 'report.html'), ('junit', 'report.junit.xml'), ('json', 'report.json'))


def _read_screenshot(path):
    """(bytes or None, note or None): a missing or unreadable file is a note, not an error."""
    if not path:
        return None, None
    if not os.path.exists(path):
        return None, 'screenshot %s does not exist: not embedded' % path
    try:
        with open(path, 'rb') as handle:
            data = handle.read()
    except (IOError, OSError) as exc:
        return None, 'screenshot %s cannot be read (%s): not embedded' % (path, to_native(exc.strerror or exc))
    if not data.startswith(rr.PNG_SIGNATURE):
        return None, 'screenshot %s is not a PNG file: not embedded' % path
    return data, None


def _write(dest, name, text):
    path = os.path.join(dest, name)
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % name, dir=dest)
    try:
        with os.fdopen(fd, 'wb') as handle:
            handle.write(to_bytes(text, errors='surrogate_or_strict'))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except Exception:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def main():
    module = AnsibleModule(
        argument_spec=dict(
            checklist=dict(type='str', required=True),
            mapping=dict(type='list', elements='dict', required=True, options=MAPPING_SPEC),
            checks=dict(type='list', elements='dict', required=True),
            site=dict(type='str', required=True),
            header=dict(type='dict'),
            screenshot=dict(type='path'),
            dest=dict(type='path', required=True),
            title=dict(type='str'),
        ),
        # the report is output, written in check mode too (see notes)
        supports_check_mode=True,
    )
    p = module.params
    # suboptions fill absent keys with None: drop them so the mapping reads as written
    mapping = [dict((k, v) for k, v in entry.items() if v is not None) for entry in p['mapping']]
    shot, note = _read_screenshot(p['screenshot'])
    try:
        report = rr.build_report(p['checklist'], mapping, p['checks'], p['site'], header=p['header'],
                                 screenshot_png_bytes=shot, title=p['title'], screenshot_note=note)
    except rr.ChecklistMappingError as exc:
        module.fail_json(msg='the checklist mapping does not fit the checklist (fix the mapping, one entry per '
                             'bullet line): %s' % '; '.join(exc.errors), errors=exc.errors)
    except rr.ChecksError as exc:
        module.fail_json(msg=to_native(exc))

    dest = p['dest']
    try:
        if not os.path.isdir(dest):
            os.makedirs(dest)
        renders = {'html': rr.render_html, 'junit': rr.render_junit, 'json': rr.render_json}
        files = dict((key, _write(dest, name, renders[key](report))) for key, name in FILES)
    except (IOError, OSError) as exc:
        module.fail_json(msg='cannot write the report to %s: %s' % (dest, to_native(exc)))

    result = dict(changed=False, summary=report['summary'], files=files, unmapped_checks=report['unmapped_checks'],
                  not_run_checks=report['not_run_checks'])
    if note:
        result['screenshot_note'] = note
    module.exit_json(**result)


if __name__ == '__main__':
    main()
