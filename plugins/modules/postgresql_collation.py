#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Divan platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: postgresql_collation
short_description: Report and fix PostgreSQL collation version mismatches (REINDEX, then REFRESH COLLATION VERSION)
version_added: 0.1.0
description:
  - Compares, for every database, the collation version PostgreSQL recorded
    (C(pg_database.datcollversion)) with the one the operating system provides now
    (C(pg_database_collation_actual_version(oid))), and, in each inspected database, every
    collation object's C(pg_collation.collversion) with C(pg_collation_actual_version(oid)).
    A difference means the C library or ICU changed (typically an OS upgrade), clients get the
    warning C(database "x" has a collation version mismatch) and indexes on text may be corrupt.
  - With O(fix=true), for each affected database, runs C(REINDEX DATABASE) connected to it and
    outside any transaction, then C(ALTER COLLATION ... REFRESH VERSION) for each drifted collation
    and C(ALTER DATABASE ... REFRESH COLLATION VERSION). A database that accepts no connections
    (C(template0)) is only refreshed. A second run finds nothing to do and reports no change.
  - Connects with psycopg2 (Debian's C(python3-psycopg2) on the host that runs the module, as the
    community.postgresql modules do). Needs PostgreSQL 15 or later and a superuser (or the owner of
    each database, for its own REINDEX and REFRESH).
author:
  - Divan platform team (@divan-platform)
options:
  databases:
    description:
      - Databases to inspect; V(all) (the default) inspects every database. Collation objects are
        looked up in each inspected database that accepts connections.
    type: list
    elements: str
    default: [all]
  fix:
    description:
      - Rebuild the indexes and record the new versions. Without it the module only reports.
        In check mode nothing is run; the planned statements are returned in RV(actions).
    type: bool
    default: false
  reindex_concurrently:
    description: Use C(REINDEX DATABASE CONCURRENTLY) (no write lock, slower, system catalogs skipped).
    type: bool
    default: false
  login_db:
    description: Maintenance database the module connects to first.
    type: str
    default: postgres
  login_user:
    description: Role to connect as.
    type: str
    default: postgres
  login_password:
    description: Password of O(login_user); none for peer authentication over the socket.
    type: str
  login_host:
    description: Server host name or address; empty uses the Unix socket.
    type: str
    default: ''
  login_unix_socket:
    description: Directory of the Unix socket, when O(login_host) is empty.
    type: str
    default: ''
  port:
    description: Server port.
    type: int
    default: 5432
  ssl_mode:
    description: libpq sslmode (V(require) or stricter for a managed server).
    type: str
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
    default: prefer
  ca_cert:
    description: CA certificate file for O(ssl_mode=verify-ca) / O(ssl_mode=verify-full).
    type: path
  connect_timeout:
    description: Connection timeout in seconds.
    type: int
    default: 10
requirements:
  - psycopg2 (Debian package python3-psycopg2) on the host that runs the module
  - PostgreSQL 15 or later
notes:
  - Supports check mode (reports, runs nothing).
  - REINDEX DATABASE takes locks that block writes to each table while its indexes are rebuilt;
    run the fix in a maintenance window or with O(reindex_concurrently=true).
seealso:
  - module: community.postgresql.postgresql_query
attributes:
  check_mode:
    support: full
    description: Reports the mismatches and the planned statements; runs nothing.
  diff_mode:
    support: none
    description: No diff is returned.
"""

EXAMPLES = r"""
- name: Report collation drift in every database (peer authentication as postgres)
  become: true
  become_user: postgres
  divan.platform.postgresql_collation:
  register: drift

- name: Rebuild the indexes of the application database and record the new version
  become: true
  become_user: postgres
  divan.platform.postgresql_collation:
    databases: [divan]
    fix: true

- name: Report on a managed server over TLS
  divan.platform.postgresql_collation:
    login_host: db.example.org
    login_user: divan
    login_password: "{{ vault_postgres_password }}"
    login_db: divan
    databases: [divan]
    ssl_mode: verify-full
    ca_cert: /etc/ssl/certs/ca-certificates.crt
"""

RETURN = r"""
databases:
  description: Every inspected database with its recorded and actual collation version (before any fix).
  returned: always
  type: list
  elements: dict
  sample: [{name: divan, allow_connections: true, recorded_version: "2.36", actual_version: "2.41", mismatch: true}]
collations:
  description: Collation objects that record a version, in the inspected databases (before any fix).
  returned: always
  type: list
  elements: dict
database_mismatches:
  description: Databases whose recorded version differs from the actual one (before any fix).
  returned: always
  type: list
  elements: dict
  sample: [{name: divan, recorded_version: "0.0", actual_version: "2.41"}]
collation_mismatches:
  description: Collation objects whose recorded version differs (before any fix).
  returned: always
  type: list
  elements: dict
connection_warnings:
  description: Collation mismatch warnings the server sent when the module connected, by database.
  returned: always
  type: dict
  sample: {divan: ['WARNING:  database "divan" has a collation version mismatch']}
actions:
  description: Statements run (or, in check mode or without O(fix), that a fix would run), in order.
  returned: always
  type: list
  elements: dict
  sample: [{database: divan, kind: reindex, target: divan, sql: 'REINDEX DATABASE "divan"'}]
