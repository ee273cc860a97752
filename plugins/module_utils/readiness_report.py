# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Divan platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The production readiness report: checklist + mapping + checks -> HTML, JUnit XML, JSON.

Plain functions, no Ansible imports: the verify_report module wraps them and
the unit tests call them directly.

* ``parse_checklist(markdown)``: every bullet line (``^\\s*- ``) of the
  checklist, with its section (``## N. Title``) and subsection
  (``### Title``), its 1-based line number, its nesting depth, its text
  (markdown kept) and its ``done`` flag (``[x]`` True, ``[ ]`` False, no box
  None).
* ``mapping_errors(items, mapping)`` / ``apply_mapping(items, mapping)``: the
  mapping is a list of ``{match, checks}`` or ``{match, not_automatable}``
  entries (``note`` optional); every bullet line needs exactly one entry, and
  every ``match`` (a substring of the raw line) must hit exactly one line.
* ``verdict(check_results)``: ``fail`` if any check failed, ``pass`` if at
  least one passed and none failed, ``skip`` otherwise (a mapped id without
  a result counts as a skip).
* ``build_report(...)``: the JSON document; ``render_json``,
  ``render_junit`` and ``render_html`` turn it into the three files.
"""

import base64
import datetime
import hashlib
import html
import json
import re
import xml.etree.ElementTree as ET

RESULTS = ('pass', 'fail', 'skip')
NOT_AUTOMATABLE = 'not automatable'
VERDICTS = ('pass', 'fail', 'skip', NOT_AUTOMATABLE)
PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
NAME_MAX = 120

_BULLET = re.compile(r'^(\s*)- (.*)$')
_SECTION = re.compile(r'^##\s+(?:(\d+)\.\s*)?(.*?)\s*#*\s*$')
_SUBSECTION = re.compile(r'^###\s+(.*?)\s*#*\s*$')
_BOX = re.compile(r'^\[([ xX])\]\s+')
# Characters XML 1.0 cannot hold, even escaped.
_XML_INVALID = re.compile(u'[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]')


class ChecklistMappingError(ValueError):
    """The mapping does not cover the checklist line for line; ``errors`` lists every problem."""

    def __init__(self, errors):
        self.errors = list(errors)
        ValueError.__init__(self, 'the checklist mapping does not fit the checklist: ' + '; '.join(self.errors))


class ChecksError(ValueError):
    """A check result is malformed (no id, or a result other than pass, fail, skip)."""


# ---------------------------------------------------------------- checklist


def parse_checklist(markdown):
    """Every bullet line of the checklist, in order, as dicts.

    Keys: ``section`` (title without its number), ``section_number`` (the
    ``N`` of ``## N. Title``, else the section's ordinal), ``subsection``
    (None before the first ``###`` of a section), ``line`` (1-based),
    ``depth`` (0 top level, 1 nested once...), ``text`` (without ``- `` and
    the check box, markdown kept), ``done`` (True, False or None) and ``raw``
    (the line as written).
    """
    items = []
    section, section_number, subsection = None, 0, None
    ordinal = 0
    indents = []
    in_fence = False
    for number, raw in enumerate(markdown.splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith('```') or stripped.startswith('~~~'):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        if raw.startswith('### '):
            subsection = _SUBSECTION.match(raw).group(1)
            indents = []
            continue
        if raw.startswith('## '):
            ordinal += 1
            m = _SECTION.match(raw)
            section = m.group(2)
            section_number = int(m.group(1)) if m.group(1) else ordinal
            subsection = None
            indents = []
            continue
        m = _BULLET.match(raw)
        if not m:
            continue
        indent = len(m.group(1).expandtabs(4))
        while indents and indents[-1] > indent:
            indents.pop()
        if not indents or indents[-1] < indent:
            indents.append(indent)
        depth = len(indents) - 1
        text = m.group(2)
        done = None
        box = _BOX.match(text)
        if box:
            done = box.group(1) != ' '
            text = text[box.end():]
        items.append({
            'section': section,
            'section_number': section_number,
            'subsection': subsection,
            'line': number,
            'depth': depth,
            'text': text.rstrip(),
            'done': done,
            'raw': raw,
        })
    return items


def strip_markdown(text):
    """The text without inline markdown: code backticks, bold/italic markers, links, check marks."""
    text = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', text)
    text = text.replace('**', '').replace('__', '').replace('`', '')
    text = text.replace(u'\u2705', '')
    return re.sub(r'\s+', ' ', text).strip()


def _short(text, limit=NAME_MAX):
    text = strip_markdown(text)
    if len(text) <= limit:
        return text
    return text[:limit - 1].rstrip() + u'\u2026'


def _line_label(item):
    return 'line %d (%s)' % (item['line'], _short(item['text'], 60))


# ---------------------------------------------------------------- mapping


def _entry_label(index, entry):
    match = entry.get('match') if isinstance(entry, dict) else None
    return 'mapping entry %d (match %r)' % (index + 1, match)


def _entry_checks(entry):
    checks = entry.get('checks')
    if checks is None:
        return []
    if isinstance(checks, str):
        return [checks]
    return list(checks)


def mapping_errors(items, mapping):
    """Every way the mapping fails to cover the checklist, as messages (an empty list when it fits)."""
    errors = []
    covered = {}
    if not isinstance(mapping, (list, tuple)):
        return ['the mapping must be a list of entries, got %s' % type(mapping).__name__]
    for index, entry in enumerate(mapping):
        label = _entry_label(index, entry)
        if not isinstance(entry, dict):
            errors.append('%s: an entry must be a dict with match and checks or not_automatable' % label)
            continue
        match = entry.get('match')
        if not isinstance(match, str) or not match:
            errors.append('%s: match must be a non-empty string' % label)
            continue
        checks = entry.get('checks')
        reason = entry.get('not_automatable')
        if checks is not None and not (isinstance(checks, (list, tuple, str))
                                       and all(isinstance(c, str) and c for c in _entry_checks(entry))):
            errors.append('%s: checks must be a list of check ids' % label)
        if not _entry_checks(entry) and not reason:
            errors.append('%s: needs checks (a list of check ids) or not_automatable (the reason)' % label)
        if _entry_checks(entry) and reason:
            errors.append('%s: has both checks and not_automatable; a line is either decided by checks or '
                          'not automatable (use note for a remark)' % label)
        unknown = sorted(set(entry) - {'match', 'checks', 'not_automatable', 'note'})
        if unknown:
            errors.append('%s: unknown key(s) %s (allowed: match, checks, not_automatable, note)'
                          % (label, ', '.join(unknown)))
        hits = [item for item in items if match in item['raw']]
        if not hits:
            errors.append('%s matches no checklist line' % label)
        elif len(hits) > 1:
            errors.append('%s matches %d lines, it must match one: %s'
                          % (label, len(hits), ', '.join(_line_label(i) for i in hits)))
        else:
            covered.setdefault(hits[0]['line'], []).append(index)
    for item in items:
        entries = covered.get(item['line'], [])
        if not entries:
            errors.append('checklist %s has no mapping entry' % _line_label(item))
        elif len(entries) > 1:
            errors.append('checklist %s is matched by several mapping entries: %s'
                          % (_line_label(item), ', '.join(str(i + 1) for i in entries)))
    return errors


def apply_mapping(items, mapping):
    """Pair each checklist item with its mapping entry: a list of ``(item, entry)`` in checklist order.

    Raises ChecklistMappingError (its ``errors`` name the lines and entries)
    when a line has no entry or several, or an entry matches zero or several
    lines.
    """
    errors = mapping_errors(items, mapping)
    if errors:
        raise ChecklistMappingError(errors)
    pairs = []
    for item in items:
        entry = [e for e in mapping if e['match'] in item['raw']][0]
        pairs.append((item, entry))
    return pairs


# ---------------------------------------------------------------- checks


def normalize_checks(checks):
    """Validate the checks; returns them as given (copies), with ``result`` lower-cased."""
    if not isinstance(checks, (list, tuple)):
        raise ChecksError('checks must be a list of dicts {id, item, result, why, at}')
    out = []
    for index, check in enumerate(checks):
        if not isinstance(check, dict):
            raise ChecksError('check %d is not a dict {id, item, result, why, at}' % (index + 1))
        cid = check.get('id')
        if not isinstance(cid, str) or not cid:
            raise ChecksError('check %d has no id (a string like proxy.tls_headers)' % (index + 1))
        result = check.get('result')
        result = result.strip().lower() if isinstance(result, str) else result
        if result not in RESULTS:
            raise ChecksError('check %s has result %r: expected one of pass, fail, skip' % (cid, check.get('result')))
        copy = dict(check)
        copy['result'] = result
        out.append(copy)
    return out


def verdict(check_results):
    """``fail`` if any check failed, ``pass`` if one passed and none failed, ``skip`` otherwise.

    ``check_results`` is a list of check dicts (or of result strings); an
    entry whose result is None (a mapped check that was not run) counts as a
    skip.
    """
    results = [c.get('result') if isinstance(c, dict) else c for c in check_results]
    if 'fail' in results:
        return 'fail'
    if 'pass' in results:
        return 'pass'
    return 'skip'


def _parse_time(value):
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith('Z') or text.endswith('z'):
        text = text[:-1] + '+00:00'
    try:
        parsed = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed


def latest_time(values):
    """The latest of ISO-8601 times (the original string), or None when there is none."""
    best, best_value = None, None
    for value in values:
        parsed = _parse_time(value)
        if parsed is None:
            continue
        if best is None or parsed > best:
            best, best_value = parsed, value
    if best_value is None:
        plain = sorted(v for v in values if isinstance(v, str) and v)
        return plain[-1] if plain else None
    return best_value


def _evidence_part(check):
    why = check.get('why')
    why = ' '.join(str(why).split()) if why not in (None, '') else 'no details'
    return '%s %s: %s' % (check['id'], check['result'], why)


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


# ---------------------------------------------------------------- report


def build_report(checklist_md, mapping, checks, site, header=None, screenshot_png_bytes=None, generated=None,
                 title=None, screenshot_note=None):
    """The JSON document of the report (a dict); see the module's docstring and RETURN."""
    items = parse_checklist(checklist_md)
    if not items:
        raise ChecklistMappingError(['the checklist has no bullet line (lines starting with "- ")'])
    pairs = apply_mapping(items, mapping)
    checks = normalize_checks(checks)
    by_id = {}
    for check in checks:
        by_id.setdefault(check['id'], []).append(check)

    referenced = set()
    not_run = []
    lines = []
    for item, entry in pairs:
        ids = _entry_checks(entry)
        found, parts, results = [], [], []
        for cid in ids:
            referenced.add(cid)
            got = by_id.get(cid)
            if not got:
                parts.append('%s: not run' % cid)
                results.append(None)
                if cid not in not_run:
                    not_run.append(cid)
                continue
            for check in got:
                found.append(dict((k, check.get(k)) for k in ('id', 'item', 'result', 'why', 'at')))
                parts.append(_evidence_part(check))
                results.append(check['result'])
        reason = entry.get('not_automatable')
        if reason:
            line_verdict = NOT_AUTOMATABLE
            reason = ' '.join(str(reason).split())
        else:
            line_verdict = verdict(results)
            reason = None
        lines.append({
            'section': item['section'],
            'section_number': item['section_number'],
            'subsection': item['subsection'],
            'line': item['line'],
            'depth': item['depth'],
            'text': item['text'],
            'done': item['done'],
            'verdict': line_verdict,
            'evidence': '; '.join(parts) if parts else ('not automatable: %s' % reason if reason else ''),
            'checks': found,
            'check_ids': ids,
            'reason': reason,
            'note': entry.get('note'),
            'time': latest_time([c.get('at') for c in found]),
        })

    unmapped = []
    for check in checks:
        if check['id'] not in referenced and check['id'] not in unmapped:
            unmapped.append(check['id'])

    summary = {'lines': len(lines)}
    for v in VERDICTS:
        summary[v.replace(' ', '_')] = sum(1 for line in lines if line['verdict'] == v)
    summary['checks'] = dict((r, sum(1 for c in checks if c['result'] == r)) for r in RESULTS)
    summary['checks']['total'] = len(checks)
    summary['not_run'] = len(not_run)

    screenshot = None
    if screenshot_png_bytes is not None:
        data = bytes(screenshot_png_bytes)
        if data.startswith(PNG_SIGNATURE):
            screenshot = {'embedded': True, 'bytes': len(data), 'sha256': hashlib.sha256(data).hexdigest(),
                          'note': screenshot_note,
                          'png_base64': base64.b64encode(data).decode('ascii')}
        else:
            screenshot = {'embedded': False, 'bytes': len(data), 'sha256': None,
                          'note': screenshot_note or 'the screenshot is not a PNG file (no PNG signature): not embedded'}
    elif screenshot_note:
        screenshot = {'embedded': False, 'bytes': 0, 'sha256': None, 'note': screenshot_note}

    return {
        'site': site,
        'generated': generated or utc_now(),
        'title': title or 'Production readiness: %s' % site,
        'summary': summary,
        'header': dict(header) if header else None,
        'screenshot': screenshot,
        'checklist': lines,
        'checks': checks,
        'findings': [c for c in checks if c['id'].startswith('finding.')],
        'unmapped_checks': unmapped,
        'not_run_checks': not_run,
    }


def render_json(report):
    """The JSON file: the report without the screenshot's image data (its size and sha256 stay)."""
    doc = dict(report)
    if doc.get('screenshot'):
        doc['screenshot'] = dict((k, v) for k, v in doc['screenshot'].items() if k != 'png_base64')
    return json.dumps(doc, indent=2, sort_keys=False, ensure_ascii=False, default=str) + '\n'


# ---------------------------------------------------------------- JUnit


def _xml_text(value):
    return _XML_INVALID.sub(u'\ufffd', u'' if value is None else u'%s' % value)


def section_slug(title):
    slug = re.sub(r'[^a-z0-9]+', '_', strip_markdown(title or 'checklist').lower()).strip('_')
    return slug or 'section'


def _sections(report):
    """The checklist lines grouped by section, in order: a list of (number, title, lines)."""
    groups = []
    for line in report['checklist']:
        key = (line.get('section_number'), line.get('section'))
        if not groups or groups[-1][0] != key:
            groups.append((key, []))
        groups[-1][1].append(line)
    return [(key[0], key[1], lines) for key, lines in groups]


def render_junit(report):
    """JUnit XML: one testsuite per checklist section, one testcase per bullet line."""
    root = ET.Element('testsuites')
    total = {'tests': 0, 'failures': 0, 'skipped': 0}
    for number, title, lines in _sections(report):
        name = '%s. %s' % (number, title) if number is not None else (title or 'checklist')
        suite = ET.SubElement(root, 'testsuite')
        counts = {'tests': len(lines), 'failures': 0, 'skipped': 0}
        suite.set('name', _xml_text(strip_markdown(name)))
        suite.set('timestamp', _xml_text(report.get('generated')))
        suite.set('hostname', _xml_text(report.get('site')))
        for line in lines:
            case = ET.SubElement(suite, 'testcase')
            case.set('classname', 'checklist.%s' % section_slug(title))
            case.set('name', _xml_text('%d: %s' % (line['line'], _short(line['text']))))
            case.set('time', '0')
            evidence = line.get('evidence') or ''
            if line['verdict'] == 'fail':
                counts['failures'] += 1
                el = ET.SubElement(case, 'failure')
                el.set('message', _xml_text(evidence))
                el.set('type', 'fail')
                el.text = _xml_text(evidence)
            elif line['verdict'] == NOT_AUTOMATABLE:
                counts['skipped'] += 1
                el = ET.SubElement(case, 'skipped')
                el.set('message', _xml_text('not automatable: %s' % line.get('reason')))
            elif line['verdict'] == 'skip':
                counts['skipped'] += 1
                el = ET.SubElement(case, 'skipped')
                el.set('message', _xml_text(evidence or 'no check ran'))
            out = ET.SubElement(case, 'system-out')
            out.text = _xml_text(evidence if line['verdict'] != NOT_AUTOMATABLE else 'not automatable: %s'
                                 % line.get('reason'))
        for key in ('tests', 'failures', 'skipped'):
            suite.set(key, str(counts[key]))
            total[key] += counts[key]
        suite.set('errors', '0')
        suite.set('time', '0')
    root.set('name', _xml_text(report.get('title')))
    for key in ('tests', 'failures', 'skipped'):
        root.set(key, str(total[key]))
    root.set('errors', '0')
    root.set('time', '0')
    body = ET.tostring(root, encoding='unicode')
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + '\n'


# ---------------------------------------------------------------- HTML

_LABELS = {'pass': 'PASS', 'fail': 'FAIL', 'skip': 'SKIP', NOT_AUTOMATABLE: 'NOT AUTOMATABLE'}
_MARKS = {'pass': u'\u2713', 'fail': u'\u2717', 'skip': u'\u2013', NOT_AUTOMATABLE: u'\u25cb'}

# Okabe-Ito based palette (colour-blind safe), always with the verdict as a word and a mark.
_CSS = u"""
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;padding:16px;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
color:#1b1f24;background:#fff}
main{max-width:1200px;margin:0 auto}
h1{font-size:1.5em;margin:0 0 .3em}
h2{font-size:1.25em;margin:1.6em 0 .5em;border-bottom:1px solid #d0d7de;padding-bottom:.2em}
h3{font-size:1.05em;margin:1.1em 0 .4em}
p,li,td,th,dd,dt,figcaption{overflow-wrap:anywhere;word-break:normal}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em;background:#f3f4f6;
padding:0 .2em;border-radius:3px;overflow-wrap:anywhere}
#summary{border:2px solid #1b1f24;border-radius:8px;padding:12px 16px;margin:0 0 16px;background:#f8fafc}
#summary dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:.4em 0}
#summary dt{font-weight:600}
#summary dd{margin:0}
.counts{list-style:none;padding:0;margin:.6em 0;display:flex;flex-wrap:wrap;gap:8px}
.counts li{border:1px solid #57606a;border-radius:6px;padding:4px 10px;background:#fff}
.counts .n{font-weight:700;font-size:1.2em;margin-right:.3em}
.v{display:inline-block;border-radius:4px;padding:1px 6px;font-weight:700;font-size:.85em;
letter-spacing:.02em;border:1px solid;white-space:nowrap}
.v-pass{color:#004d38;background:#d5f2e9;border-color:#009e73}
.v-fail{color:#7a2b00;background:#fbe0cc;border-color:#d55e00}
.v-skip{color:#5c4000;background:#fdf0cf;border-color:#e69f00}
.v-not-automatable{color:#003d66;background:#d9ebf7;border-color:#0072b2}
tr.r-fail td:first-child{border-left:4px solid #d55e00}
tr.r-pass td:first-child{border-left:4px solid #009e73}
tr.r-skip td:first-child{border-left:4px solid #e69f00}
tr.r-not-automatable td:first-child{border-left:4px solid #0072b2}
table{border-collapse:collapse;width:100%;table-layout:fixed;margin:.3em 0 1em}
th,td{border:1px solid #d0d7de;padding:5px 7px;text-align:left;vertical-align:top}
th{background:#f3f4f6}
col.c-line{width:4.5em}col.c-verdict{width:9.5em}col.c-time{width:11em}col.c-id{width:14em}
td.depth-1{padding-left:1.6em}td.depth-2{padding-left:2.6em}
.muted{color:#57606a}
.note{border-left:4px solid #0072b2;background:#eef6fc;padding:6px 10px;margin:.6em 0}
figure{margin:1em 0}
figure img{width:min(100%,420px);height:auto;border:1px solid #d0d7de}
@media (max-width:700px){
body{padding:10px;font-size:14px}
table,thead,tbody,tr,th,td{display:block;width:auto}
colgroup,col{display:none}
thead{position:absolute;left:-9999px;top:-9999px}
tr{border:1px solid #d0d7de;border-radius:6px;margin:0 0 10px;padding:4px 0}
td{border:0;padding:3px 8px}
td.depth-1,td.depth-2{padding-left:8px}
td::before{content:attr(data-label) ": ";font-weight:600;color:#57606a}
tr.r-fail,tr.r-pass,tr.r-skip,tr.r-not-automatable{border-left-width:4px}
tr.r-fail{border-left-color:#d55e00}tr.r-pass{border-left-color:#009e73}
tr.r-skip{border-left-color:#e69f00}tr.r-not-automatable{border-left-color:#0072b2}
tr td:first-child{border-left:0}
#summary dl{grid-template-columns:1fr}
}
"""


def _e(value):
    return html.escape(u'' if value is None else u'%s' % value, quote=True)


def inline_markdown(text):
    """Escaped text with inline `code` and **bold** rendered (after escaping, so nothing else becomes markup)."""
    out = _e(text)
    out = re.sub(r'`([^`]+)`', r'<code>\1</code>', out)
    out = re.sub(r'\*\*(.+?)\*\*', r'<strong>\1</strong>', out)
    return out


def _badge(v):
    cls = 'v v-%s' % v.replace(' ', '-')
    return u'<span class="%s">%s %s</span>' % (cls, _MARKS.get(v, ''), _e(_LABELS.get(v, v.upper())))


def _header_line(header):
    if not header:
        return None
    parts = []
    if header.get('grade') is not None:
        parts.append('grade %s' % header['grade'])
    if header.get('score') is not None:
        parts.append('score %s' % header['score'])
    if header.get('min_grade') is not None:
        parts.append('minimum %s' % header['min_grade'])
    rest = [(k, v) for k, v in header.items() if k not in ('grade', 'score', 'min_grade', 'note')]
    parts.extend('%s %s' % (k, v) for k, v in rest)
    line = ', '.join(parts)
    if header.get('note'):
        line = '%s (%s)' % (line, header['note']) if line else header['note']
    return line


def _checks_table(checks, caption_id):
    rows = [u'<table id="%s"><colgroup><col class="c-id"><col><col class="c-verdict"><col><col class="c-time">'
            u'</colgroup><thead><tr><th scope="col">id</th><th scope="col">item</th><th scope="col">result</th>'
            u'<th scope="col">why</th><th scope="col">time</th></tr></thead><tbody>' % caption_id]
    for c in checks:
        rows.append(u'<tr class="r-%s"><td data-label="id"><code>%s</code></td><td data-label="item">%s</td>'
                    u'<td data-label="result">%s</td><td data-label="why">%s</td><td data-label="time">%s</td></tr>'
                    % (c['result'], _e(c['id']), _e(c.get('item')), _badge(c['result']), _e(c.get('why')),
                       _e(c.get('at'))))
    rows.append(u'</tbody></table>')
    return u''.join(rows)


def _evidence_parts(line):
    """The evidence of a line one check at a time (the JSON's evidence is these joined with '; ')."""
    parts = []
    for cid in line.get('check_ids') or []:
        got = [c for c in line.get('checks') or [] if c.get('id') == cid]
        if not got:
            parts.append('%s: not run' % cid)
        parts.extend(_evidence_part(c) for c in got)
    return parts


def render_html(report):
    """ONE self-contained HTML file: inline CSS, no script, no external asset."""
    s = report['summary']
    out = [u'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
           u'<meta name="viewport" content="width=device-width, initial-scale=1">',
           u'<title>%s</title><style>%s</style></head><body><main>' % (_e(report['title']), _CSS)]
    out.append(u'<section id="summary" aria-label="Summary"><h1>%s</h1><dl>' % _e(report['title']))
    out.append(u'<dt>Site</dt><dd>%s</dd>' % _e(report['site']))
    out.append(u'<dt>Generated</dt><dd><time datetime="%s">%s</time></dd>'
               % (_e(report['generated']), _e(report['generated'])))
    header_line = _header_line(report.get('header'))
    if header_line:
        out.append(u'<dt>Security headers</dt><dd id="header-grade">%s</dd>' % _e(header_line))
    out.append(u'<dt>Checklist</dt><dd>%d lines; checks: %d pass, %d fail, %d skip%s</dd></dl>'
               % (s['lines'], s['checks']['pass'], s['checks']['fail'], s['checks']['skip'],
                  (u', %d not run' % s['not_run']) if s.get('not_run') else u''))
    out.append(u'<ul class="counts">')
    for v in VERDICTS:
        out.append(u'<li class="count-%s"><span class="n">%d</span>%s</li>'
                   % (v.replace(' ', '-'), s[v.replace(' ', '_')], _badge(v)))
    out.append(u'</ul>')
    if s['fail']:
        failing = [line for line in report['checklist'] if line['verdict'] == 'fail']
        out.append(u'<p><strong>Failing lines:</strong> %s</p>' % u', '.join(
            u'<a href="#line-%d">%d</a>' % (line['line'], line['line']) for line in failing))
    out.append(u'</section>')

    shot = report.get('screenshot')
    if shot and shot.get('embedded') and shot.get('png_base64'):
        out.append(u'<figure id="screenshot"><img src="data:image/png;base64,%s" alt="Screenshot of %s">'
                   u'<figcaption>The site as the verification browser saw it (%d bytes).</figcaption></figure>'
                   % (shot['png_base64'], _e(report['site']), shot['bytes']))
        if shot.get('note'):
            out.append(u'<p class="note">%s</p>' % _e(shot['note']))
    elif shot and shot.get('note'):
        out.append(u'<p class="note" id="screenshot-note">Screenshot: %s</p>' % _e(shot['note']))

    for number, title, lines in _sections(report):
        anchor = number if number is not None else section_slug(title)
        out.append(u'<section id="section-%s"><h2>%s</h2>' % (_e(anchor), _e(
            '%s. %s' % (number, title) if number is not None else title)))
        subsection = object()
        open_table = False
        for line in lines:
            if line.get('subsection') != subsection:
                if open_table:
                    out.append(u'</tbody></table>')
                subsection = line.get('subsection')
                if subsection:
                    out.append(u'<h3>%s</h3>' % inline_markdown(subsection))
                out.append(u'<table><colgroup><col class="c-line"><col><col class="c-verdict"><col>'
                           u'<col class="c-time"></colgroup><thead><tr><th scope="col">line</th>'
                           u'<th scope="col">item</th><th scope="col">verdict</th><th scope="col">evidence</th>'
                           u'<th scope="col">time</th></tr></thead><tbody>')
                open_table = True
            v = line['verdict']
            box = {True: u'[x] ', False: u'[ ] '}.get(line.get('done'), u'')
            item_html = u'<span class="muted">%s</span>%s' % (_e(box), inline_markdown(line['text']))
            if line.get('note'):
                item_html += u'<br><span class="muted">Note: %s</span>' % _e(line['note'])
            if v == NOT_AUTOMATABLE:
                evidence = u'not automatable: %s' % _e(line.get('reason'))
            else:
                evidence = u'<br>'.join(_e(p) for p in _evidence_parts(line)) or u'&nbsp;'
            out.append(u'<tr id="line-%d" class="r-%s"><td data-label="line">%d</td>'
                       u'<td data-label="item" class="depth-%d">%s</td><td data-label="verdict">%s</td>'
                       u'<td data-label="evidence">%s</td><td data-label="time">%s</td></tr>'
                       % (line['line'], v.replace(' ', '-'), line['line'], min(line.get('depth') or 0, 2),
                          item_html, _badge(v), evidence, _e(line.get('time')) or u'&nbsp;'))
        if open_table:
            out.append(u'</tbody></table>')
        out.append(u'</section>')

    out.append(u'<section id="findings"><h2>Application findings</h2>')
    if report['findings']:
        out.append(u'<p>What the verification found in the application itself (not fixable by deployment '
                   u'settings).</p>')
        out.append(_checks_table(report['findings'], 'findings-table'))
    else:
        out.append(u'<p>No application finding.</p>')
    out.append(u'</section>')

    out.append(u'<section id="checks"><h2>All checks</h2>')
    if report.get('unmapped_checks'):
        out.append(u'<p class="note">Checks no checklist line refers to: %s</p>'
                   % u', '.join(u'<code>%s</code>' % _e(c) for c in report['unmapped_checks']))
    if report.get('not_run_checks'):
        out.append(u'<p class="note">Mapped checks that did not run: %s</p>'
                   % u', '.join(u'<code>%s</code>' % _e(c) for c in report['not_run_checks']))
    out.append(_checks_table(report['checks'], 'checks-table') if report['checks'] else u'<p>No check ran.</p>')
    out.append(u'</section>')
    out.append(u'<footer><p class="muted">Generated by divan.platform.verify_report at %s.</p></footer>'
               % _e(report['generated']))
    out.append(u'</main></body></html>\n')
    return u''.join(out)
