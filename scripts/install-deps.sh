#!/usr/bin/env bash
# Installs the programs the tests start for real: redis-server, nginx, curl,
# logrotate, HAProxy, Chromium and systemd-analyze. As root it uses apt-get;
# otherwise it names what is missing and how to install it.
set -euo pipefail

# command -> Debian package
declare -A needed=(
  [redis-server]=redis-server
  [nginx]=nginx-light
  [curl]=curl
  [logrotate]=logrotate
  [haproxy]=haproxy
  [chromium]=chromium
  [systemd-analyze]=systemd
)

missing=()
for command in "${!needed[@]}"; do
  if ! command -v "$command" >/dev/null 2>&1 && [[ ! -x /usr/sbin/$command ]]; then
    missing+=("${needed[$command]}")
  fi
done
if (( ${#missing[@]} == 0 )); then
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "missing test dependencies: ${missing[*]}" >&2
  echo "install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing test dependencies: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
