#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs the Debian packages a make target needs, only those missing.
# usage: deploy/install-deps.sh build|test|dev
#   build: what `make run` needs to compile and run the agent (npm fetches the dashboard's
#          pinned front-end libraries at build time)
#   test:  build + what `make test` needs (Criterion, clang's sanitizer/fuzzer runtimes, curl,
#          Chromium for the dashboard's browser test)
#   dev:   test + the developer tools (clang-format, clang-tidy, cppcheck, gcovr, wrk)
set -euo pipefail

build_pkgs=(gcc make cmake pkg-config libuv1-dev libyajl-dev libhttp-parser-dev libsqlite3-dev
            libyaml-dev libcurl4-openssl-dev liblapacke-dev librdkafka-dev libmosquitto-dev
            libmsgpack-dev libpq-dev uthash-dev nodejs)
# Debian's npm package only where no npm is on the PATH (NodeSource's nodejs bundles its own).
command -v npm >/dev/null 2>&1 || build_pkgs+=(npm)
# The streaming tests start real brokers and a throw-away PostgreSQL server.
test_pkgs=(libcriterion-dev clang libclang-rt-14-dev curl python3 kcat mosquitto
           mosquitto-clients postgresql postgresql-client chromium)
dev_pkgs=(clang-format clang-tidy cppcheck gcovr wrk)

case "${1:-build}" in
  build) wanted=("${build_pkgs[@]}") ;;
  test) wanted=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
  dev) wanted=("${build_pkgs[@]}" "${test_pkgs[@]}" "${dev_pkgs[@]}") ;;
  *) echo "usage: $0 build|test|dev" >&2; exit 2 ;;
esac

missing=()
for p in "${wanted[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
  [[ "$status" == ii* ]] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "aiops-agent: these Debian packages are missing: ${missing[*]}" >&2
  echo "Install them as root, then run make again:" >&2
  echo "  sudo sh -c '$cmd'" >&2
  exit 1
fi
echo "installing: ${missing[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
