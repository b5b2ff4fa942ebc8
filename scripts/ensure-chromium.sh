#!/usr/bin/env bash
# The browser tests drive Debian's Chromium (Playwright's own browser download is not used).
# Install it when it is missing and we may: as root with apt-get. Otherwise the browser tests
# fail and say why (`pytest -m "not browser"` leaves them out).
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Installing Debian's chromium for the browser tests..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-dejavu-core >/dev/null
else
  echo "note: /usr/bin/chromium is missing and cannot be installed here; the browser tests will fail (pytest -m \"not browser\" leaves them out)"
fi
