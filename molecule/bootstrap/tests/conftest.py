"""Print the bootstrap's measured numbers at the end of the verify run."""

import json
import os
from pathlib import Path

LOG_DIR = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", ".")) / ".cache" / "logs"


def pytest_terminal_summary(terminalreporter):
    lynis = LOG_DIR / "lynis-bootstrap.json"
    ports = LOG_DIR / "bootstrap-ports.json"
    if lynis.exists():
        data = json.loads(lynis.read_text())
        terminalreporter.write_line(
            "lynis hardening index: bootstrapped %d, not bootstrapped %d (floor %d) [%s]"
            % (data["bootstrapped"]["hardening_index"],
               data["not_bootstrapped_baseline"]["hardening_index"], data["floor"], lynis))
    if ports.exists():
        data = json.loads(ports.read_text())
        terminalreporter.write_line(
            "TCP ports reachable from another container: %s (listening on the host: %s) [%s]"
            % (data["reachable_from_another_container"], data["listening_on_host"], ports))