remaining_mismatches:
  description: Number of mismatches left after the fix (equal to the number found when nothing was fixed).
  returned: always
  type: int
server_version:
  description: Server version number (server_version_num).
  returned: always
  type: int
  sample: 170006
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.divan.platform.plugins.module_utils.postgresql_collation import (
    COLLATIONS_SQL,
    DATABASES_SQL,
    CollationError,
    mismatch_warnings,
    parse_collation_rows,
    parse_database_rows,
    plan_actions,
    select_databases,
    summarize,
)

try:
    import psycopg2
    HAS_PSYCOPG2 = True
    PSYCOPG2_IMPORT_ERROR = None
except ImportError:
    HAS_PSYCOPG2 = False
    PSYCOPG2_IMPORT_ERROR = traceback.format_exc()


def connect(params, dbname):
    kw = dict(
        dbname=dbname,
        user=params['login_user'],
        port=params['port'],
        sslmode=params['ssl_mode'],
        connect_timeout=params['connect_timeout'],
        application_name='divan.platform.postgresql_collation',
    )
    host = params['login_host'] or params['login_unix_socket']
    if host:
        kw['host'] = host
    if params['login_password']:
        kw['password'] = params['login_password']
    if params['ca_cert']:
        kw['sslrootcert'] = params['ca_cert']
    conn = psycopg2.connect(**kw)
    # REINDEX DATABASE cannot run inside a transaction block.
    conn.autocommit = True
    return conn


def fetch(conn, sql):
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def inspect(module, params):
    """Databases, collations and connection warnings, as the server reports them now."""
    warnings = {}
    conn = connect(params, params['login_db'])
    try:
        version = conn.server_version
        if version < 150000:
            module.fail_json(msg='PostgreSQL %s records no database collation version; '
                                 'this module needs PostgreSQL 15 or later' % version)
        found = mismatch_warnings(conn.notices)
        if found:
            warnings[params['login_db']] = found
        all_dbs = parse_database_rows(fetch(conn, DATABASES_SQL))
    finally:
        conn.close()
    try:
        databases = select_databases(all_dbs, params['databases'])
    except CollationError as exc:
        module.fail_json(msg='databases: %s' % exc)
    collations = []
    for db in databases:
        if not db['allow_connections']:
            continue
        conn = connect(params, db['name'])
        try:
            found = mismatch_warnings(conn.notices)
            if found:
                warnings[db['name']] = found
            collations.extend(parse_collation_rows(db['name'], fetch(conn, COLLATIONS_SQL)))
        finally:
            conn.close()
    return version, databases, collations, warnings


def run_actions(params, actions):
    """Run the planned statements, one connection per database, autocommit."""
    conns = {}
    try:
        for action in actions:
            dbname = action['database'] or params['login_db']
            if dbname not in conns:
                conns[dbname] = connect(params, dbname)
            with conns[dbname].cursor() as cur:
                cur.execute(action['sql'])
    finally:
        for conn in conns.values():
            conn.close()


def main():
    module = AnsibleModule(
        argument_spec=dict(
            databases=dict(type='list', elements='str', default=['all']),
            fix=dict(type='bool', default=False),
            reindex_concurrently=dict(type='bool', default=False),
            login_db=dict(type='str', default='postgres'),
            login_user=dict(type='str', default='postgres'),
            login_password=dict(type='str', no_log=True),
            login_host=dict(type='str', default=''),
            login_unix_socket=dict(type='str', default=''),
            port=dict(type='int', default=5432),
            ssl_mode=dict(type='str', default='prefer',
                          choices=['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full']),
            ca_cert=dict(type='path'),
            connect_timeout=dict(type='int', default=10),
        ),
        supports_check_mode=True,
    )
    if not HAS_PSYCOPG2:
        module.fail_json(msg=missing_required_lib('psycopg2 (Debian: python3-psycopg2)'),
                         exception=PSYCOPG2_IMPORT_ERROR)
    params = module.params
    try:
        version, databases, collations, warnings = inspect(module, params)
    except psycopg2.Error as exc:
        module.fail_json(msg='cannot inspect collation versions: %s' % str(exc).strip())

    report = summarize(databases, collations)
    actions = plan_actions(databases, collations, params['reindex_concurrently'])
    found = len(report['database_mismatches']) + len(report['collation_mismatches'])
    result = dict(
        changed=False,
        server_version=version,
        databases=databases,
        collations=collations,
        connection_warnings=warnings,
        actions=actions,
        remaining_mismatches=found,
        **report
    )
    if params['fix'] and actions:
        result['changed'] = True
        if not module.check_mode:
            try:
                run_actions(params, actions)
                after_dbs, after_colls = inspect(module, params)[1:3]
            except psycopg2.Error as exc:
                module.fail_json(msg='fixing collation versions failed: %s' % str(exc).strip(), **result)
            after = summarize(after_dbs, after_colls)
            result['remaining_mismatches'] = (len(after['database_mismatches'])
                                              + len(after['collation_mismatches']))
            if result['remaining_mismatches']:
                module.fail_json(msg='mismatches remain after the fix: %s' % after, **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
