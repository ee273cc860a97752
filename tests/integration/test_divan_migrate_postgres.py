# -*- coding: utf-8 -*-
"""roles/app/files/divan-migrate.py against a real PostgreSQL, run the way the app role runs it.

The server: the controller's PostgreSQL binaries (initdb / pg_ctl, as `nobody`
when the tests run as root), on 127.0.0.1 and an ephemeral port, password
authentication (scram-sha-256) and TLS with a throwaway self-signed
certificate. The runner: `python3 /work/divan/divan-migrate.py` in a one-off
container of the backend image (DIVAN_MIGRATE_TEST_IMAGE, default
divan-test/backend:1.1.0; its own user, working directory /app) with the
script and a migrations folder mounted read-only and the host's network, once
per database driver the image has (asyncpg in the real image). The fallback
drivers (psycopg2, psycopg 3) run on the controller with
DIVAN_MIGRATE_TEST_PYTHON (default: this interpreter) when it has them. Each
test gets its own database. Skipped when docker, the image or the PostgreSQL
binaries are absent.
"""

import glob
import hashlib
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, 'roles', 'app', 'files', 'divan-migrate.py')
IMAGE = os.environ.get('DIVAN_MIGRATE_TEST_IMAGE', 'divan-test/backend:1.1.0')
OWNER = 'divan_owner'
PASSWORD = 'Mig-' + 'b0a7' * 6
LOCK_KEY = 7235444437183981927
DRIVERS = ('asyncpg', 'psycopg2', 'psycopg')
# An interpreter on the controller for the fallback drivers (the backend image has asyncpg only), e.g. a
# virtualenv with psycopg2-binary and psycopg[binary]; the tests of a driver it lacks are skipped.
HOST_PYTHON = os.environ.get('DIVAN_MIGRATE_TEST_PYTHON') or sys.executable


def _pg_bin():
    found = shutil.which('initdb')
    if found:
        return os.path.dirname(os.path.realpath(found))
    candidates = sorted(glob.glob('/usr/lib/postgresql/*/bin/initdb'))
    return os.path.dirname(candidates[-1]) if candidates else None


