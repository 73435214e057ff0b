#!/usr/bin/env bash
# Draws benches/results/performance.png (committed; the README shows it beside the performance
# table) from benches/results/*.json with benches/chart.py. matplotlib comes from PyPI into a
# project-local virtual environment (build/venvs/matplotlib, as tests/spark/setup.sh does for
# pyspark), installed on the first run.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

version=3.11.2
venv=build/venvs/matplotlib
python=$venv/bin/python
installed="$("$python" -c 'import matplotlib; print(matplotlib.__version__)' 2>/dev/null || true)"
if [[ "$installed" != "$version" ]]; then
  echo "chart: installing matplotlib==$version from PyPI into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  PIP_DISABLE_PIP_VERSION_CHECK=1 "$python" -m pip install -q "matplotlib==$version"
fi
"$python" benches/chart.py benches/results benches/results/performance.png
