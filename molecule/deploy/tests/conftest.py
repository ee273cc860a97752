"""The scenarios' shared test helpers (../../_shared/tests) on sys.path."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "_shared" / "tests"))
