#!/usr/bin/env bash
# Throughput of the filesystem sink: the same generated rows to s3:// (s3s-fs on loopback)
# and to file:// (local disk), Parquet and NDJSON, in one run, against the S3 server .ci/run
# starts (SPATE_TEST_S3_* as it sets them). Usage: bench-s3.sh SPATE ROWS
set -euo pipefail
SPATE=$1; ROWS=${2:-1000000}
W=$(mktemp -d)
export AWS_ACCESS_KEY_ID=${SPATE_TEST_S3_ACCESS_KEY:-spate} AWS_SECRET_ACCESS_KEY=${SPATE_TEST_S3_SECRET_KEY:-spate-secret}
export AWS_ENDPOINT_URL=${SPATE_TEST_S3_ENDPOINT:-http://127.0.0.1:19900} AWS_ALLOW_HTTP=true AWS_REGION=us-east-1
BUCKET=${SPATE_TEST_S3_BUCKET:-spate-test}
run() { # name path format
  cat > "$W/$1.sql" <<SQL
CREATE TABLE gen (id BIGINT, pad STRING, v DOUBLE) WITH (
  'connector' = 'datagen', 'number-of-rows' = '$ROWS', 'rows-per-second' = '1000000000',
  'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '$ROWS',
  'fields.pad.length' = '60');
CREATE TABLE out_t (id BIGINT, pad STRING, v DOUBLE, dt STRING) PARTITIONED BY (dt) WITH (
  'connector' = 'filesystem', 'path' = '$2', 'format' = '$3', 'sink.rolling-policy.file-size' = '64mb');
INSERT INTO out_t SELECT id, pad, v, CASE WHEN id % 2 = 0 THEN '2026-11-24' ELSE '2026-11-25' END FROM gen;
SQL
  local t0=$(date +%s.%N)
  /usr/bin/time -f "%e s wall, %U+%S CPU-s, %M KB peak" "$SPATE" --data-dir "$W/data-$1" sql run "$W/$1.sql" --checkpoint-dir "$W/cp-$1" --checkpoint-interval-ms 1000 >/dev/null 2>"$W/$1.err" || { tail -20 "$W/$1.err"; exit 1; }
  local t1=$(date +%s.%N)
  python3 -c "import sys; r=$ROWS; t=$t1-$t0; print(f'$1: {r} rows in {t:.2f} s = {r/t:,.0f} rows/s')"
  tail -1 "$W/$1.err"
}
run local-parquet "file://$W/local/parquet" parquet
run s3-parquet "s3://$BUCKET/bench-$$/parquet" parquet
run local-json "file://$W/local/json" json
run s3-json "s3://$BUCKET/bench-$$/json" json
rm -rf "$W"
