# -*- coding: utf-8 -*-
"""The readiness report: checklist parsing, the shipped mapping, verdicts, and the three renderings."""

import json
import os
import re
import xml.etree.ElementTree as ET

import pytest
import yaml

from ansible_collections.divan.platform.plugins.module_utils import readiness_report as rr

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
FILES = os.path.join(ROOT, 'roles', 'verify', 'files')
CHECKLIST_PATH = os.path.join(FILES, 'PRODUCTION_CHECKLIST.md')
MAP_PATH = os.path.join(FILES, 'checklist-map.yml')
SEED = os.path.join(os.path.dirname(ROOT), 'shared', 'seed', 'PRODUCTION_CHECKLIST.md')
AT = '2026-03-01T10:00:%02dZ'


@pytest.fixture(scope='module')
def checklist():
    with open(CHECKLIST_PATH, encoding='utf-8') as handle:
        return handle.read()


@pytest.fixture(scope='module')
def mapping():
    with open(MAP_PATH, encoding='utf-8') as handle:
        return yaml.safe_load(handle)


def bullet_lines(markdown):
    return [n for n, line in enumerate(markdown.splitlines(), 1) if re.match(r'^\s*- ', line)]


def check(cid, result, why='because', second=0, item=None):
    return {'id': cid, 'item': item or cid.replace('.', ' '), 'result': result, 'why': why, 'at': AT % second}


def fixture_checks():
    return [
        check('proxy.tls_headers', 'pass', 'HSTS max-age=63072000; grade A+ (score 105)', 1),
        check('proxy.frontend', 'pass', '200 in 41 ms', 2),
        check('browser.frontend', 'pass', 'rendered, 0 console errors', 3),
        check('app.services', 'pass', '4 of 4 containers up, restart=always', 4),
        check('proxy.health', 'pass', '/api/health 200', 5),
        check('app.s3', 'fail', 'S3_BUCKET_NAME unset', 6),
        check('db.collation', 'skip', 'no database on this host', 7),
        check('finding.realtime', 'fail', 'Socket.IO in-memory manager with 4 workers: 10 of 20 polls 400', 8),
        check('host.time_sync', 'pass', 'chrony synchronised', 9),
    ]


# ---------------------------------------------------------------- the shipped files


def test_shipped_checklist_parses_into_44_lines_in_8_sections(checklist):
    items = rr.parse_checklist(checklist)
    assert len(items) == 44 == len(bullet_lines(checklist))
    assert [i['line'] for i in items] == bullet_lines(checklist)
    assert len(set(i['section'] for i in items)) == 8
    assert sorted(set(i['section_number'] for i in items)) == list(range(1, 9))


def test_parse_fields(checklist):
    by_line = dict((i['line'], i) for i in rr.parse_checklist(checklist))
    first = by_line[8]
    assert first['section'] == 'Infrastructure & Architecture' and first['subsection'] == 'Containerization'
    assert first['done'] is True and first['depth'] == 0 and first['text'].startswith('**Frontend**:')
    assert by_line[9]['done'] is False
    route = by_line[14]
    assert route['depth'] == 1 and route['done'] is None and route['text'] == 'Route `/api/*` -> Backend (`8000`)'
    assert route['subsection'] == 'Reverse Proxy & SSL'
    assert by_line[24]['subsection'] == 'Security Secrets' and by_line[31]['subsection'] == 'Feature Flags'
    assert by_line[54]['section'] == 'Backend (FastAPI)' and by_line[54]['subsection'] is None
    assert by_line[58]['depth'] == 1
    assert 23 not in by_line  # "Ensure the following..." is prose, not a bullet


def test_parse_nesting_and_fences():
    md = '## 1. A\n- top\n  - nested\n      - deeper\n  - nested again\n- [X] done\n```\n- not a bullet\n```\n'
    items = rr.parse_checklist(md)
    assert [(i['line'], i['depth']) for i in items] == [(2, 0), (3, 1), (4, 2), (5, 1), (6, 0)]
    assert items[-1]['done'] is True and items[-1]['text'] == 'done'


