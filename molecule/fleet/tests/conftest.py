"""Print the fleet's measured numbers at the end of the verify run."""

import json
import os
from pathlib import Path

REPORT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", ".")) / ".cache" / "logs" / "fleet.json"


def pytest_terminal_summary(terminalreporter):
    if REPORT.exists():
        for key, value in json.loads(REPORT.read_text()).items():
            terminalreporter.write_line("fleet %s: %s" % (key, json.dumps(value)))
