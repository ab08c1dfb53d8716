# Sourced by the scripts: makes .venv with the project and its test tools, once per change of
# pyproject.toml, so every command works on a fresh clone with nothing but python3 and git.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
STAMP="$VENV/.installed"
if [ ! -f "$STAMP" ] || [ "$ROOT/pyproject.toml" -nt "$STAMP" ]; then
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    # Made before the distribution was renamed opsbot-matrix: the old name would linger beside it.
    "$VENV/bin/python" -m pip uninstall --quiet --yes opsbot 2>/dev/null || true
    "$VENV/bin/python" -m pip install --quiet -e "$ROOT[test]"
    touch "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
