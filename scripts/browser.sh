# Sourced by run_tests.sh: tests/test_browser.py drives the system's Chromium (Playwright's own
# browser download needs the internet). Installs Debian's `chromium` package when it is missing
# and this is root on a machine with apt; elsewhere the test skips and says what to install.
ensure_chromium() {
  command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Chromium for the browser test (apt-get install chromium, about half a minute) ..."
    { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1; }; } ||
      echo "Could not install Chromium; tests/test_browser.py will skip." >&2
  fi
  return 0
}