def test_shipped_mapping_covers_every_line_exactly_once(checklist, mapping):
    items = rr.parse_checklist(checklist)
    assert rr.mapping_errors(items, mapping) == []
    pairs = rr.apply_mapping(items, mapping)
    assert len(pairs) == len(mapping) == 44
    # one entry per line, in the checklist's order
    assert [entry['match'] for _item, entry in pairs] == [entry['match'] for entry in mapping]


def test_every_match_matches_one_line(checklist, mapping):
    items = rr.parse_checklist(checklist)
    for entry in mapping:
        hits = [i['line'] for i in items if entry['match'] in i['raw']]
        assert len(hits) == 1, (entry['match'], hits)
        assert bool(entry.get('checks')) != bool(entry.get('not_automatable')), entry


def test_shipped_mapping_table(checklist, mapping):
    items = rr.parse_checklist(checklist)
    by_line = dict((item['line'], entry) for item, entry in rr.apply_mapping(items, mapping))
    assert by_line[13]['checks'] == ['proxy.tls_headers', 'proxy.frontend', 'proxy.health']
    assert by_line[24]['checks'] == ['env.SECRET_KEY'] and by_line[50]['checks'] == ['app.s3']
    assert by_line[28]['checks'] == ['env.OBS_ADMIN_TOKEN', 'backend.metrics']
    assert sorted(n for n, e in by_line.items() if e.get('not_automatable')) == [40, 63, 75]
    assert 'SENTRY_DSN' in by_line[75]['not_automatable']


def test_shipped_copy_equals_the_seed():
    if not os.path.exists(SEED):
        pytest.skip('%s is not there (only in the project workspace)' % SEED)
    with open(SEED, 'rb') as seed, open(CHECKLIST_PATH, 'rb') as copy:
        assert copy.read() == seed.read()


# ---------------------------------------------------------------- mapping errors


def test_mapping_missing_a_line_is_refused_with_the_line_number(checklist, mapping):
    items = rr.parse_checklist(checklist)
    short = [e for e in mapping if e['match'] != '`REFRESH_PEPPER`:']
    with pytest.raises(rr.ChecklistMappingError) as exc:
        rr.apply_mapping(items, short)
    assert 'line 26' in str(exc.value) and 'REFRESH_PEPPER' in str(exc.value)
    assert exc.value.errors == ['checklist line 26 (REFRESH_PEPPER: For hashing refresh tokens.) has no mapping entry']
    with pytest.raises(rr.ChecklistMappingError, match='line 26'):
        rr.build_report(checklist, short, [], 'example.org')


def test_mapping_entry_matching_several_lines_or_none(checklist, mapping):
    items = rr.parse_checklist(checklist)
    broad = list(mapping) + [{'match': 'Route', 'checks': ['x']}]
    errors = rr.mapping_errors(items, broad)
    assert len(errors) == 1 and 'matches 3 lines' in errors[0]
    assert 'line 14' in errors[0] and 'line 15' in errors[0] and 'line 16' in errors[0]
    none = list(mapping) + [{'match': 'Kubernetes', 'checks': ['x']}]
    assert rr.mapping_errors(items, none) == ["mapping entry 45 (match 'Kubernetes') matches no checklist line"]


def test_mapping_line_matched_twice_and_bad_entries(checklist, mapping):
    items = rr.parse_checklist(checklist)
    twice = list(mapping) + [{'match': '**Sentry**', 'not_automatable': 'again'}]
    assert any('line 75' in e and 'several mapping entries' in e for e in rr.mapping_errors(items, twice))
    bad = list(mapping[:-1]) + [{'match': '**Security Headers**:'}]
    assert any('needs checks' in e for e in rr.mapping_errors(items, bad))
    both = list(mapping[:-1]) + [{'match': '**Security Headers**:', 'checks': ['a'], 'not_automatable': 'b'}]
    assert any('both checks and not_automatable' in e for e in rr.mapping_errors(items, both))
    typo = list(mapping[:-1]) + [{'match': '**Security Headers**:', 'check': ['a']}]
    assert any('unknown key(s) check' in e for e in rr.mapping_errors(items, typo))


