"""Stand-in for the Divan backend's /metrics, for the monitoring scenario only.

Honours the backend's contract (DIVAN_CONTRACT.md): GET /metrics answers 403
unless the request carries Authorization: Bearer <OBS_ADMIN_TOKEN> (or
X-Admin-Token). The counters follow the FastAPI Prometheus instrumentator's
naming: http_requests_total{handler, method, status} with grouped statuses.
Every authorised scrape counts one 2xx and one 5xx request on /api/things, so
the 5xx share is 50 % (enough for Backend5xxRate). Refused requests are
logged to stderr (the journal). Usage: divan-standin-metrics.py PORT, with
OBS_ADMIN_TOKEN in the environment.
"""

import hmac
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN = os.environ.get("OBS_ADMIN_TOKEN", "")
COUNTS = {"2xx": 0, "5xx": 0}


class Handler(BaseHTTPRequestHandler):
    def _authorised(self):
        given = self.headers.get("X-Admin-Token", "")
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            given = given or auth[7:].strip()
        return bool(TOKEN) and bool(given) and hmac.compare_digest(given, TOKEN)

    def _send(self, status, body, ctype="text/plain; charset=utf-8"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802 (http.server's naming)
        if self.path.split("?")[0] != "/metrics":
            self._send(404, "not found\n")
            return
        if not self._authorised():
            sys.stderr.write("refused /metrics from %s: no valid bearer token\n" % self.client_address[0])
            sys.stderr.flush()
            self._send(403, "forbidden\n")
            return
        COUNTS["2xx"] += 1
        COUNTS["5xx"] += 1
        lines = [
            "# HELP http_requests_total Total number of requests by method, status and handler.",
            "# TYPE http_requests_total counter",
        ]
        for status, value in sorted(COUNTS.items()):
            lines.append('http_requests_total{handler="/api/things",method="GET",status="%s"} %d' % (status, value))
        self._send(200, "\n".join(lines) + "\n", "text/plain; version=0.0.4; charset=utf-8")

    def log_message(self, fmt, *args):  # access log off: the journal keeps the refusals only
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
