# Sourced. What the project builds, tests and demos with: one list, used by scripts/install-deps
# (installs it) and jpki_need_deps (checks it before scripts/demo and scripts/test start).
JPKI_DEB_PACKAGES=(
  pcscd libpcsclite-dev vsmartcard-vpcd opensc pcsc-tools # the PC/SC stack and the simulated reader
  libssl-dev openssl pkg-config                            # OpenSSL (COpenSSL, fixtures); pkg-config for SwiftPM
  libsqlite3-dev sqlite3 postgresql                        # eligibility registries (tests start a PostgreSQL)
  libxml2                                                  # FoundationXML (the oqs provider parses XML with it)
  python3 procps curl                                      # test tools, the demo's client
  libopenjp2-7-dev libpng-dev                              # jpki-reception: JPEG 2000 face → PNG
  chromium chromium-driver python3-venv                    # browser tests (Selenium in a venv)
  socat                                                    # API contract test: TCP → jpkid's Unix socket
  dpkg-dev lintian systemd                                 # scripts/package (dpkg-shlibdeps, lintian), install test (systemd-analyze, sysusers)
)
# Selenium (PyPI) for the browser tests and schemathesis for the API contract test live in this
# venv (scripts/install-deps makes it).
JPKI_TEST_VENV=/opt/jpki-test-venv

# Installed Debian packages among the list, one per line.
jpki_missing_packages() {
  local installed p
  installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${JPKI_DEB_PACKAGES[@]}" 2>/dev/null |
    awk '$2 == "ii" { print $1 }' || true)
  for p in "${JPKI_DEB_PACKAGES[@]}"; do
    grep -qx "$p" <<<"$installed" || echo "$p"
  done
  "$JPKI_TEST_VENV/bin/python" -c 'import selenium' 2>/dev/null || echo "selenium(venv $JPKI_TEST_VENV)"
  "$JPKI_TEST_VENV/bin/python" -c 'import schemathesis' 2>/dev/null || echo "schemathesis(venv $JPKI_TEST_VENV)"
}

# Checks that Swift and every package are there. When something is missing: as root, installs it
# through scripts/install-deps; otherwise stops with the exact command to run. Adds no noticeable
# time when everything is present (one dpkg-query, no apt-get update).
jpki_need_deps() {
  if ! command -v swift >/dev/null 2>&1; then
    if [ -x /opt/swift/usr/bin/swift ]; then
      export PATH="$PATH:/opt/swift/usr/bin"
    else
      echo "$0: Swift 6 is not on PATH (install a Swift 6 toolchain and add its usr/bin to PATH)" >&2
      return 1
    fi
  fi
  local missing
  missing=$(jpki_missing_packages | tr '\n' ' ')
  [ -z "${missing// /}" ] && return 0
  if [ "$(id -u)" = 0 ]; then
    echo "$0: installing what is missing: $missing" >&2
    "$(dirname "${BASH_SOURCE[0]}")/install-deps" >&2
  else
    echo "$0: missing: $missing" >&2
    echo "install them (as root) with:" >&2
    echo "  $(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/install-deps" >&2
    local debs="${missing/selenium(venv $JPKI_TEST_VENV)/}"
    [ -n "${debs// /}" ] && echo "  (or: apt-get update && apt-get install -y --no-install-recommends $debs)" >&2
    echo "(the bench also needs root: pcscd creates /run/pcscd)" >&2
    return 1
  fi
}