# ---------------------------------------------------------------- verdicts


@pytest.mark.parametrize('results, expected', [
    (['pass'], 'pass'),
    (['pass', 'skip'], 'pass'),
    (['pass', 'fail'], 'fail'),
    (['skip', 'fail'], 'fail'),
    (['skip'], 'skip'),
    ([], 'skip'),
    ([None], 'skip'),
    (['pass', None], 'pass'),
    ([None, 'fail'], 'fail'),
])
def test_verdict_rules(results, expected):
    assert rr.verdict([{'result': r} for r in results]) == expected
    assert rr.verdict(results) == expected


def test_line_verdicts_evidence_and_time(checklist, mapping):
    checks = fixture_checks() + [check('proxy.frontend', 'fail', 'second host: 502', 30)]
    report = rr.build_report(checklist, mapping, checks, 'example.org', generated='2026-03-01T10:05:00Z')
    by_line = dict((line['line'], line) for line in report['checklist'])
    assert by_line[17]['verdict'] == 'pass' and by_line[17]['evidence'] == \
        'proxy.tls_headers pass: HSTS max-age=63072000; grade A+ (score 105)'
    assert by_line[13]['verdict'] == 'fail'  # one of the two proxy.frontend results failed
    assert by_line[13]['time'] == AT % 30
    assert by_line[47]['verdict'] == 'fail'
    assert by_line[42]['verdict'] == 'skip' and by_line[42]['evidence'] == 'db.collation skip: no database on this host'
    assert by_line[24]['verdict'] == 'skip' and by_line[24]['evidence'] == 'env.SECRET_KEY: not run'
    assert by_line[24]['time'] is None and by_line[24]['checks'] == []
    assert by_line[14]['verdict'] == 'pass'
    assert by_line[54]['verdict'] == 'fail' and 'app.workers: not run' in by_line[54]['evidence']
    assert by_line[75]['verdict'] == 'not automatable' and 'SENTRY_DSN' in by_line[75]['reason']
    assert by_line[40]['checks'] == []


def test_bad_checks_are_refused(checklist, mapping):
    with pytest.raises(rr.ChecksError, match="check app.s3 has result 'ok'"):
        rr.build_report(checklist, mapping, [check('app.s3', 'ok')], 'example.org')
    with pytest.raises(rr.ChecksError, match='no id'):
        rr.build_report(checklist, mapping, [{'result': 'pass'}], 'example.org')
    assert rr.normalize_checks([check('a', 'PASS')])[0]['result'] == 'pass'


def test_latest_time():
    assert rr.latest_time(['2026-03-01T10:00:00Z', '2026-03-01T11:00:00+01:00', '2026-03-01T10:30:00Z']) == \
        '2026-03-01T10:30:00Z'
    assert rr.latest_time([None, '']) is None


# ---------------------------------------------------------------- renderings


@pytest.fixture(scope='module')
def report(checklist, mapping):
    png = b'\x89PNG\r\n\x1a\n' + b'\x00' * 16
    return rr.build_report(checklist, mapping, fixture_checks(), 'example.org', generated='2026-03-01T10:05:00Z',
                           header={'score': 105, 'grade': 'A+', 'min_grade': 'B', 'note': 'Mozilla Observatory'},
                           screenshot_png_bytes=png)


