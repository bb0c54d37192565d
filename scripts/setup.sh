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
