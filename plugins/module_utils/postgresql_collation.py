# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Divan platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Collation version drift in PostgreSQL: what is recorded, what the OS provides, what to do.

Plain functions (no database access) so that they are unit tested without a
server; divan.platform.postgresql_collation runs the queries and the actions
they describe.

Background: PostgreSQL records, per database (pg_database.datcollversion,
PostgreSQL 15+) and per collation object (pg_collation.collversion), the
version of the collation library (glibc or ICU) the indexes were built with.
After an OS upgrade changes the library's sort order, the versions differ,
clients get "WARNING: database X has a collation version mismatch", and
indexes on text may be silently corrupt until they are rebuilt. The fix is
REINDEX, then ALTER DATABASE ... REFRESH COLLATION VERSION (and ALTER
COLLATION ... REFRESH VERSION), which records the new version.
"""

# One row per database: name, allows connections, recorded version, OS version.
DATABASES_SQL = (
    "SELECT datname, datallowconn, datcollversion, "
    "pg_catalog.pg_database_collation_actual_version(oid) "
    "FROM pg_catalog.pg_database ORDER BY datname"
)

# One row per collation object of the current database that records a version.
COLLATIONS_SQL = (
    "SELECT n.nspname, c.collname, c.collversion, "
    "pg_catalog.pg_collation_actual_version(c.oid) "
    "FROM pg_catalog.pg_collation c "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.collnamespace "
    "WHERE c.collversion IS NOT NULL "
    "ORDER BY n.nspname, c.collname"
)


class CollationError(Exception):
    """Bad input to the planning functions."""


def quote_ident(name):
    """Quote an SQL identifier the way PostgreSQL's quote_ident() does, always.

    Doubling embedded double quotes makes any string safe as one identifier;
    a NUL byte cannot be part of an identifier at all.
    """
    if not isinstance(name, str) or name == '':
        raise CollationError('an SQL identifier must be a non-empty string, got %r' % (name,))
    if '\x00' in name:
        raise CollationError('an SQL identifier cannot contain a NUL byte: %r' % (name,))
    return '"' + name.replace('"', '""') + '"'


def qualified(schema, name):
    return '%s.%s' % (quote_ident(schema), quote_ident(name))


def version_mismatch(recorded, actual):
    """True when PostgreSQL would warn: a version was recorded and the OS now reports another one.

    No recorded version (NULL: C/POSIX locales, or a database created before
    PostgreSQL 15) means PostgreSQL does not track it: no mismatch.
    """
    if recorded is None:
        return False
    return recorded != actual


def parse_database_rows(rows):
    """Rows of DATABASES_SQL -> list of dicts, one per database."""
    result = []
    for row in rows:
        if len(row) != 4:
            raise CollationError('expected 4 columns per database row, got %r' % (row,))
        name, allow_conn, recorded, actual = row
        result.append({
            'name': name,
            'allow_connections': bool(allow_conn),
            'recorded_version': recorded,
            'actual_version': actual,
            'mismatch': version_mismatch(recorded, actual),
        })
    return result


def parse_collation_rows(database, rows):
    """Rows of COLLATIONS_SQL (run in `database`) -> list of dicts, one per collation."""
    result = []
    for row in rows:
        if len(row) != 4:
            raise CollationError('expected 4 columns per collation row, got %r' % (row,))
        schema, name, recorded, actual = row
        result.append({
            'database': database,
            'schema': schema,
            'name': name,
            'recorded_version': recorded,
            'actual_version': actual,
            'mismatch': version_mismatch(recorded, actual),
        })
    return result


def select_databases(databases, wanted):
    """The databases to inspect: `wanted` names, or all of them when wanted is empty or ['all'].

    Unknown names raise CollationError naming them.
    """
    wanted = list(wanted or [])
    if not wanted or wanted == ['all']:
        return list(databases)
    known = dict((d['name'], d) for d in databases)
    missing = [w for w in wanted if w not in known]
    if missing:
        raise CollationError('no such database: %s' % ', '.join(missing))
    return [known[w] for w in wanted]


def reindex_sql(database, concurrently=False):
    return 'REINDEX DATABASE %s%s' % ('CONCURRENTLY ' if concurrently else '', quote_ident(database))


def refresh_database_sql(database):
    return 'ALTER DATABASE %s REFRESH COLLATION VERSION' % quote_ident(database)


def refresh_collation_sql(schema, name):
    return 'ALTER COLLATION %s REFRESH VERSION' % qualified(schema, name)


def plan_actions(databases, collations, concurrently=False):
    """What to run, in order, to clear every mismatch found.

    For each database with a mismatch of its own or in one of its collation
    objects: REINDEX DATABASE (connected to it, outside a transaction), then
    ALTER COLLATION ... REFRESH VERSION for each drifted collation, then
    ALTER DATABASE ... REFRESH COLLATION VERSION when the database drifted.
    A database that accepts no connections (template0) cannot be reindexed:
    its version is only refreshed (it holds nothing but system catalogs,
    whose indexes use the C collation) from the maintenance database.

    Returns a list of {'database': where to run it (None = maintenance db),
    'kind': reindex|refresh_collation|refresh_database, 'target': name,
    'sql': statement}.
    """
    drifted_collations = {}
    for coll in collations:
        if coll['mismatch']:
            drifted_collations.setdefault(coll['database'], []).append(coll)

    actions = []
    for db in databases:
        name = db['name']
        colls = drifted_collations.get(name, [])
        if not db['mismatch'] and not colls:
            continue
        if not db['allow_connections']:
            if db['mismatch']:
                actions.append({'database': None, 'kind': 'refresh_database', 'target': name,
                                'sql': refresh_database_sql(name)})
            continue
        actions.append({'database': name, 'kind': 'reindex', 'target': name,
                        'sql': reindex_sql(name, concurrently)})
        for coll in colls:
            target = '%s.%s' % (coll['schema'], coll['name'])
            actions.append({'database': name, 'kind': 'refresh_collation', 'target': target,
                            'sql': refresh_collation_sql(coll['schema'], coll['name'])})
        if db['mismatch']:
            actions.append({'database': name, 'kind': 'refresh_database', 'target': name,
                            'sql': refresh_database_sql(name)})
    return actions


def summarize(databases, collations):
    """The report: only what drifted, as the module returns it."""
    return {
        'database_mismatches': [
            {'name': d['name'], 'recorded_version': d['recorded_version'],
             'actual_version': d['actual_version']}
            for d in databases if d['mismatch']],
        'collation_mismatches': [
            {'database': c['database'], 'schema': c['schema'], 'name': c['name'],
             'recorded_version': c['recorded_version'], 'actual_version': c['actual_version']}
            for c in collations if c['mismatch']],
    }


def mismatch_warnings(notices):
    """The collation mismatch warnings among a connection's server notices."""
    return [n.strip() for n in notices or [] if 'collation version mismatch' in n]
