#!/usr/bin/env bash
# Check for the Debian packages the tests need and install the missing ones (issue 16 item 1).
#
#   scripts/system-deps.sh            check; as root install what is missing, otherwise print the one command
#   scripts/system-deps.sh --dry-run  check; print the apt-get lines instead of running them
#
# The packages: chromium (the browser tests drive /usr/bin/chromium), a JRE (Spark parity tests), make, and
# the Noto CJK and colour emoji fonts (so CJK and emoji text renders in browser screenshots instead of boxes).
# With everything installed it is a quick no-op: one dpkg-query call, no network.
set -euo pipefail

PACKAGES=(chromium openjdk-17-jre-headless make fonts-noto-cjk fonts-noto-color-emoji)

dry_run=0
for arg in "$@"; do
  case "$arg" in
    --dry-run) dry_run=1 ;;
    -h|--help) sed -n '2,9s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "system-deps: unknown option $arg (use --dry-run or --help)" >&2; exit 2 ;;
  esac
done

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  # Not Debian/Ubuntu: we cannot install, only say what the tests need.
  missing_cmds=()
  for cmd in chromium java make; do
    command -v "$cmd" >/dev/null 2>&1 || missing_cmds+=("$cmd")
  done
  if [ ${#missing_cmds[@]} -gt 0 ]; then
    echo "system-deps: not a Debian system (no dpkg-query/apt-get) and ${missing_cmds[*]} not found." >&2
    echo "Install Chromium at /usr/bin/chromium, a Java 17 runtime and make, then run make test again." >&2
    exit 1
  fi
  echo "system-deps: not a Debian system; chromium, java and make found (CJK/emoji fonts not checked)" >&2
  exit 0
fi

# One query for all packages; unknown packages print to stderr and count as missing.
installed=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${PACKAGES[@]}" 2>/dev/null || true)
missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! grep -qx "$pkg installed" <<<"$installed"; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" != "0" ]; then
  echo "system-deps: the tests need these system packages, which are missing: ${missing[*]}" >&2
  echo "Run this once (as root), then run make test again:" >&2
  echo "  sudo sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q" \
    "--no-install-recommends ${missing[*]}'"
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
update=(apt-get update -q)
install=(apt-get install -y -q --no-install-recommends "${missing[@]}")
echo "system-deps: installing ${missing[*]}" >&2
if [ "$dry_run" = 1 ]; then
  echo "${update[*]}"
  echo "${install[*]}"
  exit 0
fi
"${update[@]}"
"${install[@]}"
