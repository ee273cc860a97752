# -*- coding: utf-8 -*-
"""The readiness report page in headless Chromium: summary first, readable on a phone, not blank.

The report is written by divan.platform.verify_report through ansible (the
shipped checklist and mapping, a fixture set of checks, a small PNG made here
as the embedded screenshot), then report.html is opened with selenium and
chromedriver at 1280x900 and at 375x800 (a phone, device metrics emulated
with mobile=true so the viewport meta applies).

Skipped only when chromium or chromedriver is not installed.
"""

import os
import shutil
import struct
import zlib

import pytest
import yaml

from integration_helpers import ROOT, run_module

CHROMIUM = next((p for p in (shutil.which('chromium'), shutil.which('chromium-browser'), '/usr/bin/chromium')
                 if p and os.path.exists(p)), None)
CHROMEDRIVER = '/usr/bin/chromedriver' if os.path.exists('/usr/bin/chromedriver') else shutil.which('chromedriver')
FILES = os.path.join(ROOT, 'roles', 'verify', 'files')
AT = '2026-03-01T10:00:%02dZ'

pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason='chromium and chromium-driver are not installed (apt-get install chromium '
                                       'chromium-driver)')


# ---------------------------------------------------------------- PNG, by hand


def make_png(width, height, pixel):
    """An RGB PNG; pixel(x, y) -> (r, g, b)."""
    raw = b''.join(b'\x00' + b''.join(struct.pack('BBB', *pixel(x, y)) for x in range(width))
                   for y in range(height))

    def chunk(kind, data):
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff)

    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0))
            + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def decode_png(data, max_rows=None):
    """(width, height, rows): rows of pixel tuples, 8-bit RGB or RGBA, non-interlaced (what Chromium writes)."""
    assert data[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
    pos, idat, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b'IHDR':
            header = struct.unpack('>IIBBBBB', body)
        elif kind == b'IDAT':
            idat.append(body)
        elif kind == b'IEND':
            break
        pos += 12 + length
    width, height, depth, colour, _c, _f, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(b''.join(idat))
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height if max_rows is None else min(height, max_rows)):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xff
            elif kind == 2:
                line[i] = (line[i] + b) & 0xff
            elif kind == 3:
                line[i] = (line[i] + ((a + b) >> 1)) & 0xff
            elif kind == 4:
                line[i] = (line[i] + _paeth(a, b, c)) & 0xff
        rows.append([tuple(line[x:x + 3]) for x in range(0, stride, bpp)])
        prev = line
    return width, height, rows


def test_png_helpers_round_trip():
    png = make_png(4, 3, lambda x, y: (x * 60, y * 80, 7))
    width, height, rows = decode_png(png)
    assert (width, height) == (4, 3) and rows[2][3] == (180, 160, 7)


# ---------------------------------------------------------------- the report


def fixture_checks():
    def check(cid, result, why, second):
        return {'id': cid, 'item': cid.replace('.', ' ').replace('_', ' '), 'result': result, 'why': why,
                'at': AT % second}

    return [
        check('proxy.tls_headers', 'pass', 'HSTS max-age=63072000; includeSubDomains; CSP, nosniff; grade A+ '
              '(score 105)', 1),
        check('proxy.frontend', 'pass', 'GET https://example.org/ 200 in 41 ms', 2),
        check('browser.frontend', 'pass', 'rendered in 812 ms, 0 console errors', 3),
        check('app.services', 'pass', '4 of 4 containers up with restart=always', 4),
        check('proxy.health', 'pass', 'GET /api/health/ready 200 {"status":"ok"}', 5),
        check('app.s3', 'fail', 'S3_BUCKET_NAME, S3_REGION, S3_ACCESS_KEY, S3_SECRET_KEY unset: uploads stay on '
              'the local volume /var/lib/divan/uploads-with-a-very-long-path-that-must-wrap-on-a-phone-screen', 6),
        check('db.collation', 'skip', 'the database is managed elsewhere', 7),
        check('env.SECRET_KEY', 'pass', '64 characters, about 240 bits of entropy', 8),
        check('proxy.socketio', 'fail', '10 of 20 polls: 400 Invalid session (pids 7, 9)', 9),
        check('finding.realtime', 'fail', 'Socket.IO uses the in-memory manager with 4 workers and no sticky '
              'sessions: application change needed', 10),
        check('host.time_sync', 'pass', 'chrony synchronised, offset 0.4 ms', 11),
    ]


