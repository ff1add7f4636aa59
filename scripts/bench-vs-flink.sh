#!/usr/bin/env bash
# Spate against Flink 2.3 on the reference job of ../shared/bench/flink, in one session:
# 3 rounds of Flink (blackhole), Spate (blackhole) and Spate (CSV, checked by check_results.py).
# Before each run the page cache is dropped (needs root), the input read back in, and 4 GB of
# memory touched and freed. Prints /usr/bin/time figures per run.
#   BENCH_DIR=/work/bench SPATE=target/release/spate scripts/bench-vs-flink.sh
# BENCH_DIR must hold the venv and events.jsonl that ../shared/bench/flink/setup.sh makes.
set -u
here=$(cd "$(dirname "$0")" && pwd)
FLINK=${FLINK_BENCH:-$here/../../shared/bench/flink}
B=${BENCH_DIR:?set BENCH_DIR}; SP=${SPATE:?set SPATE to a release spate binary}
IN=$B/events.jsonl; OUT=$B/runs-$(date +%Y%m%d-%H%M%S); mkdir -p "$OUT"
prep() { sync; echo 3 > /proc/sys/vm/drop_caches; cat "$IN" > /dev/null; python3 -c "b=bytearray(4<<30); del b"; sleep 2; }
for r in 1 2 3; do
  prep
  /usr/bin/time -v -o "$OUT/flink-$r.time" "$B/venv/bin/python" "$FLINK/flink_job.py" --job window \
    --parallelism 1 --input "$IN" > "$OUT/flink-$r.out" 2> "$OUT/flink-$r.err"
  echo "flink $r: $(tail -1 "$OUT/flink-$r.out")"
  prep
  /usr/bin/time -v -o "$OUT/spate-bh-$r.time" "$SP" bench window --input "$IN" > "$OUT/spate-bh-$r.out" 2>&1
  echo "spate-bh $r: $(tail -1 "$OUT/spate-bh-$r.out")"
  prep
  /usr/bin/time -v -o "$OUT/spate-csv-$r.time" "$SP" bench window --input "$IN" --output "$OUT/csv-$r" \
    > "$OUT/spate-csv-$r.out" 2>&1
  echo "spate-csv $r: $(tail -1 "$OUT/spate-csv-$r.out")"
done
for f in "$OUT"/*.time; do
  printf '%s wall=%s user=%s sys=%s rss_kb=%s\n' "$(basename "$f" .time)" \
    "$(awk '/Elapsed \(wall/ {print $NF}' "$f")" "$(awk '/User time/ {print $NF}' "$f")" \
    "$(awk '/System time/ {print $NF}' "$f")" "$(awk '/Maximum resident/ {print $NF}' "$f")"
done
for r in 1 2 3; do python3 "$FLINK/check_results.py" "$IN" "$OUT/csv-$r"; done
