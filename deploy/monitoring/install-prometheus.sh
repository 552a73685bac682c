#!/usr/bin/env bash
# Installs Debian's `prometheus` package (it brings `promtool` and `prometheus`) for the
# monitoring tests, when promtool is missing and apt-get can run as root. Never fails `make
# install`: where it cannot install, it says so and the monitoring tests skip with that reason.
# The package enables a system Prometheus on :9090; it is stopped and disabled again, since the
# tests start their own on a free port.
set -u

if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
    exit 0
fi
note() {
    echo "note: promtool/prometheus not installed: $*." >&2
    echo "      tests/unit/monitoring and tests/integration/test_prometheus_scrape.py will skip." >&2
}
if ! command -v apt-get >/dev/null 2>&1; then
    note "no apt-get here; install Prometheus 2.x (promtool on PATH) yourself"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    note "not root; run 'sudo apt-get install --no-install-recommends prometheus'"
    exit 0
fi

apt_install() {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus
}
echo "installing Debian's prometheus package (promtool, prometheus) for the monitoring tests"
if ! apt_install >/dev/null 2>&1; then
    apt-get update -q >/dev/null 2>&1
    if ! apt_install >/dev/null; then
        note "apt-get install prometheus failed"
        exit 0
    fi
fi

# Leave no system Prometheus running or starting at boot.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now prometheus >/dev/null 2>&1 || true
else
    if command -v invoke-rc.d >/dev/null 2>&1; then
        invoke-rc.d prometheus stop >/dev/null 2>&1 || true
    fi
    if command -v update-rc.d >/dev/null 2>&1; then
        update-rc.d prometheus disable >/dev/null 2>&1 || true
    fi
fi
exit 0
