#!/usr/bin/env bash
# Bench: fresh single-host converge of site.yml vs the bare baseline, and a
# no-change re-run (printed figures, not a test).
#
#   bench/converge.sh [--json out.json] [--keep]
#
# --keep leaves divan-bench-site running (and its inventory in
# .cache/bench-inventory) after the re-run, for profiling further re-runs.
# ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks in the environment
# adds per-task times to the logs in .cache/logs/bench-converge-*.log.
#
# 1. Starts a fresh systemd container (divan-bench-site, the molecule
#    platform's image and options) and converges site.yml onto it with
#    inventories/local's settings (every group on the one host; the demo's
#    secrets, or throw-away ones): the fresh converge, timed.
# 2. Runs site.yml again: the no-change re-run, timed, with its changed count.
# 3. Baseline, in a second fresh container (divan-bench-baseline): the same
#    apt installs (the packages Ansible marked manually installed on the
#    first container) with one apt-get, and the same image archive loaded
#    with docker load; no Ansible. Timed.
# Prints JSON and a markdown table; removes both containers at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH="$ROOT/.venv/bin:$PATH" NO_COLOR=1 PY_COLORS=0 ANSIBLE_NOCOLOR=1
export ANSIBLE_CONFIG="$ROOT/ansible.cfg" ANSIBLE_COLLECTIONS_PATH="$ROOT/.collections"
JSON_OUT=""
KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --json) JSON_OUT="$2"; shift 2 ;;
    --keep) KEEP=1; shift ;;
    *) echo "usage: $0 [--json out.json] [--keep]" >&2; exit 2 ;;
  esac
done
IMAGE="${DIVAN_TEST_IMAGE:-divan-test/debian:trixie}"
SITE=divan-bench-site
BASE=divan-bench-baseline
ARCHIVE="$ROOT/.cache/images/divan-standin-1.0.0.tar"
WORK=$(mktemp -d)
LOG="$ROOT/.cache/logs"
mkdir -p "$LOG"

cleanup() {
  docker rm -f "$BASE" >/dev/null 2>&1 || true
  if [ "$KEEP" = 1 ]; then
    rm -rf "$ROOT/.cache/bench-inventory"; cp -r "$WORK/inv" "$ROOT/.cache/bench-inventory"
  else
    docker rm -f "$SITE" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

start_container() {  # the molecule platform of .config/molecule/config.yml
  docker rm -f "$1" >/dev/null 2>&1 || true
  local caps=()
  for c in AUDIT_CONTROL AUDIT_READ AUDIT_WRITE BLOCK_SUSPEND CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID \
           IPC_LOCK IPC_OWNER KILL LEASE LINUX_IMMUTABLE MAC_ADMIN MAC_OVERRIDE MKNOD NET_ADMIN NET_BIND_SERVICE \
           NET_BROADCAST NET_RAW SETFCAP SETGID SETPCAP SETUID SYS_ADMIN SYS_BOOT SYS_CHROOT SYS_MODULE SYS_NICE \
           SYS_PACCT SYS_PTRACE SYS_RAWIO SYS_TIME SYS_TTY_CONFIG SYSLOG WAKE_ALARM; do caps+=(--cap-add "$c"); done
  docker run -d --name "$1" --hostname "$1" "${caps[@]}" --cgroupns host \
    --security-opt seccomp=unconfined --security-opt apparmor=unconfined --stop-signal SIGRTMIN+3 \
    --tmpfs /run --tmpfs /run/lock --tmpfs /tmp -v /sys/fs/cgroup:/sys/fs/cgroup:rw -v /var/lib/docker \
    "$IMAGE" /lib/systemd/systemd >/dev/null
  for _ in $(seq 60); do
    state=$(docker exec "$1" systemctl is-system-running 2>/dev/null || true)
    case "$state" in running|degraded) return 0 ;; esac
    sleep 1
  done
  echo "$1: systemd did not start" >&2; return 1
}

recap() {  # changed count of the PLAY RECAP line of host $2 in log $1
  grep -E "^$2 +:" "$1" | tail -1 | sed -E 's/.*changed=([0-9]+).*/\1/'
}

tests/harness/build-standin-images.sh --save .cache/images >/dev/null

# The inventory: inventories/local's settings, every group on the bench host.
mkdir -p "$WORK/inv/group_vars/all"
cp inventories/local/group_vars/all/main.yml "$WORK/inv/group_vars/all/"
python3 - "$WORK/inv/group_vars/all/secrets.yml" <<'PY'
import secrets, sys
keys = ["secret_key", "service_signing_key", "refresh_pepper", "obs_admin_token",
        "postgres_password", "redis_password", "smtp_password"]
