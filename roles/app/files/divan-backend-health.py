"""Health check of a Divan backend container (compose healthcheck).

Exit 0 when GET /health/ready answers 200 (Redis, the database and the
recorded migrations are fine). Otherwise exit 1 (unhealthy); and when even
/health/live has not answered for 3 checks in a row, once the container has
run 60 s, stop every process of the container: a backend whose workers all
died keeps its parent running, answering nothing, and would never be
restarted. The restart policy then starts it again.

Written for divan.platform's app role; runs with the image's python3 and
the standard library only.
"""

import os
import signal
import sys
import urllib.error
import urllib.request

BASE = 'http://127.0.0.1:%s' % os.environ.get('PORT', '8000')
COUNTER = '/tmp/divan-health-live-failures'
LIMIT = 3
GRACE_SECONDS = 60


def status(path):
    """HTTP status of GET path, 0 when nothing answered."""
    try:
        with urllib.request.urlopen(BASE + path, timeout=3) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, ValueError):
        return 0


def container_uptime():
    """Seconds since PID 1 of the container started."""
    with open('/proc/uptime', encoding='ascii') as fh:
        uptime = float(fh.read().split()[0])
    with open('/proc/1/stat', encoding='ascii') as fh:
        fields = fh.read().rsplit(')', 1)[1].split()
    return uptime - int(fields[19]) / os.sysconf('SC_CLK_TCK')


def main():
    if status('/health/ready') == 200:
        write_failures(0)
        return 0
    if status('/health/live') != 0:
        write_failures(0)
        return 1
    failures = read_failures() + 1
    write_failures(failures)
    if failures >= LIMIT and container_uptime() > GRACE_SECONDS:
        sys.stderr.write('backend answered nothing for %d checks: stopping the container\n' % failures)
        write_failures(0)
        os.kill(-1, signal.SIGKILL)
    return 1


def read_failures():
    try:
        with open(COUNTER, encoding='ascii') as fh:
            return int(fh.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def write_failures(count):
    try:
        with open(COUNTER, 'w', encoding='ascii') as fh:
            fh.write(str(count))
    except OSError:
        pass


if __name__ == '__main__':
    sys.exit(main())
