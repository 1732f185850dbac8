# Sourced by scripts: start pcscd (with vpcd) if none runs, and stop it on exit if we started it.
# Needs root (pcscd creates /run/pcscd). Debian packages: see scripts/install-deps.
# pcscd is found by its pid file and socket in this mount namespace only, never by process name:
# the process table is shared with the system's pcscd and with every private bench
# (scripts/private-bench), and none of those is ours to see or stop.
JPKI_STARTED_PCSCD=
jpki_pcscd_pid() {
  local pid
  [ -r /run/pcscd/pcscd.pid ] || return 0
  pid=$(tr -d '\0 \n' </run/pcscd/pcscd.pid 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ -S /run/pcscd/pcscd.comm ]; then
    echo "$pid"
  fi
}
jpki_bench_up() {
  if [ -z "$(jpki_pcscd_pid)" ]; then
    mkdir -p /run/pcscd
    # A stale socket from a pcscd that died would make the new one refuse to start.
    rm -f /run/pcscd/pcscd.comm /run/pcscd/pcscd.pid
    pcscd --foreground >"${TMPDIR:-/tmp}/jpki-pcscd.log" 2>&1 &
    JPKI_STARTED_PCSCD=$!
  fi
  # The socket appears before the vpcd driver listens on 35963/35964 (8C7B/8C7C).
  for _ in $(seq 1 200); do
    if [ -S /run/pcscd/pcscd.comm ] && grep -q ':8C7B 00000000:0000 0A' /proc/net/tcp /proc/net/tcp6 2>/dev/null \
       && grep -q ':8C7C 00000000:0000 0A' /proc/net/tcp /proc/net/tcp6 2>/dev/null; then
      return 0
    fi
    sleep 0.05
  done
  echo "pcscd did not create /run/pcscd/pcscd.comm; log:" >&2
  cat "${TMPDIR:-/tmp}/jpki-pcscd.log" >&2 || true
  return 1
}
jpki_bench_down() {
  # Tests may restart pcscd (a new pid, written to this namespace's pid file): when we started
  # the bench, stop the pcscd that owns /run/pcscd now, and the one we started, by pid.
  if [ -n "$JPKI_STARTED_PCSCD" ]; then
    local pids pid
    pids="$JPKI_STARTED_PCSCD $(jpki_pcscd_pid)"
    for pid in $pids; do kill "$pid" 2>/dev/null || true; done
    for pid in $pids; do
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
      kill -9 "$pid" 2>/dev/null || true
    done
  fi
}
