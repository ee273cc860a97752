# -*- coding: utf-8 -*-
"""Text edits of the vault secrets file."""

import re

import pytest
import yaml

from ansible_collections.divan.platform.plugins.module_utils import secrets_file as sf


def test_generate_secret():
    values = set(sf.generate_secret() for _unused in range(100))
    assert len(values) == 100
    assert all(re.match(r'^[0-9a-f]{64}$', v) for v in values)
    assert re.match(r'^[0-9a-f]{32}$', sf.generate_secret(16))


def test_plan():
    data = {'a': 'x', 'b': '', 'c': None, 'd': 0}
    assert sf.plan(data, ['a', 'b', 'c', 'd', 'e']) == (['e'], ['b', 'c'], ['a', 'd'])
    assert sf.plan(None, ['a']) == (['a'], [], [])


def test_apply_appends_and_fills_keeping_the_rest():
    text = '---\n# keep me\na: "x"\nb:\nc: ~  # empty\nnested:\n  b:\n'
    out = sf.apply(text, {'b': '11', 'c': '22', 'e': '33'}, to_fill=['b', 'c'])
    data = yaml.safe_load(out)
    assert data == {'a': 'x', 'b': '11', 'c': '22', 'e': '33', 'nested': {'b': None}}
    assert '# keep me' in out


def test_apply_on_empty_text():
    out = sf.apply('', {'k': 'v'})
    assert yaml.safe_load(out) == {'k': 'v'} and out.startswith('---\n')
    out = sf.apply('a: 1', {'k': 'v'})
    assert yaml.safe_load(out) == {'a': 1, 'k': 'v'}


def test_apply_refuses_ambiguous_fill():
    with pytest.raises(ValueError, match='cannot be edited safely'):
        sf.apply('b: >\n  \n', {'b': 'v'}, to_fill=['b'])