with open(sys.argv[1], "w") as fh:
    fh.write("---\n" + "".join("vault_%s: %s\n" % (k, secrets.token_hex(32)) for k in keys))
PY
cat > "$WORK/inv/hosts.yml" <<YAML
all:
  hosts:
    $SITE:
      ansible_connection: community.docker.docker
  children:
    divan_proxy: {hosts: {$SITE: {}}}
    divan_app: {hosts: {$SITE: {}}}
    divan_db: {hosts: {$SITE: {}}}
    divan_redis: {hosts: {$SITE: {}}}
YAML
# playbook_dir-relative paths of inventories/local point into the repository.
EXTRA=(-e "caddy_fetch_root_ca_to=$WORK/caddy-root.crt")

echo "fresh converge of site.yml on $SITE ..." >&2
start_container "$SITE"
docker exec "$SITE" apt-mark showmanual | sort >"$WORK/manual-before"
t0=$(date +%s.%N)
ansible-playbook -i "$WORK/inv" site.yml "${EXTRA[@]}" >"$LOG/bench-converge-fresh.log" 2>&1 \
  || { tail -40 "$LOG/bench-converge-fresh.log" >&2; exit 1; }
t1=$(date +%s.%N)
fresh_changed=$(recap "$LOG/bench-converge-fresh.log" "$SITE")

echo "no-change re-run ..." >&2
ansible-playbook -i "$WORK/inv" site.yml "${EXTRA[@]}" >"$LOG/bench-converge-rerun.log" 2>&1 \
  || { tail -40 "$LOG/bench-converge-rerun.log" >&2; exit 1; }
t2=$(date +%s.%N)
rerun_changed=$(recap "$LOG/bench-converge-rerun.log" "$SITE")
docker exec "$SITE" apt-mark showmanual | sort >"$WORK/manual-after"
PKGS=$(comm -13 "$WORK/manual-before" "$WORK/manual-after" | tr '\n' ' ')
[ "$KEEP" = 1 ] || docker rm -f "$SITE" >/dev/null

echo "baseline (apt-get install + docker load, no Ansible) on $BASE ..." >&2
start_container "$BASE"
b0=$(date +%s.%N)
docker exec "$BASE" sh -ec "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $PKGS" \
  >"$LOG/bench-converge-baseline.log" 2>&1 || { tail -40 "$LOG/bench-converge-baseline.log" >&2; exit 1; }
for _ in $(seq 60); do docker exec "$BASE" docker info >/dev/null 2>&1 && break; sleep 0.5; done
docker exec -i "$BASE" docker load <"$ARCHIVE" >>"$LOG/bench-converge-baseline.log"
b1=$(date +%s.%N)

python3 - "$t0" "$t1" "$t2" "$b0" "$b1" "$fresh_changed" "$rerun_changed" "$PKGS" "$JSON_OUT" <<'PY'
import json, os, platform, sys
t0, t1, t2, b0, b1 = map(float, sys.argv[1:6])
fresh, rerun, base = t1 - t0, t2 - t1, b1 - b0
res = {
    "machine": {"host": platform.node(), "cpus": os.cpu_count(), "kernel": platform.release(),
                "ram_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
                "debian": open("/etc/debian_version").read().strip(),
                "load_avg_1m_5m_15m": [round(x, 2) for x in os.getloadavg()]},
    "fresh_converge_s": round(fresh, 1), "fresh_changed": int(sys.argv[6]),
    "baseline_s": round(base, 1), "fresh_to_baseline_ratio": round(fresh / base, 2),
    "rerun_s": round(rerun, 1), "rerun_changed": int(sys.argv[7]),
    "rerun_to_fresh_ratio": round(rerun / fresh, 3),
    "baseline_packages": sys.argv[8].split(),
}
text = json.dumps(res, indent=2)
print(text)
if sys.argv[9]:
    open(sys.argv[9], "w").write(text + "\n")
print()
print("| measure | value |")
print("|---|---|")
print("| fresh converge of site.yml (s) | %s (changed=%d) |" % (res["fresh_converge_s"], res["fresh_changed"]))
print("| bare baseline: same apt installs + docker load (s) | %s |" % res["baseline_s"])
print("| fresh / baseline | %s |" % res["fresh_to_baseline_ratio"])
print("| no-change re-run (s) | %s (changed=%d) |" % (res["rerun_s"], res["rerun_changed"]))
print("| re-run / fresh | %s |" % res["rerun_to_fresh_ratio"])
print()
print("Machine: %(host)s, %(cpus)s CPUs, %(ram_gib)s GiB RAM, Debian %(debian)s, Linux %(kernel)s, load %(load_avg_1m_5m_15m)s"
      % res["machine"])
PY
