# -*- coding: utf-8 -*-
"""The pure functions behind divan.platform.postgresql_collation."""

import pytest

from ansible_collections.divan.platform.plugins.module_utils import postgresql_collation as pc


DB_ROWS = (
    ('divan', True, '0.0', '2.41'),
    ('postgres', True, '2.41', '2.41'),
    ('template0', False, '2.36', '2.41'),
    ('template1', True, '2.41', '2.41'),
    ('legacy', True, None, '2.41'),
)


def _dbs(rows=DB_ROWS):
    return pc.parse_database_rows(rows)


# ---- identifiers -------------------------------------------------------------------------

@pytest.mark.parametrize('name, quoted', [
    ('divan', '"divan"'),
    ('Divan', '"Divan"'),
    ('my db', '"my db"'),
    ('a"b', '"a""b"'),
    ('x"; DROP DATABASE divan; --', '"x""; DROP DATABASE divan; --"'),
    ('données', '"données"'),
])
def test_quote_ident(name, quoted):
    assert pc.quote_ident(name) == quoted


@pytest.mark.parametrize('bad', ['', None, 'a\x00b', 3])
def test_quote_ident_refuses_what_cannot_be_an_identifier(bad):
    with pytest.raises(pc.CollationError):
        pc.quote_ident(bad)


def test_sql_builders_quote_every_identifier():
    assert pc.reindex_sql('divan') == 'REINDEX DATABASE "divan"'
    assert pc.reindex_sql('a"b', concurrently=True) == 'REINDEX DATABASE CONCURRENTLY "a""b"'
    assert pc.refresh_database_sql('Divan App') == 'ALTER DATABASE "Divan App" REFRESH COLLATION VERSION'
    assert pc.refresh_collation_sql('public', 'de-x-icu') == 'ALTER COLLATION "public"."de-x-icu" REFRESH VERSION'
    assert pc.refresh_collation_sql('s"x', 'c') == 'ALTER COLLATION "s""x"."c" REFRESH VERSION'


# ---- parsing -----------------------------------------------------------------------------

@pytest.mark.parametrize('recorded, actual, expected', [
    ('2.41', '2.41', False),
    ('2.36', '2.41', True),
    ('0.0', '2.41', True),
    (None, '2.41', False),   # nothing recorded: PostgreSQL does not track it
    (None, None, False),     # C / POSIX locale
    ('2.41', None, True),    # recorded but the OS reports none any more
])
def test_version_mismatch(recorded, actual, expected):
    assert pc.version_mismatch(recorded, actual) is expected


def test_parse_database_rows():
    dbs = _dbs()
    assert [d['name'] for d in dbs if d['mismatch']] == ['divan', 'template0']
    divan = dbs[0]
    assert divan == {'name': 'divan', 'allow_connections': True, 'recorded_version': '0.0',
                     'actual_version': '2.41', 'mismatch': True}
    assert dbs[2]['allow_connections'] is False


def test_parse_rows_refuse_wrong_shape():
    with pytest.raises(pc.CollationError):
        pc.parse_database_rows([('divan', True, '1')])
    with pytest.raises(pc.CollationError):
        pc.parse_collation_rows('divan', [('public', 'x')])


def test_parse_collation_rows():
    colls = pc.parse_collation_rows('divan', [('pg_catalog', 'en-x-icu', '153.14', '153.14'),
                                              ('public', 'german', '153.14', '155.1')])
    assert [c['name'] for c in colls if c['mismatch']] == ['german']
    assert colls[1]['database'] == 'divan' and colls[1]['schema'] == 'public'


# ---- choosing databases ------------------------------------------------------------------

def test_select_all_databases_by_default():
    assert [d['name'] for d in pc.select_databases(_dbs(), ['all'])] == [r[0] for r in DB_ROWS]
    assert len(pc.select_databases(_dbs(), [])) == len(DB_ROWS)


def test_select_named_databases_in_given_order():
    assert [d['name'] for d in pc.select_databases(_dbs(), ['postgres', 'divan'])] == ['postgres', 'divan']


def test_select_unknown_database_names_it():
    with pytest.raises(pc.CollationError, match='nope'):
        pc.select_databases(_dbs(), ['divan', 'nope'])


# ---- planning ----------------------------------------------------------------------------

def test_no_mismatch_no_action():
    dbs = pc.parse_database_rows([('divan', True, '2.41', '2.41'), ('template0', False, '2.41', '2.41')])
    assert pc.plan_actions(dbs, []) == []


def test_plan_reindexes_before_refreshing():
    actions = pc.plan_actions(_dbs(), [])
    assert [(a['database'], a['kind']) for a in actions] == [
        ('divan', 'reindex'),
        ('divan', 'refresh_database'),
        (None, 'refresh_database'),   # template0: no connection, refresh only, from the maintenance db
    ]
    assert actions[0]['sql'] == 'REINDEX DATABASE "divan"'
    assert actions[1]['sql'] == 'ALTER DATABASE "divan" REFRESH COLLATION VERSION'
    assert actions[2]['sql'] == 'ALTER DATABASE "template0" REFRESH COLLATION VERSION'


def test_plan_for_a_drifted_collation_in_a_sound_database():
    dbs = pc.parse_database_rows([('divan', True, '2.41', '2.41')])
    colls = pc.parse_collation_rows('divan', [('public', 'german', '153.14', '155.1'),
                                              ('pg_catalog', 'en-x-icu', '155.1', '155.1')])
    actions = pc.plan_actions(dbs, colls, concurrently=True)
    assert [(a['kind'], a['sql']) for a in actions] == [
        ('reindex', 'REINDEX DATABASE CONCURRENTLY "divan"'),
        ('refresh_collation', 'ALTER COLLATION "public"."german" REFRESH VERSION'),
    ]
    assert actions[1]['target'] == 'public.german'


def test_plan_reindexes_a_database_once_for_several_causes():
    dbs = pc.parse_database_rows([('divan', True, '1', '2')])
    colls = pc.parse_collation_rows('divan', [('public', 'a', '1', '2'), ('public', 'b', '1', '2')])
    kinds = [a['kind'] for a in pc.plan_actions(dbs, colls)]
    assert kinds == ['reindex', 'refresh_collation', 'refresh_collation', 'refresh_database']


def test_summarize_lists_only_drift():
    colls = pc.parse_collation_rows('divan', [('public', 'german', '1', '2'), ('public', 'ok', '2', '2')])
    report = pc.summarize(_dbs(), colls)
    assert [d['name'] for d in report['database_mismatches']] == ['divan', 'template0']
    assert report['collation_mismatches'] == [{'database': 'divan', 'schema': 'public', 'name': 'german',
                                               'recorded_version': '1', 'actual_version': '2'}]


def test_mismatch_warnings_filters_notices():
    notices = ['WARNING:  database "divan" has a collation version mismatch\n',
               'NOTICE:  something else\n']
    assert pc.mismatch_warnings(notices) == ['WARNING:  database "divan" has a collation version mismatch']
    assert pc.mismatch_warnings(None) == []
