# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Divan platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""divan-migrate: apply the Divan platform's migrations/*.sql once each, and record them.

The platform's own scripts/apply_migrations.py runs every file on every run,
goes on after an error, exits 0 when it fails or finds no folder, and records
nothing, while the backend's /health/ready wants
`SELECT version FROM schema_migrations ORDER BY version DESC LIMIT 1` to be at
least HEALTH_MIN_MIGRATION. This runner is what the collection's app role runs
instead, in a one-off container of the new backend image (working directory
/app, the image's `migrations/` folder):

    python3 divan-migrate.py [--dir migrations] [--dry-run] [--record-all]
                             [--baseline VERSION] [--lock-timeout 300]

* schema_migrations (version text PRIMARY KEY, checksum text, applied_at
  timestamptz, execution_ms integer, applied_by text) is created when missing;
  missing columns are added to an older table. version is the file name
  without `.sql`, checksum the sha256 of the file's bytes.
* One runner per database at a time (a session advisory lock, LOCK_KEY).
* Files run in name order; a recorded file whose checksum changed stops the run
  before anything is applied (exit 3); a NULL checksum is filled in.
* Each pending file runs in its own transaction together with its record; a
  file whose first line is `-- divan-migrate: no-transaction` runs outside one
  and is recorded after it. The first failure rolls back and stops (exit 1).
* --record-all records every file as applied without running it (after the
  platform's own script ran them); --baseline VERSION does so, on a database
  whose schema_migrations has no row, for the files up to VERSION, then
  applies the rest; --dry-run changes nothing and says what a run would do.

Everything goes to stdout; the last line is `DIVAN_MIGRATE_RESULT <json>` (see
`new_result`). Exit status: 0 done, 1 a migration failed / no connection /
no driver / unusable table, 2 no migrations folder or no .sql in it (or bad
arguments), 3 an applied migration changed, 4 the lock was not obtained in time.

Connection: DIVAN_MIGRATE_URL, else POSTGRES_URL, else DATABASE_URL (as the
backend reads them); POSTGRES_SSL=true means TLS "require" without
certificate verification, as the backend does; a `sslmode=` in the URL is
honoured. The URL and its password are never printed (host:port/db only).
Driver: asyncpg (the backend's own), else psycopg2, else psycopg 3
(--driver or DIVAN_MIGRATE_DRIVER chooses one). Standard library otherwise;
Python 3.9+.
"""

import argparse
import hashlib
import json
import os
import re
import sys
import time
from urllib.parse import parse_qs, unquote, urlsplit

PREFIX = 'divan-migrate: '
RESULT_MARKER = 'DIVAN_MIGRATE_RESULT '
NO_TRANSACTION_MARK = '-- divan-migrate: no-transaction'
# pg_advisory_lock key of every divan-migrate ("divanmig" as a big-endian bigint).
LOCK_KEY = 7235444437183981927
DEFAULT_APPLIED_BY = 'divan-migrate'
URL_ENV_NAMES = ('DIVAN_MIGRATE_URL', 'POSTGRES_URL', 'DATABASE_URL')
TRUE_STRINGS = ('1', 'true', 'yes', 'on', 't', 'y')
DRIVERS = ('asyncpg', 'psycopg2', 'psycopg')

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_NO_MIGRATIONS = 2
EXIT_CHANGED = 3
EXIT_LOCK = 4

# Statements on schema_migrations. Parameters are written $1, $2 (asyncpg's
# style); the psycopg drivers translate them.
SQL_COLUMNS = ("SELECT a.attname, a.attnotnull, a.atthasdef FROM pg_catalog.pg_attribute a"
               " WHERE a.attrelid = to_regclass('schema_migrations') AND a.attnum > 0 AND NOT a.attisdropped")
SQL_CREATE = ("CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, checksum text,"
              " applied_at timestamptz NOT NULL DEFAULT now(), execution_ms integer, applied_by text)")
COLUMNS = (
    ('version', 'text'),
    ('checksum', 'text'),
    ('applied_at', 'timestamptz NOT NULL DEFAULT now()'),
    ('execution_ms', 'integer'),
    ('applied_by', 'text'),
)
SQL_ADD_COLUMN = 'ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS %s %s'
SQL_RECORDED = 'SELECT version, checksum FROM schema_migrations WHERE version IS NOT NULL'
SQL_RECORDED_NO_CHECKSUM = 'SELECT version, NULL::text FROM schema_migrations WHERE version IS NOT NULL'
SQL_INSERT = 'INSERT INTO schema_migrations (version, checksum, execution_ms, applied_by) VALUES ($1, $2, $3, $4)'
SQL_FILL_CHECKSUM = 'UPDATE schema_migrations SET checksum = $2 WHERE version = $1 AND checksum IS NULL'
# Exactly the backend's /health/ready query.
SQL_LATEST = 'SELECT version FROM schema_migrations ORDER BY version DESC LIMIT 1'
SQL_TRY_LOCK = 'SELECT pg_try_advisory_lock($1)'


class MigrateError(Exception):
    """A failure that ends the run with a message and an exit status (no traceback)."""

    def __init__(self, message, status=EXIT_FAILED):
        super().__init__(message)
        self.message = message
        self.status = status


# ---------------------------------------------------------------- files


class MigrationFile(object):
    """One migrations/*.sql: its name, version, checksum and bytes."""

    def __init__(self, path, data):
        self.path = path
        self.name = os.path.basename(path)
        self.version = self.name[:-len('.sql')]
        self.data = data
        self.checksum = hashlib.sha256(data).hexdigest()
        first_line = data.split(b'\n', 1)[0].decode('utf-8', 'replace').lstrip('\ufeff').strip()
        self.no_transaction = ' '.join(first_line.split()).lower() == NO_TRANSACTION_MARK

    def sql(self):
        """The file's text (UnicodeDecodeError when it is not UTF-8; a BOM is dropped)."""
        return self.data.decode('utf-8-sig')


def load_migrations(directory):
    """The *.sql files of `directory` in name order; MigrateError(status 2) when there are none."""
    path = os.path.abspath(directory)
    if not os.path.isdir(path):
        raise MigrateError('migrations directory not found: %s' % path, EXIT_NO_MIGRATIONS)
    names = sorted(n for n in os.listdir(path) if n.endswith('.sql') and os.path.isfile(os.path.join(path, n)))
    if not names:
        raise MigrateError('no *.sql migration files in %s' % path, EXIT_NO_MIGRATIONS)
    files = []
    for name in names:
        with open(os.path.join(path, name), 'rb') as handle:
            files.append(MigrationFile(os.path.join(path, name), handle.read()))
    return files


def covered_by_baseline(version, baseline):
    """Whether a file version is at or before --baseline (string order; `040` also covers `040_name`)."""
    return version <= baseline or version.startswith(baseline)


# ---------------------------------------------------------------- connection settings


def is_true(value):
    return str(value or '').strip().lower() in TRUE_STRINGS


def database_url(env):
    """(name of the variable, URL) from the environment, or (None, None)."""
    for name in URL_ENV_NAMES:
        value = (env.get(name) or '').strip()
        if value:
            return name, value
    return None, None


def normalize_url(url):
    """postgresql+asyncpg:// and similar SQLAlchemy-style schemes become postgresql://."""
    match = re.match(r'^(postgres(?:ql)?)\+[A-Za-z0-9_]+://', url)
    if match:
        return 'postgresql://' + url[match.end():]
    return url


def url_parts(url):
    """{'host', 'port', 'database', 'user', 'password', 'sslmode'} of a postgres URL (keyword DSNs too)."""
    parts = {'host': None, 'port': None, 'database': None, 'user': None, 'password': None, 'sslmode': None}
    if '://' in url:
        split = urlsplit(url)
        try:
            port = split.port
        except ValueError:
            port = None
        parts.update(host=split.hostname, port=port, user=unquote(split.username) if split.username else None,
                     password=unquote(split.password) if split.password else None,
                     database=unquote(split.path.lstrip('/')) or None)
        query = parse_qs(split.query)
        for key in ('host', 'port', 'dbname', 'user', 'password', 'sslmode'):
            if query.get(key):
                parts['database' if key == 'dbname' else key] = query[key][-1]
    else:
        for key, value in re.findall(r"(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", url):
            value = value[1:-1] if value.startswith("'") else value
            if key in ('host', 'port', 'user', 'password', 'sslmode'):
                parts[key] = value
            elif key == 'dbname':
                parts['database'] = value
    return parts


def describe_url(url):
    """host:port/database, never the user or password."""
    parts = url_parts(url)
    return '%s:%s/%s' % (parts['host'] or 'localhost', parts['port'] or 5432, parts['database'] or parts['user'] or '?')


def ssl_setting(url, env):
    """The sslmode to force on the driver, or None to leave the URL's (or the driver's default)."""
    sslmode = (url_parts(url)['sslmode'] or '').lower()
    if is_true(env.get('POSTGRES_SSL')) and sslmode not in ('verify-ca', 'verify-full'):
        return 'require'
    return None


def redact(text, url):
    """`text` without the URL or its password (drivers may quote either in an error)."""
    text = str(text)
    secrets = [url]
    password = url_parts(url)['password']
    if password:
        secrets.append(password)
    for secret in secrets:
        if secret and len(secret) >= 3:
            text = text.replace(secret, '********')
    return text


def error_text(exc):
    """`ErrorClass: message (SQLSTATE xxxxx)` of a driver error, one line."""
    message = ' '.join(str(exc).split()) or repr(exc)
    sqlstate = getattr(exc, 'sqlstate', None) or getattr(exc, 'pgcode', None)
    if sqlstate and isinstance(sqlstate, str):
        message = '%s (SQLSTATE %s)' % (message, sqlstate)
    return '%s: %s' % (type(exc).__name__, message)


# ---------------------------------------------------------------- drivers


def _psycopg_params(sql):
    return re.sub(r'\$\d+', '%s', sql)


class AsyncpgDriver(object):
    """asyncpg behind a synchronous interface (a private event loop)."""

    name = 'asyncpg'

    def __init__(self, url, ssl, connect_timeout):
        import asyncio
        import asyncpg  # pylint: disable=import-error

        self._loop = asyncio.new_event_loop()
        kwargs = {'timeout': connect_timeout, 'server_settings': {'application_name': 'divan-migrate'}}
        if ssl:
            kwargs['ssl'] = ssl
        try:
            self._conn = self._loop.run_until_complete(asyncpg.connect(dsn=url, **kwargs))
        except BaseException:
            self._loop.close()
            raise

    def execute(self, sql, *args):
        self._loop.run_until_complete(self._conn.execute(sql, *args))

    def fetch(self, sql, *args):
        return [tuple(row) for row in self._loop.run_until_complete(self._conn.fetch(sql, *args))]

    def run_script(self, sql):
        # No arguments: the simple query protocol, several statements in one call.
        self._loop.run_until_complete(self._conn.execute(sql))

    def close(self):
        try:
            self._loop.run_until_complete(self._conn.close(timeout=10))
        finally:
            self._loop.close()


class Psycopg2Driver(object):
    """psycopg2 in autocommit mode (transactions are explicit BEGIN/COMMIT)."""

    name = 'psycopg2'

    def __init__(self, url, ssl, connect_timeout):
        import psycopg2  # pylint: disable=import-error

        kwargs = {'connect_timeout': int(connect_timeout), 'application_name': 'divan-migrate'}
        if ssl:
            kwargs['sslmode'] = ssl
        self._conn = psycopg2.connect(url, **kwargs)
        self._conn.autocommit = True

    def execute(self, sql, *args):
        with self._conn.cursor() as cur:
            cur.execute(_psycopg_params(sql), args)

    def fetch(self, sql, *args):
        with self._conn.cursor() as cur:
            cur.execute(_psycopg_params(sql), args)
            return [tuple(row) for row in cur.fetchall()]

    def run_script(self, sql):
        if not sql.strip():
            return
        with self._conn.cursor() as cur:
            cur.execute(sql)  # no parameters: `%` in the file is left alone

    def close(self):
        self._conn.close()


class Psycopg3Driver(Psycopg2Driver):
    """psycopg 3 in autocommit mode."""

    name = 'psycopg'

    def __init__(self, url, ssl, connect_timeout):  # pylint: disable=super-init-not-called
        import psycopg  # pylint: disable=import-error

        kwargs = {'connect_timeout': int(connect_timeout), 'application_name': 'divan-migrate', 'autocommit': True}
        if ssl:
            kwargs['sslmode'] = ssl
        self._conn = psycopg.connect(url, **kwargs)


DRIVER_CLASSES = {'asyncpg': AsyncpgDriver, 'psycopg2': Psycopg2Driver, 'psycopg': Psycopg3Driver}


def available_driver(choice):
    """The driver class to use: `choice`, or for `auto` the first of asyncpg, psycopg2, psycopg that imports."""
    import importlib

    names = DRIVERS if choice == 'auto' else (choice,)
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            continue
        return DRIVER_CLASSES[name]
    raise MigrateError('no PostgreSQL driver: %s cannot be imported by %s (the backend image has asyncpg)'
                       % (' / '.join(names), sys.executable))


def connect(url, ssl, connect_timeout, driver='auto'):
    return available_driver(driver)(url, ssl, connect_timeout)


# ---------------------------------------------------------------- the table


class Store(object):
    """schema_migrations and the advisory lock, over a driver (execute / fetch / run_script / close)."""

    def __init__(self, driver):
        self.driver = driver

    def fetchval(self, sql, *args):
        rows = self.driver.fetch(sql, *args)
        return rows[0][0] if rows else None

    def columns(self):
        """{column: (not null, has default)} of schema_migrations; {} when there is no such table."""
        return {row[0]: (bool(row[1]), bool(row[2])) for row in self.driver.fetch(SQL_COLUMNS)}

    def ensure_table(self, out):
        """Create the table, or add the columns an older one lacks; refuse a table we cannot insert into."""
        existing = self.columns()
        if not existing:
            self.driver.execute(SQL_CREATE)
            out('created table schema_migrations')
            return
        for column, ddl in COLUMNS:
            if column not in existing:
                self.driver.execute(SQL_ADD_COLUMN % (column, ddl))
                out('added column schema_migrations.%s' % column)
        ours = set(c for c, _ddl in COLUMNS)
        blocking = sorted(c for c, (notnull, hasdef) in existing.items() if c not in ours and notnull and not hasdef)
        if blocking:
            raise MigrateError('schema_migrations has NOT NULL column(s) without a default that divan-migrate does not '
                               'fill: %s; it was made by another tool: rename or drop it, then run again'
                               % ', '.join(blocking))

    def recorded(self, columns):
        """{version: checksum or None} of the recorded migrations."""
        if 'version' not in columns:
            return {}
        sql = SQL_RECORDED if 'checksum' in columns else SQL_RECORDED_NO_CHECKSUM
        return {row[0]: row[1] for row in self.driver.fetch(sql)}

    def latest(self):
        """What /health/ready compares with HEALTH_MIN_MIGRATION (None when no row or no table)."""
        if 'version' not in self.columns():
            return None
        return self.fetchval(SQL_LATEST)

    def record(self, mfile, execution_ms, applied_by):
        self.driver.execute(SQL_INSERT, mfile.version, mfile.checksum, execution_ms, applied_by)

    def fill_checksum(self, mfile):
        self.driver.execute(SQL_FILL_CHECKSUM, mfile.version, mfile.checksum)

    def try_lock(self):
        return bool(self.fetchval(SQL_TRY_LOCK, LOCK_KEY))

    def rollback_quietly(self):
        try:
            self.driver.execute('ROLLBACK')
        except Exception:  # pylint: disable=broad-except
            pass


def acquire_lock(store, timeout, where, out, sleep=time.sleep, clock=time.monotonic):
    """pg_try_advisory_lock until it succeeds or `timeout` seconds passed (MigrateError, status 4)."""
    deadline = clock() + max(0.0, timeout)
    told = False
    while not store.try_lock():
        remaining = deadline - clock()
        if remaining <= 0:
            raise MigrateError(
                'gave up after %s s waiting for the migration lock on %s: another divan-migrate is still running '
                '(advisory lock %d: SELECT pid FROM pg_locks WHERE locktype = \'advisory\' AND classid = %d AND '
                'objid = %d); run again when it has finished' % (
                    _seconds(timeout), where, LOCK_KEY, LOCK_KEY >> 32, LOCK_KEY & 0xFFFFFFFF), EXIT_LOCK)
        if not told:
            out('another divan-migrate holds the migration lock on %s; waiting up to %s s' % (where, _seconds(timeout)))
            told = True
        sleep(min(1.0, remaining))


def _seconds(value):
    return ('%g' % value) if isinstance(value, float) else str(value)


# ---------------------------------------------------------------- the run


def new_result():
    """The DIVAN_MIGRATE_RESULT document.

    applied: files run (a dry run: files it would run); recorded: files
    recorded without running (--record-all, --baseline; a dry run: would be);
    checksums_filled: recorded files whose NULL checksum was (would be) set;
    already_applied: files present that were recorded before this run;
    pending: files still not applied at the end; latest: the backend's
    /health/ready value (max version) after the run; failed: the file that
    failed; changed_files: applied files whose checksum changed; error: the message
    that ended the run, or null.
    """
    return {'applied': [], 'recorded': [], 'checksums_filled': [], 'already_applied': 0, 'pending': [],
            'latest': None, 'failed': None, 'changed_files': [], 'error': None, 'dry_run': False, 'database': None,
            'driver': None}


def apply_file(store, mfile, applied_by, out, clock=time.monotonic):
    """Run one migration and record it; the driver's exception propagates after a rollback."""
    out('applying %s%s' % (mfile.name, ' (no transaction)' if mfile.no_transaction else ''))
    start = clock()
    if mfile.no_transaction:
        store.driver.run_script(mfile.sql())
        elapsed = int(round((clock() - start) * 1000))
        store.record(mfile, elapsed, applied_by)
    else:
        store.driver.execute('BEGIN')
        try:
            store.driver.run_script(mfile.sql())
            elapsed = int(round((clock() - start) * 1000))
            store.record(mfile, elapsed, applied_by)
            store.driver.execute('COMMIT')
        except BaseException:
            store.rollback_quietly()
            raise
    out('applied %s in %d ms' % (mfile.name, elapsed))
    return elapsed


def record_files(store, files, applied_by):
    """Record `files` as applied without running them, in one transaction."""
    store.driver.execute('BEGIN')
    try:
        for mfile in files:
            store.record(mfile, None, applied_by)
        store.driver.execute('COMMIT')
    except BaseException:
        store.rollback_quietly()
        raise


def migrate(store, files, result, out, dry_run=False, record_all=False, baseline=None, applied_by=DEFAULT_APPLIED_BY,
            lock_timeout=300, where='the database', sleep=time.sleep, clock=time.monotonic):
    """The run over an open connection; fills `result`; MigrateError or a driver error ends it."""
    result['dry_run'] = bool(dry_run)
    if not dry_run:
        acquire_lock(store, lock_timeout, where, out, sleep=sleep, clock=clock)
        store.ensure_table(out)
    columns = store.columns()
    recorded = store.recorded(columns)
    names = set(f.version for f in files)

    pending = []
    for mfile in files:
        if mfile.version not in recorded:
            pending.append(mfile)
            continue
        result['already_applied'] += 1
        old = recorded[mfile.version]
        if old is not None and old != mfile.checksum:
            out('CHANGED %s: applied with sha256 %s, the file now has %s; an applied migration must not change '
                '(write a new file)' % (mfile.name, old[:12], mfile.checksum[:12]))
            result['changed_files'].append(mfile.name)
    result['pending'] = [f.name for f in pending]
    if result['changed_files']:
        raise MigrateError('%d applied migration(s) changed: %s; nothing was applied'
                           % (len(result['changed_files']), ', '.join(result['changed_files'])), EXIT_CHANGED)

    for mfile in files:
        if mfile.version in recorded and recorded[mfile.version] is None:
            if not dry_run:
                store.fill_checksum(mfile)
            out('%s the checksum of %s (recorded without one)' % ('would record' if dry_run else 'recorded', mfile.name))
            result['checksums_filled'].append(mfile.name)
    for version in sorted(set(recorded) - names):
        out('note: %s is recorded in schema_migrations but has no file here' % version)

    to_record = []
    if record_all:
        to_record = list(pending)
    elif baseline is not None:
        if recorded:
            out('--baseline %s ignored: schema_migrations already has %d row(s)' % (baseline, len(recorded)))
        else:
            to_record = [f for f in pending if covered_by_baseline(f.version, baseline)]
            if not to_record:
                out('--baseline %s covers none of the files' % baseline)
    if to_record:
        if not dry_run:
            record_files(store, to_record, applied_by)
        for mfile in to_record:
            out('%s %s as applied without running it' % ('would record' if dry_run else 'recorded', mfile.name))
        result['recorded'] = [f.name for f in to_record]
        pending = [f for f in pending if f not in to_record]
        result['pending'] = [f.name for f in pending]

    newest = max(list(recorded) + [f.version for f in to_record] or [''])
    for index, mfile in enumerate(pending):
        if newest and mfile.version < newest:
            out('note: %s sorts before %s, which is already applied (applied out of order)' % (mfile.version, newest))
        if dry_run:
            out('would apply %s%s' % (mfile.name, ' (no transaction)' if mfile.no_transaction else ''))
            result['applied'].append(mfile.name)
            continue
        try:
            apply_file(store, mfile, applied_by, out, clock=clock)
        except Exception as exc:  # pylint: disable=broad-except
            result['failed'] = mfile.name
            result['pending'] = [f.name for f in pending[index:]]
            kept = ' (it ran outside a transaction: what it did before the error stays)' if mfile.no_transaction else ''
            raise MigrateError('FAILED %s: %s%s' % (mfile.name, error_text(exc), kept)) from exc
        result['applied'].append(mfile.name)
        result['pending'] = [f.name for f in pending[index + 1:]]
    if not dry_run:
        result['pending'] = []


def parse_args(argv):
    parser = argparse.ArgumentParser(prog='divan-migrate', description=__doc__.split('\n', 1)[0])
    parser.add_argument('--dir', default='migrations', help='the migrations folder (default: migrations, relative to the working directory)')
    parser.add_argument('--dry-run', action='store_true', help='say what would be applied or recorded; change nothing')
    group = parser.add_mutually_exclusive_group()
    group.add_argument('--record-all', action='store_true', help='record every file as applied without running it')
    group.add_argument('--baseline', metavar='VERSION',
                       help='when schema_migrations has no row: record the files up to VERSION without running them, then apply the rest')
    parser.add_argument('--lock-timeout', type=float, default=300.0, help='seconds to wait for another runner (default 300)')
    parser.add_argument('--connect-timeout', type=float, default=30.0, help='seconds to wait for the connection (default 30)')
    parser.add_argument('--driver', choices=('auto',) + DRIVERS, default=None,
                        help='database driver (default: DIVAN_MIGRATE_DRIVER, else auto: asyncpg, psycopg2, psycopg)')
    return parser.parse_args(argv)


def main(argv=None, env=None, out=None, connector=connect, sleep=time.sleep, clock=time.monotonic):
    """Run and return the exit status; the last line printed is DIVAN_MIGRATE_RESULT."""
    env = os.environ if env is None else env
    if out is None:
        def out(line):
            sys.stdout.write(line + '\n')
            sys.stdout.flush()

    def say(line):
        out(PREFIX + line)

    args = parse_args(sys.argv[1:] if argv is None else argv)
    result = new_result()
    status = EXIT_OK
    url = None
    store = None
    try:
        files = load_migrations(args.dir)
        say('%d migration file(s) in %s' % (len(files), os.path.abspath(args.dir)))
        source, url = database_url(env)
        if not url:
            raise MigrateError('no database URL: set %s' % ' or '.join(URL_ENV_NAMES))
        url = normalize_url(url)
        where = describe_url(url)
        result['database'] = where
        driver_choice = args.driver or (env.get('DIVAN_MIGRATE_DRIVER') or 'auto').strip().lower()
        if driver_choice not in ('auto',) + DRIVERS:
            raise MigrateError('DIVAN_MIGRATE_DRIVER=%s: expected auto, %s' % (driver_choice, ', '.join(DRIVERS)))
        try:
            driver = connector(url, ssl_setting(url, env), args.connect_timeout, driver_choice)
        except MigrateError:
            raise
        except Exception as exc:  # pylint: disable=broad-except
            raise MigrateError('cannot connect to %s (%s): %s' % (where, source, error_text(exc))) from exc
        result['driver'] = getattr(driver, 'name', None)
        store = Store(driver)
        say('connected to %s with %s (%s)%s' % (where, result['driver'], source, '; dry run' if args.dry_run else ''))
        migrate(store, files, result, say, dry_run=args.dry_run, record_all=args.record_all, baseline=args.baseline,
                applied_by=(env.get('DIVAN_MIGRATE_RELEASE') or '').strip() or DEFAULT_APPLIED_BY,
                lock_timeout=args.lock_timeout, where=where, sleep=sleep, clock=clock)
    except MigrateError as exc:
        status = exc.status
        result['error'] = redact(exc.message, url) if url else exc.message
        say(result['error'])
    except Exception as exc:  # pylint: disable=broad-except
        status = EXIT_FAILED
        result['error'] = redact(error_text(exc), url) if url else error_text(exc)
        say(result['error'])
    if store is not None:
        try:
            result['latest'] = store.latest()
        except Exception:  # pylint: disable=broad-except
            pass
        try:
            store.driver.close()
        except Exception:  # pylint: disable=broad-except
            pass
    if status == EXIT_OK:
        say('%s: %d applied, %d recorded without running, %d already applied; latest %s'
            % ('dry run' if args.dry_run else 'done', len(result['applied']), len(result['recorded']),
               result['already_applied'], result['latest']))
    out(RESULT_MARKER + json.dumps(result, sort_keys=True))
    return status


if __name__ == '__main__':
    sys.exit(main())