@pytest.fixture(scope='module')
def report_dir(tmp_path_factory):
    dest = tmp_path_factory.mktemp('report')
    shot = dest / 'front.png'
    shot.write_bytes(make_png(160, 90, lambda x, y: (0, 114, 178) if (x // 20 + y // 15) % 2 else (230, 159, 0)))
    with open(os.path.join(FILES, 'PRODUCTION_CHECKLIST.md'), encoding='utf-8') as handle:
        checklist = handle.read()
    with open(os.path.join(FILES, 'checklist-map.yml'), encoding='utf-8') as handle:
        mapping = yaml.safe_load(handle)
    rc, result, output = run_module('verify_report', {
        'checklist': checklist, 'mapping': mapping, 'checks': fixture_checks(), 'site': 'example.org',
        'header': {'score': 105, 'grade': 'A+', 'min_grade': 'B'}, 'screenshot': str(shot), 'dest': str(dest)})
    assert rc == 0, output
    assert result['changed'] is False and 'screenshot_note' not in result
    assert result['summary']['lines'] == 44
    return dest, result


@pytest.fixture(scope='module')
def driver():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:  # pragma: no cover
        pytest.fail('selenium is not installed in the virtualenv: pip install selenium')
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ('--headless=new', '--disable-gpu', '--disable-dev-shm-usage', '--hide-scrollbars',
                '--window-size=1280,900', '--force-device-scale-factor=1'):
        options.add_argument(arg)
    if os.geteuid() == 0:
        options.add_argument('--no-sandbox')
    drv = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield drv
    finally:
        drv.quit()


SIZES = [
    pytest.param(1280, 900, False, 'report-screenshot.png', id='desktop-1280x900'),
    pytest.param(375, 800, True, 'report-screenshot-phone.png', id='phone-375x800'),
]


@pytest.mark.parametrize('width, height, mobile, shot_name', SIZES)
def test_report_page_in_chromium(report_dir, driver, width, height, mobile, shot_name):
    dest, result = report_dir
    summary = result['summary']
    driver.execute_cdp_cmd('Emulation.setDeviceMetricsOverride',
                           {'width': width, 'height': height, 'deviceScaleFactor': 1, 'mobile': mobile})
    try:
        driver.get('file://%s' % (dest / 'report.html'))
        assert driver.execute_script('return document.readyState') == 'complete'
        assert driver.execute_script('return window.innerWidth') == width

        el = driver.find_element('id', 'summary')
        assert el.is_displayed()
        rect = driver.execute_script('var r = arguments[0].getBoundingClientRect();'
                                     'return {top: r.top, left: r.left, right: r.right, height: r.height};', el)
        inner_height = driver.execute_script('return window.innerHeight')
        assert 0 <= rect['top'] < inner_height, rect
        assert rect['right'] <= width + 1, rect
        text = el.text
        assert 'example.org' in text and 'grade A+' in text
        for verdict, key in (('PASS', 'pass'), ('FAIL', 'fail'), ('SKIP', 'skip'),
                             ('NOT AUTOMATABLE', 'not_automatable')):
            assert verdict in text
            assert str(summary[key]) in text
        assert '44 lines' in text

        scroll_width = driver.execute_script('return document.documentElement.scrollWidth')
        inner_width = driver.execute_script('return window.innerWidth')
        assert scroll_width <= inner_width + 1, 'horizontal scroll: %s > %s' % (scroll_width, inner_width)

        natural = driver.execute_script(
            'var i = document.querySelector("#screenshot img"); return i && i.complete ? i.naturalWidth : -1')
        assert natural == 160

        png = driver.get_screenshot_as_png()
        (dest / shot_name).write_bytes(png)
        shot_width, _h, rows = decode_png(png, max_rows=int(rect['top'] + min(rect['height'], 300)))
        assert shot_width == width
        top = rows[int(rect['top']):]
        colours = set(px for row in top for px in row[::3])
        assert len(colours) > 1, 'the top of the page is blank (one colour: %s)' % colours
    finally:
        driver.execute_cdp_cmd('Emulation.clearDeviceMetricsOverride', {})
