#!/usr/bin/env bash
# Nexmark through `spate bench nexmark`, two builds alternated query by query so both see the
# same machine: prints one JSON line per run, tagged with the build (its path) and the round.
#   scripts/bench-nexmark.sh BASE_SPATE NEW_SPATE [ROUNDS] [QUERIES...]
# Stateless queries (q0, q1, q2, q21, q22) run 4M events, the others 1M, as in the README.
set -euo pipefail
BASE=$1; NEW=$2; ROUNDS=${3:-1}; shift $(( $# < 3 ? $# : 3 ))
QUERIES=("$@")
[ ${#QUERIES[@]} -gt 0 ] || QUERIES=(q0 q1 q2 q3 q4 q5 q7 q8 q9 q10 q11 q12 q13 q14 q15 q16 q17 q18 q19 q20 q21 q22)
for round in $(seq 1 "$ROUNDS"); do
  for q in "${QUERIES[@]}"; do
    case $q in q0|q1|q2|q21|q22) events=4000000 ;; *) events=1000000 ;; esac
    for build in "$BASE" "$NEW"; do
      line=$("$build" bench nexmark --query "$q" --events "$events" 2>/dev/null | tail -1)
      printf '{"build":"%s","round":%s,"figures":%s}\n' "$build" "$round" "$line"
    done
  done
done
