#!/usr/bin/env bash
# Set up a fresh machine: system packages, uv, and the workspace's virtual environment.
# Idempotent: a second run only checks. Used by `make bench` and `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
while read -r pkg; do
  [[ -z "$pkg" || "$pkg" == \#* ]] && continue
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done < scripts/apt-packages.txt
# The studio's page (plugins/studio) is built with npm: Debian's nodejs and npm when there is no
# npm (not listed above: a NodeSource nodejs brings its own npm and conflicts with Debian's).
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if ((${#missing[@]})); then
  echo "setup: installing system packages: ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python=python3
"$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null || {
  echo "setup: python3 is $("$python" --version 2>&1); vla-bench needs Python 3.12 (pyenv install 3.12)" >&2
  exit 1
}
"$python" -m uv --version >/dev/null 2>&1 || "$python" -m pip install --quiet --disable-pip-version-check uv
# --inexact keeps what a user installed beside the workspace (third-party plugins);
# --compile-bytecode: Python here may not write .pyc files, and compiling on every start
# costs seconds per command.
"$python" -m uv sync --all-packages --frozen --inexact --compile-bytecode --quiet

# The studio's browser packages (mujoco-js, three, esbuild), pinned by its package-lock.json,
# and the bundles esbuild makes from its sources.
studio=plugins/studio
if [[ ! -f $studio/node_modules/.package-lock.json || $studio/package-lock.json -nt $studio/node_modules/.package-lock.json ]]; then
  (cd "$studio" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
bundle=$studio/vla_bench_studio/web/dist/replay_viewer.js
if [[ ! -f $bundle || -n $(find "$studio/vla_bench_studio/web/js" -newer "$bundle") ]]; then
  (cd "$studio" && npm run --silent build)
fi
