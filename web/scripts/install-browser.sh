#!/usr/bin/env bash
# Installs Debian's Chromium (driven by playwright-core in the console's browser tests; no
# browser is ever downloaded) and a CJK font (so the Chinese console renders in screenshots),
# when they are missing and apt-get can run as root. Never fails `make install`: where it
# cannot install, it says so and tests/integration/test_console_browser.py skips with that reason.
set -u

have_cjk_font() {
    command -v fc-list >/dev/null 2>&1 && fc-list :lang=zh 2>/dev/null | grep -q .
}
if command -v chromium >/dev/null 2>&1 && have_cjk_font; then
    exit 0
fi
note() {
    echo "note: Chromium or a CJK font not installed: $*." >&2
    echo "      tests/integration/test_console_browser.py will skip without Chromium." >&2
}
if ! command -v apt-get >/dev/null 2>&1; then
    note "no apt-get here; install Chromium and a CJK font yourself"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    note "not root; run 'sudo apt-get install --no-install-recommends chromium fonts-wqy-microhei'"
    exit 0
fi

apt_install() {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        chromium fonts-wqy-microhei
}
echo "installing Debian's chromium and fonts-wqy-microhei for the console's browser tests"
if ! apt_install >/dev/null 2>&1; then
    apt-get update -q >/dev/null 2>&1
    if ! apt_install >/dev/null; then
        note "apt-get install chromium fonts-wqy-microhei failed"
    fi
fi
exit 0
