#!/usr/bin/env bash
# SPP set-up on Debian/Ubuntu: installs what is missing, then runs `spp setup` or the tests.
#   spp/bootstrap.sh up   [spp setup options]   install, start PostGIS, load the sample city, serve
#   spp/bootstrap.sh test [pytest options]      install, then run the whole test suite
# Idempotent: a second run installs nothing and reuses the cluster and the loaded layers.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mode="${1:-up}"; shift || true

say() { printf '\033[1m[spp]\033[0m %s\n' "$*" >&2; }

# 1. System packages (apt). PostGIS only when SPP runs its own cluster.
pkgs=(gdal-bin)
if [ "$mode" = test ]; then pkgs+=(chromium chromium-driver fonts-dejavu-core python3-qgis qgis-providers); fi  # headless browser tests of /map (labels use local fonts), QGIS client test
if [ -z "${SPP_DATABASE_URL:-}" ]; then pkgs+=(postgresql-15-postgis-3); fi
python_bin="${SPP_PYTHON:-}"
if [ -z "$python_bin" ]; then
  for cand in python3.11 python3; do
    if command -v "$cand" >/dev/null && "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      python_bin="$(command -v "$cand")"; break
    fi
  done
fi
if [ -z "$python_bin" ]; then pkgs+=(python3.11 python3.11-venv); python_bin=python3.11;
elif ! "$python_bin" -c 'import ensurepip, venv' 2>/dev/null; then pkgs+=(python3-venv); fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then sudo=(); elif sudo -n true 2>/dev/null; then sudo=(sudo); else
    say "missing system packages: ${missing[*]} — install them as root (apt-get install ${missing[*]}) and rerun"; exit 1
  fi
  say "installing ${missing[*]} (apt)"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. Virtual environment with SPP and its dependencies (reinstalled when pyproject.toml changes).
stamp_want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $python_bin"
  "$python_bin" -m venv .venv
fi
if [ "$(cat .venv/.spp-installed 2>/dev/null)" != "$stamp_want" ]; then
  say "installing SPP and its Python dependencies into .venv (pip)"
  .venv/bin/python -m pip install -q --disable-pip-version-check -U pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
  echo "$stamp_want" > .venv/.spp-installed
fi

# 3. Hand over to SPP.
case "$mode" in
  up)   exec .venv/bin/spp setup "$@" ;;
  test) exec .venv/bin/python -m pytest "$@" ;;
  *)    say "usage: spp/bootstrap.sh up|test [options]"; exit 2 ;;
esac
