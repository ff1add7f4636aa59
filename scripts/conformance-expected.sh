#!/usr/bin/env sh
# Regenerates the expected outputs of the SQL conformance suite (tests/conformance) with
# Apache Flink; arguments go to conformance-expected.py (case names, --check, --keep DIR).
#
# FLINK_VENV is a Python virtualenv with apache-flink==2.3.0 installed; it defaults to
# /work/bench/venv, which is on the benchmark machine and not part of this repository.
# Java 17 must be on the PATH.
set -eu
venv="${FLINK_VENV:-/work/bench/venv}"
if [ ! -x "$venv/bin/python" ]; then
  echo "no virtualenv at $venv: make one with" >&2
  echo "  python3 -m venv DIR && DIR/bin/pip install apache-flink==2.3.0" >&2
  echo "and run FLINK_VENV=DIR $0 $*" >&2
  exit 2
fi
exec "$venv/bin/python" "$(dirname "$0")/conformance-expected.py" "$@"
