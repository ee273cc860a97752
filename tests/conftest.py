# -*- coding: utf-8 -*-
"""Make the collection importable as ansible_collections.divan.platform for every test.

`make venv` links .collections/ansible_collections/divan/platform to the
checkout; when that link is missing (a bare pytest run), an equivalent one is
made under .cache/ (git-ignored). A tree that already sits at
.../ansible_collections/divan/platform (ansible-test's copy) uses its own
collections root.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _collections_path():
    parts = ROOT.split(os.sep)
    if parts[-3:] == ['ansible_collections', 'divan', 'platform']:
        # The tree already is ansible_collections/divan/platform (the copy
        # that tests/harness/sanity.sh gives ansible-test, an installed
        # collection): its collections root is the one to use.
        return os.sep.join(parts[:-3])
    link = os.path.join(ROOT, '.collections', 'ansible_collections', 'divan', 'platform')
    if os.path.exists(os.path.join(link, 'galaxy.yml')):
        return os.path.join(ROOT, '.collections')
    base = os.path.join(ROOT, '.cache', 'collections')
    link = os.path.join(base, 'ansible_collections', 'divan', 'platform')
    if not os.path.exists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(ROOT, link)
    return base


COLLECTIONS_PATH = _collections_path()
if COLLECTIONS_PATH not in sys.path:
    sys.path.insert(0, COLLECTIONS_PATH)
_existing = [p for p in os.environ.get('ANSIBLE_COLLECTIONS_PATH', '').split(os.pathsep) if p]
os.environ['ANSIBLE_COLLECTIONS_PATH'] = os.pathsep.join(
    [COLLECTIONS_PATH] + [p for p in _existing if os.path.abspath(p) != COLLECTIONS_PATH])
