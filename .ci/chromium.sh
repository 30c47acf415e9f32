#!/usr/bin/env bash
# Debian's chromium for the sign-in page's browser test (test/browser/, driven by playwright-core):
# installed with apt-get when /usr/bin/chromium is missing. Under CI=true that test fails without it.
set -euo pipefail

chromium=/usr/bin/chromium

if [ ! -x "$chromium" ]; then
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null; then
      echo "ci: $chromium is missing and installing it needs root (no sudo here)" >&2
      exit 1
    fi
    sudo=(sudo)
  fi
  # env, not export: sudo would drop it.
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
fi
"$chromium" --version
