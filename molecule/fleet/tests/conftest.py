"""Print the fleet's measured numbers at the end of the verify run; the
scenarios' shared test helpers (../../_shared/tests) on sys.path."""

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "_shared" / "tests"))

REPORT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", ".")) / ".cache" / "logs" / "fleet.json"


def pytest_terminal_summary(terminalreporter):
    if REPORT.exists():
        for key, value in json.loads(REPORT.read_text()).items():
            terminalreporter.write_line("fleet %s: %s" % (key, json.dumps(value)))