def _free_port():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def _docker_ok():
    if not shutil.which('docker'):
        return False
    return subprocess.run(['docker', 'info'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30,
                          check=False).returncode == 0


class Postgres(object):
    def __init__(self, pg_bin):
        self.bin = pg_bin
        self.base = tempfile.mkdtemp(prefix='divan-migrate-pg-')
        os.chmod(self.base, 0o755)
        self.data = os.path.join(self.base, 'data')
        self.port = _free_port()
        self.as_nobody = os.geteuid() == 0
        pwfile = os.path.join(self.base, 'pw')
        with open(pwfile, 'w', encoding='utf-8') as handle:
            handle.write(PASSWORD + '\n')
        key, crt = os.path.join(self.base, 'server.key'), os.path.join(self.base, 'server.crt')
        subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', crt,
                        '-subj', '/CN=localhost', '-days', '2'], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=60)
        os.chmod(key, 0o600)
        if self.as_nobody:
            nobody = pwd.getpwnam('nobody')
            for path in (self.base, pwfile, key, crt):
                os.chown(path, nobody.pw_uid, nobody.pw_gid)
        self._run([os.path.join(self.bin, 'initdb'), '-D', self.data, '-U', OWNER, '--pwfile', pwfile,
                   '--auth-local', 'scram-sha-256', '--auth-host', 'scram-sha-256', '-E', 'UTF8', '--locale', 'C'])
        options = ('-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c ssl=on -c ssl_cert_file=%s '
                   '-c ssl_key_file=%s' % (self.port, self.base, crt, key))
        self._run([os.path.join(self.bin, 'pg_ctl'), '-D', self.data, '-l', os.path.join(self.base, 'log'),
                   '-o', options, '-w', '-t', '60', 'start'])

    def _run(self, cmd):
        if self.as_nobody:
            cmd = ['runuser', '-u', 'nobody', '--'] + cmd
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                              timeout=120, check=False, cwd=self.base)
        assert proc.returncode == 0, proc.stdout

    def url(self, database, query=''):
        return 'postgresql://%s:%s@127.0.0.1:%d/%s%s' % (OWNER, PASSWORD, self.port, database, query)

    def psql_cmd(self, database, sql):
        return [os.path.join(self.bin, 'psql'), '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1',
                '-p', str(self.port), '-U', OWNER, '-d', database, '-c', sql]

    def psql(self, database, sql):
        proc = subprocess.run(self.psql_cmd(database, sql), env=dict(os.environ, PGPASSWORD=PASSWORD),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=60,
                              check=False)
        assert proc.returncode == 0, proc.stdout
        return proc.stdout.strip()

    def stop(self):
        try:
            self._run([os.path.join(self.bin, 'pg_ctl'), '-D', self.data, '-m', 'immediate', '-w', 'stop'])
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope='module', name='image_drivers')
def fixture_image_drivers():
    if not _docker_ok():
        pytest.skip('docker is not available')
    if subprocess.run(['docker', 'image', 'inspect', IMAGE], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                      check=False).returncode != 0:
        pytest.skip('image %s is not present' % IMAGE)
    probe = "import importlib.util as u; print(','.join(n for n in %r if u.find_spec(n)))" % (DRIVERS,)
    proc = subprocess.run(['docker', 'run', '--rm', '--network', 'none', IMAGE, 'python3', '-c', probe],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stdout
    drivers = [d for d in proc.stdout.strip().split(',') if d]
    assert drivers, 'the image %s has none of %s' % (IMAGE, DRIVERS)
    return drivers


@pytest.fixture(scope='module', name='postgres')
def fixture_postgres(image_drivers):
    del image_drivers  # requested for its skips only: no server without docker and the image
    pg_bin = _pg_bin()
    if not pg_bin or not shutil.which('openssl'):
        pytest.skip('PostgreSQL server binaries or openssl not found')
    server = Postgres(pg_bin)
    yield server
    server.stop()


@pytest.fixture(name='database')
def fixture_database(postgres, request):
    name = 't_%s_%d' % (''.join(c if c.isalnum() else '_' for c in request.node.name.lower())[:40], os.getpid())
    postgres.psql('postgres', 'DROP DATABASE IF EXISTS %s' % name)
    postgres.psql('postgres', 'CREATE DATABASE %s' % name)
    return name


@pytest.fixture(name='migrations')
def fixture_migrations():
    folder = tempfile.mkdtemp(prefix='divan-migrate-files-')
    os.chmod(folder, 0o755)

    def write(files):
        for name, text in files.items():
            path = os.path.join(folder, name)
            with open(path, 'w', encoding='utf-8') as handle:
                handle.write(text)
            os.chmod(path, 0o644)
        return folder

    write.folder = folder
    yield write
    shutil.rmtree(folder, ignore_errors=True)


class Result(object):
    def __init__(self, proc):
        self.status = proc.returncode
        self.output = proc.stdout
        self.lines = proc.stdout.splitlines()
        assert self.lines and self.lines[-1].startswith('DIVAN_MIGRATE_RESULT '), self.output
        self.result = json.loads(self.lines[-1][len('DIVAN_MIGRATE_RESULT '):])


def migrate(postgres, database, folder, *args, **kwargs):
    """Run the script in the backend image (or, with python=..., on the controller with that interpreter)."""
    env = {'POSTGRES_URL': postgres.url(database, kwargs.pop('query', '')), 'DIVAN_MIGRATE_RELEASE': '1.1.0'}
    env.update(kwargs.pop('env', {}))
    python = kwargs.pop('python', None)
    assert not kwargs
    if python:
        cmd = [python, SCRIPT, '--dir', folder] + list(args)
        env['PATH'] = os.environ.get('PATH', '')
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                              timeout=180, check=False, env=env, cwd=folder)
        run = Result(proc)
        assert PASSWORD not in run.output
        return run
    cmd = ['docker', 'run', '--rm', '--network', 'host', '-w', '/app',
           '-v', '%s:/work/divan/divan-migrate.py:ro' % SCRIPT, '-v', '%s:/work/migrations:ro' % folder]
    for key, value in sorted(env.items()):
        cmd += ['-e', '%s=%s' % (key, value)]
    cmd += [IMAGE, 'python3', '/work/divan/divan-migrate.py', '--dir', '/work/migrations'] + list(args)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                          timeout=180, check=False)
    run = Result(proc)
    assert PASSWORD not in run.output
    return run


FILES = {
    '001_init.sql': 'CREATE EXTENSION IF NOT EXISTS "uuid-ossp";\n'
                    'CREATE TABLE IF NOT EXISTS users (id uuid PRIMARY KEY DEFAULT uuid_generate_v4(), email text);\n',
    '002_seed.sql': "CREATE TABLE IF NOT EXISTS categories (name text);\n"
                    "INSERT INTO categories VALUES ('music'), ('sport');\n",
    '003_index.sql': '-- divan-migrate: no-transaction\n'
                     'CREATE INDEX CONCURRENTLY IF NOT EXISTS users_email ON users (email);\n',
}


def sha(text):
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


