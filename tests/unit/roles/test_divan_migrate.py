# -*- coding: utf-8 -*-
"""roles/app/files/divan-migrate.py driven with a fake driver (no database, no network).

The script is loaded from its path with importlib (its name has a hyphen and it
is no plugin). FakeDriver keeps an in-memory schema_migrations, understands
exactly the statements the script's Store sends (anything else fails the
test), keeps transactions (BEGIN / COMMIT / ROLLBACK restore the table and the
migrations' effects) and fails a migration whose text contains FAIL_HERE.
"""

import copy
import hashlib
import importlib.util
import json
import os
import subprocess
import sys

import pytest

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'roles', 'app', 'files', 'divan-migrate.py')
SCRIPT = os.path.normpath(SCRIPT)


def _load():
    spec = importlib.util.spec_from_file_location('divan_migrate', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


dm = _load()

PASSWORD = 'Owner-S3cret-pw'
URL = 'postgresql://divan_owner:%s@db.internal:5433/divan' % PASSWORD
OUR_COLUMNS = ('version', 'checksum', 'applied_at', 'execution_ms', 'applied_by')


class FakePgError(Exception):
    sqlstate = '42601'


class FakeDriver(object):
    name = 'fake'

    def __init__(self, rows=None, columns=None, lock_free=True):
        # rows: {version: {'checksum': ..., 'applied_by': ..., 'execution_ms': ...}}; None = no table.
        if rows is None and columns is None:
            self.columns = None
            self.rows = None
        else:
            self.columns = dict(columns if columns is not None else {c: (c in ('version', 'applied_at'), c == 'applied_at')
                                                                     for c in OUR_COLUMNS})
            self.rows = dict(rows or {})
        self.lock_free = lock_free  # bool, or a list of answers for successive tries
        self.lock_tries = 0
        self.effects = []  # the migrations' SQL that ran and was not rolled back
        self.log = []  # every statement, migrations as ('script', sql)
        self.snapshot = None
        self.closed = False

    # -- driver interface
    def execute(self, sql, *args):
        self.log.append(sql)
        if sql == 'BEGIN':
            assert self.snapshot is None, 'nested BEGIN'
            self.snapshot = (copy.deepcopy(self.rows), copy.deepcopy(self.columns), list(self.effects))
        elif sql == 'COMMIT':
            assert self.snapshot is not None, 'COMMIT without BEGIN'
            self.snapshot = None
        elif sql == 'ROLLBACK':
            if self.snapshot is not None:
                self.rows, self.columns, self.effects = self.snapshot
            self.snapshot = None
        elif sql == dm.SQL_CREATE:
            if self.columns is None:
                self.columns = {c: (c in ('version', 'applied_at'), c == 'applied_at') for c in OUR_COLUMNS}
                self.rows = {}
        elif sql.startswith('ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS '):
            name = sql.split()[8]
            self.columns.setdefault(name, (False, 'DEFAULT' in sql))
        elif sql == dm.SQL_INSERT:
            version, checksum, execution_ms, applied_by = args
            if version in self.rows:
                raise FakePgError('duplicate key value violates unique constraint "schema_migrations_pkey"')
            self.rows[version] = {'checksum': checksum, 'execution_ms': execution_ms, 'applied_by': applied_by}
        elif sql == dm.SQL_FILL_CHECKSUM:
            version, checksum = args
            if self.rows[version]['checksum'] is None:
                self.rows[version]['checksum'] = checksum
        else:
            raise AssertionError('unexpected statement: %r' % sql)

    def fetch(self, sql, *args):
        self.log.append(sql)
        if sql == dm.SQL_COLUMNS:
            return [(name, notnull, hasdef) for name, (notnull, hasdef) in (self.columns or {}).items()]
        if sql == dm.SQL_RECORDED:
            return [(v, r['checksum']) for v, r in self.rows.items()]
        if sql == dm.SQL_RECORDED_NO_CHECKSUM:
            return [(v, None) for v in self.rows]
        if sql == dm.SQL_LATEST:
            return [(max(self.rows),)] if self.rows else []
        if sql == dm.SQL_TRY_LOCK:
            assert args == (dm.LOCK_KEY,)
            self.lock_tries += 1
            if isinstance(self.lock_free, list):
                return [(self.lock_free.pop(0) if self.lock_free else True,)]
            return [(self.lock_free,)]
        raise AssertionError('unexpected query: %r' % sql)

    def run_script(self, sql):
        self.log.append(('script', sql))
        if 'FAIL_HERE' in sql:
            raise FakePgError('syntax error at or near "FAIL_HERE"')
        self.effects.append(sql)

    def close(self):
        self.closed = True

    # -- helpers for the tests
    def writes(self):
        reads = (dm.SQL_COLUMNS, dm.SQL_RECORDED, dm.SQL_RECORDED_NO_CHECKSUM, dm.SQL_LATEST, dm.SQL_TRY_LOCK)
        return [s for s in self.log if s not in reads]


class Run(object):
    """One main() call: status, printed lines, parsed result, what the connector got."""

    def __init__(self, tmp_path, driver, args=(), env=None, sleep=None, clock=None, connect_error=None):
        self.lines = []
        self.connect_calls = []

        def connector(url, ssl, connect_timeout, driver_choice):
            self.connect_calls.append((url, ssl, connect_timeout, driver_choice))
            if connect_error is not None:
                raise connect_error
            return driver

        kwargs = {}
        if sleep is not None:
            kwargs.update(sleep=sleep, clock=clock)
        argv = list(args)
        if '--dir' not in argv:
            argv = ['--dir', str(tmp_path / 'migrations')] + argv
        self.status = dm.main(argv, env={'POSTGRES_URL': URL} if env is None else env, out=self.lines.append,
                              connector=connector, **kwargs)
        assert self.lines[-1].startswith('DIVAN_MIGRATE_RESULT '), self.lines
        self.result = json.loads(self.lines[-1][len('DIVAN_MIGRATE_RESULT '):])
        self.text = '\n'.join(self.lines)

    def applying(self):
        return [line.split()[2] for line in self.lines if line.startswith('divan-migrate: applying ')]


def write(tmp_path, files):
    folder = tmp_path / 'migrations'
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_bytes(text.encode('utf-8') if isinstance(text, str) else text)
    return folder


def sha(text):
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


FILES = {
    '020_seed_activity_categories.sql': 'INSERT INTO categories VALUES (1);\nINSERT INTO categories VALUES (2);\n',
    '001_init.sql': 'CREATE EXTENSION IF NOT EXISTS "uuid-ossp";\nCREATE TABLE IF NOT EXISTS users (id uuid);\n',
    '003_notes.sql': 'CREATE TABLE IF NOT EXISTS notes (id int);\n',
    '002_users_email.sql': 'ALTER TABLE users ADD COLUMN IF NOT EXISTS email text;\n',
}
ORDER = ['001_init.sql', '002_users_email.sql', '003_notes.sql', '020_seed_activity_categories.sql']


# ---------------------------------------------------------------- applying


def test_first_run_applies_every_file_in_name_order_each_in_its_own_transaction(tmp_path):
    write(tmp_path, FILES)
    driver = FakeDriver()
    run = Run(tmp_path, driver, env={'POSTGRES_URL': URL, 'DIVAN_MIGRATE_RELEASE': '1.4.0'})
    assert run.status == 0, run.text
    assert run.applying() == ORDER
    assert driver.effects == [FILES[n] for n in ORDER]
    assert set(driver.rows) == {n[:-4] for n in ORDER}
    for name in ORDER:
        row = driver.rows[name[:-4]]
        assert row['checksum'] == sha(FILES[name])
        assert row['applied_by'] == '1.4.0'
        assert isinstance(row['execution_ms'], int)
        assert 'divan-migrate: applied %s in %d ms' % (name, row['execution_ms']) in run.lines
    # the table was created, then per file: BEGIN, the file, its INSERT, COMMIT
    writes = driver.writes()
    assert writes[0] == dm.SQL_CREATE
    assert writes[1:] == [s for name in ORDER for s in ('BEGIN', ('script', FILES[name]), dm.SQL_INSERT, 'COMMIT')]
    assert run.result['applied'] == ORDER
    assert run.result['recorded'] == [] and run.result['pending'] == []
    assert run.result['already_applied'] == 0
    assert run.result['latest'] == '020_seed_activity_categories'
    assert run.result['failed'] is None and run.result['error'] is None
    assert run.result['database'] == 'db.internal:5433/divan'
    assert driver.closed


def test_second_run_applies_nothing(tmp_path):
    write(tmp_path, FILES)
    driver = FakeDriver()
    assert Run(tmp_path, driver).status == 0
    effects = list(driver.effects)
    rows = copy.deepcopy(driver.rows)
    run = Run(tmp_path, driver)
    assert run.status == 0, run.text
    assert run.applying() == []
    assert driver.effects == effects and driver.rows == rows
    assert run.result['applied'] == [] and run.result['already_applied'] == 4
    assert run.result['latest'] == '020_seed_activity_categories'


def test_a_new_file_is_the_only_one_applied(tmp_path):
    write(tmp_path, FILES)
    driver = FakeDriver()
    Run(tmp_path, driver)
    write(tmp_path, {'021_more.sql': 'SELECT 21;'})
    run = Run(tmp_path, driver)
    assert run.status == 0, run.text
    assert run.applying() == ['021_more.sql']
    assert run.result['applied'] == ['021_more.sql'] and run.result['already_applied'] == 4
    assert run.result['latest'] == '021_more'


def test_applied_by_defaults_to_divan_migrate(tmp_path):
    write(tmp_path, {'001_a.sql': 'SELECT 1;'})
    driver = FakeDriver()
    Run(tmp_path, driver)
    assert driver.rows['001_a']['applied_by'] == 'divan-migrate'


def test_no_transaction_file_runs_outside_a_transaction_and_is_recorded_after(tmp_path):
    text = '-- divan-migrate: no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS i ON users (email);\n'
    write(tmp_path, {'001_a.sql': 'SELECT 1;', '002_index.sql': text})
    driver = FakeDriver()
    run = Run(tmp_path, driver)
    assert run.status == 0, run.text
    assert driver.writes()[-2:] == [('script', text), dm.SQL_INSERT]
    assert 'BEGIN' not in driver.writes()[-3:]
    assert '002_index' in driver.rows


def test_failure_rolls_back_stops_and_records_nothing_after(tmp_path):
    write(tmp_path, {'001_a.sql': 'SELECT 1;', '002_b.sql': 'CREATE TABLE x (id int);\nFAIL_HERE;\n',
                     '003_c.sql': 'SELECT 3;'})
    driver = FakeDriver()
    run = Run(tmp_path, driver)
    assert run.status == 1
    assert run.applying() == ['001_a.sql', '002_b.sql']
    assert ('divan-migrate: FAILED 002_b.sql: FakePgError: syntax error at or near "FAIL_HERE" (SQLSTATE 42601)'
            in run.lines)
    assert set(driver.rows) == {'001_a'}
    assert driver.effects == ['SELECT 1;']  # 002's statements were rolled back, 003 never ran
    assert not any(s == ('script', 'SELECT 3;') for s in driver.log)
    assert driver.writes()[-1] == 'ROLLBACK'
    assert run.result['failed'] == '002_b.sql'
    assert run.result['applied'] == ['001_a.sql']
    assert run.result['pending'] == ['002_b.sql', '003_c.sql']
    assert run.result['error'].startswith('FAILED 002_b.sql: FakePgError')
    assert run.result['latest'] == '001_a'
    # fixed, the next run starts at the failed file
    write(tmp_path, {'002_b.sql': 'CREATE TABLE x (id int);\n'})
    again = Run(tmp_path, driver)
    assert again.status == 0, again.text
    assert again.applying() == ['002_b.sql', '003_c.sql']


def test_failure_in_a_no_transaction_file_says_what_stays(tmp_path):
    write(tmp_path, {'001_a.sql': '-- divan-migrate: no-transaction\nFAIL_HERE'})
    driver = FakeDriver()
    run = Run(tmp_path, driver)
    assert run.status == 1
    assert 'outside a transaction' in run.result['error']
    assert driver.rows == {}


def test_a_file_that_is_not_utf8_fails_cleanly(tmp_path):
    write(tmp_path, {'001_a.sql': b'SELECT \xff;'})
    driver = FakeDriver()
    run = Run(tmp_path, driver)
    assert run.status == 1
    assert run.result['failed'] == '001_a.sql'
    assert 'UnicodeDecodeError' in run.result['error']
    assert driver.rows == {} and driver.writes()[-1] == 'ROLLBACK'


# ---------------------------------------------------------------- checksums


def test_changed_applied_file_is_refused_before_anything_runs(tmp_path):
    write(tmp_path, FILES)
    driver = FakeDriver()
    Run(tmp_path, driver)
    old = sha(FILES['002_users_email.sql'])
    new_text = 'ALTER TABLE users ADD COLUMN IF NOT EXISTS phone text;\n'
    write(tmp_path, {'002_users_email.sql': new_text, '030_new.sql': 'SELECT 30;'})
    effects = list(driver.effects)
    rows = copy.deepcopy(driver.rows)
    run = Run(tmp_path, driver)
    assert run.status == 3
    assert ('divan-migrate: CHANGED 002_users_email.sql: applied with sha256 %s, the file now has %s; '
            'an applied migration must not change (write a new file)' % (old[:12], sha(new_text)[:12])) in run.lines
    assert run.applying() == []
    assert driver.effects == effects and driver.rows == rows
    assert run.result['changed_files'] == ['002_users_email.sql']
    assert run.result['applied'] == [] and run.result['pending'] == ['030_new.sql']
    assert 'changed' in run.result['error']


def test_null_checksum_is_accepted_and_filled_in(tmp_path):
    write(tmp_path, {'001_a.sql': 'SELECT 1;', '002_b.sql': 'SELECT 2;'})
    driver = FakeDriver(rows={'001_a': {'checksum': None, 'applied_by': 'someone', 'execution_ms': None}})
    run = Run(tmp_path, driver)
    assert run.status == 0, run.text
    assert driver.rows['001_a'] == {'checksum': sha('SELECT 1;'), 'applied_by': 'someone', 'execution_ms': None}
    assert run.applying() == ['002_b.sql']
    assert run.result['checksums_filled'] == ['001_a.sql']
    assert run.result['already_applied'] == 1


def test_checksum_is_sha256_of_the_bytes():
    mfile = dm.MigrationFile('/x/040_a.sql', b'\xef\xbb\xbfSELECT 1;\r\n')
    assert mfile.version == '040_a'
    assert mfile.checksum == hashlib.sha256(b'\xef\xbb\xbfSELECT 1;\r\n').hexdigest()
    assert mfile.sql() == 'SELECT 1;\r\n'


@pytest.mark.parametrize('first_line, expected', [
    ('-- divan-migrate: no-transaction', True),
    ('--  divan-migrate:  No-Transaction  ', True),
    ('\ufeff-- divan-migrate: no-transaction', True),
    ('-- divan-migrate: transaction', False),
    ('SELECT 1; -- divan-migrate: no-transaction', False),
])
def test_no_transaction_mark(first_line, expected):
    assert dm.MigrationFile('/x/001.sql', (first_line + '\nSELECT 1;').encode('utf-8')).no_transaction is expected


def test_a_second_line_mark_does_not_count():
    assert not dm.MigrationFile('/x/001.sql', b'SELECT 1;\n-- divan-migrate: no-transaction\n').no_transaction


# ---------------------------------------------------------------- record-all, baseline


def test_record_all_records_every_file_without_running_any(tmp_path):
    write(tmp_path, FILES)
    kept = {'checksum': sha(FILES['001_init.sql']), 'applied_by': 'someone', 'execution_ms': 7}
    driver = FakeDriver(rows={'001_init': dict(kept)})
    run = Run(tmp_path, driver, ['--record-all'], env={'POSTGRES_URL': URL, 'DIVAN_MIGRATE_RELEASE': '2.0.0'})
    assert run.status == 0, run.text
    assert driver.effects == [] and run.applying() == []
    assert driver.rows['001_init'] == kept
    for name in ORDER[1:]:
        assert driver.rows[name[:-4]] == {'checksum': sha(FILES[name]), 'applied_by': '2.0.0', 'execution_ms': None}
    assert run.result['recorded'] == ORDER[1:]
    assert run.result['applied'] == [] and run.result['already_applied'] == 1
    assert run.result['latest'] == '020_seed_activity_categories'
    # the records went in one transaction
    assert driver.writes()[-5:] == ['BEGIN'] + [dm.SQL_INSERT] * 3 + ['COMMIT']


def test_record_all_still_refuses_a_changed_file(tmp_path):
    write(tmp_path, {'001_a.sql': 'SELECT 1;', '002_b.sql': 'SELECT 2;'})
    driver = FakeDriver(rows={'001_a': {'checksum': sha('SELECT 0;'), 'applied_by': 'x', 'execution_ms': 1}})
    run = Run(tmp_path, driver, ['--record-all'])
    assert run.status == 3
    assert set(driver.rows) == {'001_a'}


def test_baseline_on_an_empty_table_records_up_to_version_then_applies_the_rest(tmp_path):
    write(tmp_path, FILES)
    driver = FakeDriver(rows={})
    run = Run(tmp_path, driver, ['--baseline', '003'])
    assert run.status == 0, run.text
    assert run.result['recorded'] == ORDER[:3]
    assert run.result['applied'] == ORDER[3:]
    assert driver.effects == [FILES[ORDER[3]]]
    assert all(driver.rows[n[:-4]]['execution_ms'] is None for n in ORDER[:3])
    assert isinstance(driver.rows[ORDER[3][:-4]]['execution_ms'], int)


def test_baseline_with_a_full_version(tmp_path):
    write(tmp_path, FILES)
    driver = FakeDriver()
    run = Run(tmp_path, driver, ['--baseline', '002_users_email'])
    assert run.status == 0, run.text
    assert run.result['recorded'] == ORDER[:2]
    assert run.result['applied'] == ORDER[2:]


def test_baseline_is_ignored_when_the_table_has_rows(tmp_path):
    write(tmp_path, FILES)
    driver = FakeDriver(rows={'001_init': {'checksum': sha(FILES['001_init.sql']), 'applied_by': 'x', 'execution_ms': 1}})
    run = Run(tmp_path, driver, ['--baseline', '020'])
    assert run.status == 0, run.text
    assert run.result['recorded'] == []
    assert run.result['applied'] == ORDER[1:]
    assert any('--baseline 020 ignored' in line for line in run.lines)


@pytest.mark.parametrize('version, baseline, covered', [
    ('001_init', '003', True),
    ('003_notes', '003', True),
    ('020_seed', '003', False),
    ('020_seed', '020_seed', True),
    ('0002_x', '0001', False),
])
def test_covered_by_baseline(version, baseline, covered):
    assert dm.covered_by_baseline(version, baseline) is covered


# ---------------------------------------------------------------- dry run


def test_dry_run_on_a_new_database_changes_nothing(tmp_path):
    write(tmp_path, FILES)
    driver = FakeDriver()
    run = Run(tmp_path, driver, ['--dry-run'])
    assert run.status == 0, run.text
    assert driver.writes() == []
    assert driver.columns is None  # no table was created
    assert driver.lock_tries == 0
    assert run.result['dry_run'] is True
    assert run.result['applied'] == ORDER
    assert run.result['latest'] is None
    assert ['divan-migrate: would apply %s' % n for n in ORDER] == [line for line in run.lines if 'would apply' in line]


def test_dry_run_lists_only_what_is_pending(tmp_path):
    write(tmp_path, FILES)
    driver = FakeDriver(rows={'001_init': {'checksum': None, 'applied_by': 'x', 'execution_ms': None}})
    run = Run(tmp_path, driver, ['--dry-run', '--baseline', '003'])
    assert run.status == 0, run.text
    assert driver.writes() == []
    assert run.result['applied'] == ORDER[1:]
    assert run.result['checksums_filled'] == ['001_init.sql']
    assert driver.rows['001_init']['checksum'] is None


def test_dry_run_of_record_all(tmp_path):
    write(tmp_path, FILES)
    driver = FakeDriver()
    run = Run(tmp_path, driver, ['--dry-run', '--record-all'])
    assert run.status == 0, run.text
    assert driver.writes() == []
    assert run.result['recorded'] == ORDER and run.result['applied'] == []


# ---------------------------------------------------------------- the table


def test_older_table_gets_the_missing_columns(tmp_path):
    write(tmp_path, {'001_a.sql': 'SELECT 1;'})
    driver = FakeDriver(rows={}, columns={'version': (True, False), 'applied_at': (True, True)})
    run = Run(tmp_path, driver)
    assert run.status == 0, run.text
    added = [s for s in driver.writes() if isinstance(s, str) and s.startswith('ALTER TABLE')]
    assert added == ['ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum text',
                     'ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS execution_ms integer',
                     'ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS applied_by text']
    assert set(OUR_COLUMNS) <= set(driver.columns)
    assert '001_a' in driver.rows


def test_dry_run_reads_an_older_table_without_checksums(tmp_path):
    write(tmp_path, {'001_a.sql': 'SELECT 1;', '002_b.sql': 'SELECT 2;'})
    driver = FakeDriver(rows={'001_a': {'checksum': None}}, columns={'version': (True, False)})
    run = Run(tmp_path, driver, ['--dry-run'])
    assert run.status == 0, run.text
    assert dm.SQL_RECORDED_NO_CHECKSUM in driver.log
    assert run.result['applied'] == ['002_b.sql'] and run.result['already_applied'] == 1


def test_a_foreign_not_null_column_is_refused_clearly(tmp_path):
    write(tmp_path, {'001_a.sql': 'SELECT 1;'})
    driver = FakeDriver(rows={}, columns={'filename': (True, False), 'applied_at': (True, True)})
    run = Run(tmp_path, driver)
    assert run.status == 1
    assert 'filename' in run.result['error'] and 'NOT NULL' in run.result['error']
    assert driver.effects == []


# ---------------------------------------------------------------- lock


def test_lock_timeout_gives_up_with_exit_4_before_touching_the_table(tmp_path):
    write(tmp_path, {'001_a.sql': 'SELECT 1;'})
    driver = FakeDriver(lock_free=False)
    now = [100.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    run = Run(tmp_path, driver, ['--lock-timeout', '5'], sleep=sleep, clock=lambda: now[0])
    assert run.status == 4
    assert sum(slept) == pytest.approx(5.0)
    assert driver.lock_tries == len(slept) + 1
    assert 'gave up after 5 s waiting for the migration lock on db.internal:5433/divan' in run.result['error']
    assert len([line for line in run.lines if 'waiting up to 5 s' in line]) == 1
    assert driver.writes() == [] and driver.columns is None


def test_lock_released_by_the_other_runner_in_time(tmp_path):
    write(tmp_path, {'001_a.sql': 'SELECT 1;'})
    driver = FakeDriver(lock_free=[False, False, True])
    now = [0.0]

    def sleep(seconds):
        now[0] += seconds

    run = Run(tmp_path, driver, ['--lock-timeout', '300'], sleep=sleep, clock=lambda: now[0])
    assert run.status == 0, run.text
    assert driver.lock_tries == 3
    assert run.result['applied'] == ['001_a.sql']


def test_lock_timeout_zero_tries_once(tmp_path):
    write(tmp_path, {'001_a.sql': 'SELECT 1;'})
    driver = FakeDriver(lock_free=False)
    run = Run(tmp_path, driver, ['--lock-timeout', '0'], sleep=lambda s: None, clock=lambda: 0.0)
    assert run.status == 4 and driver.lock_tries == 1


# ---------------------------------------------------------------- folder


def test_missing_directory_exits_2_without_connecting(tmp_path):
    driver = FakeDriver()
    run = Run(tmp_path, driver, ['--dir', str(tmp_path / 'nowhere')])
    assert run.status == 2
    assert 'divan-migrate: migrations directory not found: %s' % (tmp_path / 'nowhere') in run.lines
    assert run.connect_calls == []
    assert run.result['error'] == 'migrations directory not found: %s' % (tmp_path / 'nowhere')
    assert run.result['applied'] == [] and run.result['latest'] is None


def test_relative_directory_is_reported_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = Run(tmp_path, FakeDriver(), ['--dir', 'migrations'])
    assert run.status == 2
    assert 'divan-migrate: migrations directory not found: %s' % os.path.join(str(tmp_path), 'migrations') in run.lines


def test_directory_without_sql_files_exits_2(tmp_path):
    write(tmp_path, {'README.md': 'nothing', 'notes.sql.bak': 'SELECT 1;'})
    (tmp_path / 'migrations' / 'dir.sql').mkdir()
    run = Run(tmp_path, FakeDriver())
    assert run.status == 2
    assert run.result['error'] == 'no *.sql migration files in %s' % (tmp_path / 'migrations')
    assert run.connect_calls == []


def test_cli_end_to_end_missing_directory(tmp_path):
    proc = subprocess.run([sys.executable, SCRIPT, '--dir', str(tmp_path / 'none')], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, cwd=str(tmp_path), check=False,
                          env={'PATH': os.environ.get('PATH', ''), 'POSTGRES_URL': URL})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == 'divan-migrate: migrations directory not found: %s' % (tmp_path / 'none')
    result = json.loads(lines[-1][len('DIVAN_MIGRATE_RESULT '):])
    assert result['error'].startswith('migrations directory not found')
    assert proc.stderr == ''


# ---------------------------------------------------------------- connection settings, secrets


def test_url_precedence(tmp_path):
    write(tmp_path, {'001_a.sql': 'SELECT 1;'})
    env = {'DATABASE_URL': 'postgresql://c:pw3@c:5432/c', 'POSTGRES_URL': 'postgresql://b:pw2@b:5432/b',
           'DIVAN_MIGRATE_URL': 'postgresql://a:pw1@a:5432/a'}
    runs = []
    for drop in ((), ('DIVAN_MIGRATE_URL',), ('DIVAN_MIGRATE_URL', 'POSTGRES_URL')):
        runs.append(Run(tmp_path, FakeDriver(), env={k: v for k, v in env.items() if k not in drop}))
    assert [r.connect_calls[0][0] for r in runs] == [env['DIVAN_MIGRATE_URL'], env['POSTGRES_URL'], env['DATABASE_URL']]
    assert [r.result['database'] for r in runs] == ['a:5432/a', 'b:5432/b', 'c:5432/c']


def test_no_url_exits_1(tmp_path):
    write(tmp_path, {'001_a.sql': 'SELECT 1;'})
    run = Run(tmp_path, FakeDriver(), env={})
    assert run.status == 1
    assert 'no database URL' in run.result['error'] and run.connect_calls == []


@pytest.mark.parametrize('url, env, expected', [
    (URL, {}, None),
    (URL, {'POSTGRES_SSL': 'false'}, None),
    (URL, {'POSTGRES_SSL': 'true'}, 'require'),
    (URL, {'POSTGRES_SSL': 'True'}, 'require'),
    (URL, {'POSTGRES_SSL': '1'}, 'require'),
    (URL + '?sslmode=disable', {'POSTGRES_SSL': 'true'}, 'require'),
    (URL + '?sslmode=verify-full', {'POSTGRES_SSL': 'true'}, None),
    (URL + '?sslmode=require', {}, None),  # left in the URL, which the driver honours
])
def test_ssl_setting(url, env, expected):
    assert dm.ssl_setting(url, env) == expected


def test_ssl_and_driver_choice_reach_the_connector(tmp_path):
    write(tmp_path, {'001_a.sql': 'SELECT 1;'})
    run = Run(tmp_path, FakeDriver(), ['--connect-timeout', '7'],
              env={'POSTGRES_URL': URL + '?sslmode=require', 'POSTGRES_SSL': 'true', 'DIVAN_MIGRATE_DRIVER': 'psycopg2'})
    assert run.connect_calls == [(URL + '?sslmode=require', 'require', 7.0, 'psycopg2')]


def test_sqlalchemy_style_scheme_is_normalized(tmp_path):
    write(tmp_path, {'001_a.sql': 'SELECT 1;'})
    run = Run(tmp_path, FakeDriver(), env={'POSTGRES_URL': 'postgresql+asyncpg://u:pw@h:6432/d'})
    assert run.connect_calls[0][0] == 'postgresql://u:pw@h:6432/d'


@pytest.mark.parametrize('url, where', [
    (URL, 'db.internal:5433/divan'),
    ('postgres://u:p@localhost/app', 'localhost:5432/app'),
    ('postgresql:///app?host=/run/postgresql', '/run/postgresql:5432/app'),
    ("host=db port=6000 dbname=app user=u password='a b'", 'db:6000/app'),
])
def test_describe_url(url, where):
    assert dm.describe_url(url) == where


def test_connection_failure_is_one_line_without_the_url_or_password(tmp_path):
    write(tmp_path, {'001_a.sql': 'SELECT 1;'})
    error = OSError('could not connect using %s (password %s): Connection refused' % (URL, PASSWORD))
    run = Run(tmp_path, FakeDriver(), connect_error=error)
    assert run.status == 1
    assert PASSWORD not in run.text and URL not in run.text
    assert 'divan_owner' not in run.text
    assert ('divan-migrate: cannot connect to db.internal:5433/divan (POSTGRES_URL): OSError: could not connect using '
            '******** (password ********): Connection refused') in run.lines
    assert 'Traceback' not in run.text
    assert run.result['driver'] is None and run.result['latest'] is None


def test_password_in_a_migration_error_is_redacted(tmp_path):
    write(tmp_path, {'001_a.sql': "ALTER ROLE app PASSWORD '%s'; FAIL_HERE" % PASSWORD})

    class Leaky(FakeDriver):
        def run_script(self, sql):
            raise FakePgError('bad statement: %s' % sql)

    run = Run(tmp_path, Leaky())
    assert run.status == 1
    assert PASSWORD not in run.text


def test_successful_run_prints_no_secret(tmp_path):
    write(tmp_path, FILES)
    run = Run(tmp_path, FakeDriver())
    assert run.status == 0
    assert PASSWORD not in run.text and 'divan_owner' not in run.text
    assert 'divan-migrate: connected to db.internal:5433/divan with fake (POSTGRES_URL)' in run.lines


def test_no_driver_is_a_clear_error(monkeypatch):
    def refuse(name, *_args, **_kwargs):
        raise ImportError('No module named %r' % name)

    monkeypatch.setattr(importlib, 'import_module', refuse)
    with pytest.raises(dm.MigrateError) as caught:
        dm.available_driver('auto')
    assert 'asyncpg / psycopg2 / psycopg' in caught.value.message


def test_driver_order_prefers_asyncpg(monkeypatch):
    seen = []

    def fake_import(name, *_args, **_kwargs):
        seen.append(name)
        if name != 'psycopg':
            raise ImportError(name)

    monkeypatch.setattr(importlib, 'import_module', fake_import)
    assert dm.available_driver('auto') is dm.Psycopg3Driver
    assert seen == ['asyncpg', 'psycopg2', 'psycopg']


def test_psycopg_parameter_style():
    assert dm._psycopg_params(dm.SQL_INSERT).endswith('VALUES (%s, %s, %s, %s)')  # pylint: disable=protected-access


def test_result_line_is_last_and_complete(tmp_path):
    write(tmp_path, {'001_a.sql': 'SELECT 1;'})
    run = Run(tmp_path, FakeDriver())
    assert set(run.result) >= {'applied', 'recorded', 'already_applied', 'latest', 'failed', 'error'}
    assert sum(1 for line in run.lines if line.startswith('DIVAN_MIGRATE_RESULT ')) == 1
