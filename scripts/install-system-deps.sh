#!/usr/bin/env bash
# Install the Debian packages the test tiers need, only those missing, so that `make test`
# passes on a brand-new machine: a Java runtime (local Spark), Chromium (browser tests),
# PostgreSQL (operational-store tests) and CJK fonts (legible screenshots).
set -euo pipefail

need=()
command -v java >/dev/null 2>&1 || need+=(openjdk-17-jre-headless)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then need+=(postgresql); fi
# CJK fonts so that browser screenshots of zh/ja/ko pages are legible, not boxes.
if [ ! -d /usr/share/fonts/opentype/noto ]; then need+=(fonts-noto-cjk); fi

if [ ${#need[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi
echo "system packages: installing ${need[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
