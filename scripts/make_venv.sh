#!/usr/bin/env bash
# Create a virtual environment with a Python >= 3.12 (Mesa 3.5 needs it).
# Looks for python3.13 / python3.12 on PATH, then pyenv's versions, then python3 itself.
set -euo pipefail
venv="${1:-.venv}"
ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; }
candidates=()
for name in python3.13 python3.12; do
  command -v "$name" >/dev/null 2>&1 && candidates+=("$(command -v "$name")")
done
if command -v pyenv >/dev/null 2>&1 || [ -d "${PYENV_ROOT:-$HOME/.pyenv}/versions" ]; then
  root="${PYENV_ROOT:-$HOME/.pyenv}"
  for v in $(ls -1 "$root/versions" 2>/dev/null | grep -E '^3\.(1[2-9])(\.|$)' | sort -rV); do
    [ -x "$root/versions/$v/bin/python3" ] && candidates+=("$root/versions/$v/bin/python3")
  done
fi
command -v python3 >/dev/null 2>&1 && candidates+=("$(command -v python3)")
for py in "${candidates[@]}"; do
  if ok "$py"; then
    echo "using $py ($("$py" --version))"
    "$py" -m venv "$venv"
    exit 0
  fi
done
echo "error: no Python >= 3.12 found (tried: ${candidates[*]:-none}). Install Python 3.12 or 3.13." >&2
exit 1
