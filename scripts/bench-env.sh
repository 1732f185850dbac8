# Sourced by scripts: start pcscd (with vpcd) if none runs, and stop it on exit if we started it.
# Needs root (pcscd creates /run/pcscd). Debian packages: see scripts/install-deps.
JPKI_STARTED_PCSCD=
jpki_bench_up() {
  if ! pgrep -x pcscd >/dev/null 2>&1; then
    mkdir -p /run/pcscd
    pcscd --foreground >"${TMPDIR:-/tmp}/jpki-pcscd.log" 2>&1 &
    JPKI_STARTED_PCSCD=1
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
  # Tests may restart pcscd (new pid): stop every pcscd when we were the ones who started it.
  if [ -n "$JPKI_STARTED_PCSCD" ]; then
    pkill -x pcscd 2>/dev/null || true
    for _ in $(seq 1 100); do pgrep -x pcscd >/dev/null || break; sleep 0.05; done
    pkill -9 -x pcscd 2>/dev/null || true
  fi
}