def test_applies_once_records_and_reruns_nothing(postgres, database, migrations, image_drivers):
    folder = migrations(FILES)
    for driver in image_drivers:  # the same database: the first driver applies, the others find nothing to do
        run = migrate(postgres, database, folder, '--driver', driver)
        assert run.status == 0, run.output
        assert run.result['driver'] == driver
        if driver == image_drivers[0]:
            assert run.result['applied'] == sorted(FILES)
            assert 'divan-migrate: applying 003_index.sql (no transaction)' in run.lines
        else:
            assert run.result['applied'] == [] and run.result['already_applied'] == 3, run.output
        assert run.result['latest'] == '003_index'
        assert run.result['database'] == '127.0.0.1:%d/%s' % (postgres.port, database)
    rows = postgres.psql(database, "SELECT version, checksum, applied_by, execution_ms >= 0 FROM schema_migrations ORDER BY 1")
    assert rows.splitlines() == ['%s|%s|1.1.0|t' % (n[:-4], sha(t)) for n, t in sorted(FILES.items())]
    # the seed rows went in once (the platform's own script adds them again on every run)
    assert postgres.psql(database, 'SELECT count(*) FROM categories') == '2'
    assert postgres.psql(database, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'users_email'::regclass") == 't'
    # exactly what the backend's /health/ready reads
    assert postgres.psql(database, 'SELECT version FROM schema_migrations ORDER BY version DESC LIMIT 1') == '003_index'


def test_failure_rolls_back_the_file_and_stops(postgres, database, migrations, image_drivers):
    folder = migrations({'001_ok.sql': 'CREATE TABLE first (id int);',
                         '002_broken.sql': 'CREATE TABLE half (id int);\nINSERT INTO nowhere VALUES (1);\n',
                         '003_after.sql': 'CREATE TABLE after_broken (id int);'})
    run = migrate(postgres, database, folder, '--driver', image_drivers[0])
    assert run.status == 1, run.output
    failed = [line for line in run.lines if line.startswith('divan-migrate: FAILED 002_broken.sql: ')]
    assert len(failed) == 1 and 'nowhere' in failed[0] and '42P01' in failed[0], run.output
    assert run.result['failed'] == '002_broken.sql'
    assert run.result['pending'] == ['002_broken.sql', '003_after.sql']
    assert 'Traceback' not in run.output
    assert postgres.psql(database, "SELECT to_regclass('half') IS NULL, to_regclass('after_broken') IS NULL, "
                                   "to_regclass('first') IS NOT NULL") == 't|t|t'
    assert postgres.psql(database, 'SELECT string_agg(version, \',\') FROM schema_migrations') == '001_ok'


def test_changed_file_is_refused(postgres, database, migrations):
    folder = migrations({'001_a.sql': 'CREATE TABLE a (id int);'})
    assert migrate(postgres, database, folder).status == 0
    migrations({'001_a.sql': 'CREATE TABLE a (id bigint);', '002_b.sql': 'CREATE TABLE b (id int);'})
    run = migrate(postgres, database, folder)
    assert run.status == 3, run.output
    assert ('divan-migrate: CHANGED 001_a.sql: applied with sha256 %s, the file now has %s; an applied migration must '
            'not change (write a new file)' % (sha('CREATE TABLE a (id int);')[:12], sha('CREATE TABLE a (id bigint);')[:12])
            in run.lines), run.output
    assert postgres.psql(database, "SELECT to_regclass('b') IS NULL") == 't'


def test_record_all_adopts_a_database_the_platform_script_migrated(postgres, database, migrations):
    postgres.psql(database, 'CREATE TABLE legacy (id int)')
    folder = migrations({'001_legacy.sql': 'CREATE TABLE legacy (id int);', '002_fails_if_run.sql': 'SELECT 1/0;'})
    run = migrate(postgres, database, folder, '--record-all')
    assert run.status == 0, run.output
    assert run.result['recorded'] == ['001_legacy.sql', '002_fails_if_run.sql'] and run.result['applied'] == []
    assert run.result['latest'] == '002_fails_if_run'
    assert postgres.psql(database, 'SELECT count(*) FROM schema_migrations WHERE execution_ms IS NULL') == '2'


def test_older_table_gets_its_columns_and_a_foreign_one_is_refused(postgres, database, migrations):
    postgres.psql(database, "CREATE TABLE schema_migrations (version text PRIMARY KEY); "
                            "INSERT INTO schema_migrations VALUES ('001_a')")
    folder = migrations({'001_a.sql': 'SELECT 1;', '002_b.sql': 'SELECT 2;'})
    run = migrate(postgres, database, folder)
    assert run.status == 0, run.output
    assert run.result['applied'] == ['002_b.sql'] and run.result['checksums_filled'] == ['001_a.sql']
    assert postgres.psql(database, "SELECT count(*) FROM schema_migrations WHERE checksum IS NOT NULL") == '2'
    # a table made by another tool, with a NOT NULL column the runner cannot fill
    postgres.psql(database, 'DROP TABLE schema_migrations; CREATE TABLE schema_migrations '
                            '(filename text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())')
    run = migrate(postgres, database, folder)
    assert run.status == 1 and 'filename' in run.result['error'], run.output


def test_lock_held_by_another_runner(postgres, database, migrations):
    folder = migrations({'001_a.sql': 'CREATE TABLE a (id int);'})
    holder = subprocess.Popen(postgres.psql_cmd(database, 'SELECT pg_advisory_lock(%d); SELECT pg_sleep(120)' % LOCK_KEY),
                              env=dict(os.environ, PGPASSWORD=PASSWORD, PGAPPNAME='divan-lock-holder'), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        held = 'SELECT count(*) FROM pg_locks WHERE locktype = \'advisory\' AND granted AND objid = %d' % (
            LOCK_KEY & 0xFFFFFFFF)
        for _attempt in range(200):
            if postgres.psql(database, held) == '1':
                break
            time.sleep(0.1)
        else:
            pytest.fail('the advisory lock was never taken by the holder')
        run = migrate(postgres, database, folder, '--lock-timeout', '1')
        assert run.status == 4, run.output
        assert 'another divan-migrate is still running' in run.result['error']
        assert postgres.psql(database, "SELECT to_regclass('a') IS NULL, to_regclass('schema_migrations') IS NULL") == 't|t'
    finally:
        # the server session would keep the lock through pg_sleep after its client died: end it
        postgres.psql(database, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                "WHERE application_name = 'divan-lock-holder'")
        holder.kill()
        holder.wait(30)
    run = migrate(postgres, database, folder, '--lock-timeout', '30')
    assert run.status == 0 and run.result['applied'] == ['001_a.sql'], run.output


@pytest.mark.parametrize('env, query, expected', [
    ({'POSTGRES_SSL': 'true'}, '', 't'),
    ({}, '?sslmode=disable', 'f'),
    ({}, '?sslmode=require', 't'),
])
def test_tls_settings(postgres, database, migrations, env, query, expected):
    folder = migrations({'001_tls.sql': 'CREATE TABLE tls_seen AS SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid();'})
    run = migrate(postgres, database, folder, env=env, query=query)
    assert run.status == 0, run.output
    assert postgres.psql(database, 'SELECT ssl FROM tls_seen') == expected


def test_wrong_password_is_one_clean_line(postgres, database, migrations):
    folder = migrations({'001_a.sql': 'SELECT 1;'})
    run = migrate(postgres, database, folder,
                  env={'DIVAN_MIGRATE_URL': 'postgresql://%s:wrong-%s@127.0.0.1:%d/%s' % (OWNER, PASSWORD, postgres.port, database)})
    assert run.status == 1, run.output
    assert 'Traceback' not in run.output and 'wrong-' not in run.output
    assert 'divan-migrate: cannot connect to 127.0.0.1:%d/%s (DIVAN_MIGRATE_URL): ' % (postgres.port, database) in run.output
    assert run.result['error'].startswith('cannot connect')


@pytest.mark.parametrize('driver', ['psycopg2', 'psycopg'])
def test_fallback_driver(postgres, database, migrations, driver):
    if subprocess.run([HOST_PYTHON, '-c', 'import %s' % driver], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                      check=False).returncode != 0:
        pytest.skip('%s cannot import %s (set DIVAN_MIGRATE_TEST_PYTHON)' % (HOST_PYTHON, driver))
    files = dict(FILES)
    files['004_tls.sql'] = "CREATE TABLE tls_seen AS SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid();\n" \
                           "SELECT '100%' AS percent_sign_left_alone;\n"
    folder = migrations(files)
    run = migrate(postgres, database, folder, '--driver', driver, python=HOST_PYTHON, env={'POSTGRES_SSL': 'true'})
    assert run.status == 0, run.output
    assert run.result['driver'] == driver and run.result['applied'] == sorted(files)
    assert postgres.psql(database, 'SELECT ssl FROM tls_seen') == 't'
    assert postgres.psql(database, 'SELECT count(*) FROM schema_migrations WHERE checksum IS NOT NULL') == '4'
    again = migrate(postgres, database, folder, '--driver', driver, python=HOST_PYTHON)
    assert again.status == 0 and again.result['applied'] == [] and again.result['already_applied'] == 4, again.output
    migrations({'005_broken.sql': 'CREATE TABLE half (id int);\nINSERT INTO nowhere VALUES (1);\n'})
    failed = migrate(postgres, database, folder, '--driver', driver, python=HOST_PYTHON)
    assert failed.status == 1 and failed.result['failed'] == '005_broken.sql', failed.output
    assert '42P01' in failed.result['error']
    assert postgres.psql(database, "SELECT to_regclass('half') IS NULL") == 't'