def test_json_document_round_trip(report, checklist):
    doc = json.loads(rr.render_json(report))
    assert len(doc['checklist']) == 44 == len(bullet_lines(checklist))
    assert doc['site'] == 'example.org' and doc['generated'] == '2026-03-01T10:05:00Z'
    # pass: lines 8, 9, 10, 13, 14, 16, 17, 62, 64, 68, 81; fail: app.s3 (46-50) and finding.realtime (54, 69)
    assert doc['summary'] == {'lines': 44, 'pass': 11, 'fail': 7, 'skip': 23, 'not_automatable': 3,
                              'checks': {'pass': 6, 'fail': 2, 'skip': 1, 'total': 9}, 'not_run': 28}
    assert sum(doc['summary'][k] for k in ('pass', 'fail', 'skip', 'not_automatable')) == 44
    assert doc['header']['grade'] == 'A+'
    assert doc['checks'] == fixture_checks()
    assert [f['id'] for f in doc['findings']] == ['finding.realtime']
    assert doc['unmapped_checks'] == ['host.time_sync']
    assert 'png_base64' not in doc['screenshot'] and doc['screenshot']['bytes'] == 24
    for line in doc['checklist']:
        assert set(['section', 'subsection', 'line', 'text', 'done', 'verdict', 'evidence', 'checks', 'reason',
                    'time']) <= set(line)


def test_junit_parses_with_junitparser(report, tmp_path):
    junitparser = pytest.importorskip('junitparser')
    path = tmp_path / 'report.junit.xml'
    path.write_text(rr.render_junit(report), encoding='utf-8')
    xml = junitparser.JUnitXml.fromfile(str(path))
    suites = list(xml)
    assert len(suites) == 8
    assert sum(s.tests for s in suites) == 44 == xml.tests
    assert xml.failures == 7 == sum(s.failures for s in suites)
    assert xml.skipped == 26 == sum(s.skipped for s in suites)
    assert xml.errors == 0
    cases = [c for s in suites for c in s]
    assert len(cases) == 44
    by_line = dict((int(c.name.split(':')[0]), c) for c in cases)
    assert by_line[8].classname == 'checklist.infrastructure_architecture'
    assert by_line[8].name.startswith('8: Frontend: Create a multi-stage Dockerfile')
    assert all(len(c.name) <= 130 for c in cases)
    failure = [r for r in by_line[47].result if isinstance(r, junitparser.Failure)][0]
    assert failure.message == 'app.s3 fail: S3_BUCKET_NAME unset'
    skipped = [r for r in by_line[75].result if isinstance(r, junitparser.Skipped)][0]
    assert skipped.message.startswith('not automatable: The platform has no Sentry SDK')
    assert by_line[17].is_passed and by_line[17].system_out.startswith('proxy.tls_headers pass')


def test_junit_escapes_everything(checklist, mapping):
    nasty = 'a <b> & "c" \' ]]> \x01 \x1b[0m'
    report = rr.build_report(checklist, mapping, [check('app.s3', 'fail', nasty)], 'ex<am>ple&org',
                             title='T "<&>"')
    text = rr.render_junit(report)
    root = ET.fromstring(text.encode('utf-8'))
    failures = list(root.iter('failure'))
    assert any('a <b> & "c"' in f.get('message') for f in failures)
    assert root.get('name') == 'T "<&>"'


def test_html_is_self_contained(report):
    page = rr.render_html(report)
    assert page.startswith('<!DOCTYPE html>')
    assert 'src="http' not in page and '<link' not in page and '<script' not in page
    assert 'id="summary"' in page
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert 'overflow-wrap:anywhere' in page
    assert '<figure id="screenshot"><img src="data:image/png;base64,' in page
    for n in range(1, 9):
        assert '<section id="section-%d">' % n in page
    assert 'grade A+, score 105, minimum B (Mozilla Observatory)' in page
    # the verdict is a word, not only a colour
    for word in ('PASS', 'FAIL', 'SKIP', 'NOT AUTOMATABLE'):
        assert word in page
    assert '<strong>Frontend</strong>' in page and '<code>frontend/Dockerfile</code>' in page
    assert 'id="findings"' in page and 'finding.realtime' in page and 'host.time_sync' in page


def test_html_escapes_text(checklist, mapping):
    evil = '<script>alert(1)</script> `x` **y**'
    report = rr.build_report(checklist, mapping, [check('app.s3', 'fail', evil, item=evil)], '<img src=x>')
    page = rr.render_html(report)
    assert '<script>' not in page and '<img src=x>' not in page
    assert '&lt;script&gt;alert(1)&lt;/script&gt;' in page


def test_screenshot_not_a_png_or_missing_is_a_note(checklist, mapping):
    report = rr.build_report(checklist, mapping, [], 'example.org', screenshot_png_bytes=b'GIF89a')
    assert report['screenshot']['embedded'] is False and 'not a PNG' in report['screenshot']['note']
    page = rr.render_html(report)
    assert 'id="screenshot"' not in page and 'not a PNG' in page
    report = rr.build_report(checklist, mapping, [], 'example.org', screenshot_note='shot.png does not exist')
    assert 'shot.png does not exist' in rr.render_html(report)
    assert rr.build_report(checklist, mapping, [], 'example.org')['screenshot'] is None


# ---------------------------------------------------------------- the module, in-process


def run_module(args, capsys, check_mode=False):
    from ansible.module_utils.testing import patch_module_args

    from ansible_collections.divan.platform.plugins.modules import verify_report

    if check_mode:
        args = dict(args, _ansible_check_mode=True)
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exc:
            verify_report.main()
    out = capsys.readouterr().out
    return exc.value.code, json.loads(out[out.index('{'):])


@pytest.mark.parametrize('check_mode', [False, True])
def test_module_writes_the_three_files(checklist, mapping, tmp_path, capsys, check_mode):
    dest = tmp_path / 'out' / 'example.org'
    rc, result = run_module({'checklist': checklist, 'mapping': mapping, 'checks': fixture_checks(),
                             'site': 'example.org', 'dest': str(dest), 'screenshot': str(tmp_path / 'nope.png'),
                             'header': {'grade': 'A+', 'score': 105}}, capsys, check_mode=check_mode)
    assert rc == 0, result
    assert result['changed'] is False
    assert result['summary']['lines'] == 44 and result['summary']['fail'] == 7
    assert result['unmapped_checks'] == ['host.time_sync']
    assert set(result['files']) == {'html', 'junit', 'json'}
    assert result['files']['html'] == str(dest / 'report.html')
    for path in result['files'].values():
        assert os.path.getsize(path) > 0
    assert 'does not exist' in result['screenshot_note']
    assert 'nope.png does not exist' in (dest / 'report.html').read_text(encoding='utf-8')
    assert json.loads((dest / 'report.json').read_text(encoding='utf-8'))['summary'] == result['summary']
    assert sorted(os.listdir(str(dest))) == ['report.html', 'report.json', 'report.junit.xml']


def test_module_refuses_a_mapping_that_does_not_cover_the_checklist(checklist, mapping, tmp_path, capsys):
    short = [e for e in mapping if e['match'] not in ('`REFRESH_PEPPER`:', '**Sentry**:')]
    rc, result = run_module({'checklist': checklist, 'mapping': short, 'checks': [], 'site': 'example.org',
                             'dest': str(tmp_path)}, capsys)
    assert rc == 1 and result['failed']
    assert 'line 26 (REFRESH_PEPPER: For hashing refresh tokens.) has no mapping entry' in result['msg']
    assert 'line 75 (Sentry: Set up Sentry' in result['msg']
    assert not os.listdir(str(tmp_path))
    broad = list(mapping) + [{'match': 'Route', 'checks': ['x']}]
    rc, result = run_module({'checklist': checklist, 'mapping': broad, 'checks': [], 'site': 'example.org',
                             'dest': str(tmp_path)}, capsys)
    assert rc == 1 and "match 'Route') matches 3 lines" in result['msg']


def test_module_refuses_a_bad_check(checklist, mapping, tmp_path, capsys):
    rc, result = run_module({'checklist': checklist, 'mapping': mapping, 'checks': [check('app.s3', 'maybe')],
                             'site': 'example.org', 'dest': str(tmp_path)}, capsys)
    assert rc == 1 and "check app.s3 has result 'maybe': expected one of pass, fail, skip" in result['msg']
