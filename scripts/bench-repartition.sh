#!/usr/bin/env bash
# Throughput of a job that repartitions by key: in one process (in-process exchange, bounded)
# against --scale-out (through the repartition topic), 1 and 2 processes, same input, one run.
# Needs the Kafka broker and PostgreSQL .ci/run starts. Usage: bench-repartition.sh SPATE N
set -euo pipefail
SPATE=$1; N=${2:-200000}
B=${SPATE_TEST_KAFKA:-127.0.0.1:19092}; PY=${SPATE_TEST_PYTHON:-python3}; CL=$(cd "$(dirname "$0")/.." && pwd)/crates/cli/tests/kafka_client.py
PG="psql -h 127.0.0.1 -U postgres -d test -Atq"
W=$(mktemp -d); TAG=$$
IN=rp-in-$TAG
$PY $CL create $B $IN 4
python3 -c "
import json
for i in range($N): print(json.dumps({'user': f'u{i%997}', 'page': f'p{i%13}', 'n': i}))" > $W/in.ndjson
t0=$(date +%s.%N); $PY $CL produce $B $IN --key-field user < $W/in.ndjson; t1=$(date +%s.%N)
python3 -c "print(f'produce (confluent-kafka): {$N/($t1-$t0):,.0f} rows/s')"
job() { # name group bounded
  $PG -c "DROP TABLE IF EXISTS $1; CREATE TABLE $1 (page TEXT PRIMARY KEY, views BIGINT)"
  local bound=""; [ "$3" = 1 ] && bound="'scan.bounded.mode' = 'latest-offset',"
  cat > $W/$1.sql <<SQL
CREATE TABLE clicks (\`user\` STRING, page STRING, n BIGINT) WITH ('connector' = 'kafka', 'topic' = '$IN',
  'properties.bootstrap.servers' = '$B', 'properties.group.id' = '$2', $bound
  'scan.startup.mode' = 'earliest-offset', 'format' = 'json');
CREATE TABLE pages (page STRING, views BIGINT, PRIMARY KEY (page) NOT ENFORCED) WITH ('connector' = 'jdbc',
  'url' = 'jdbc:postgresql://127.0.0.1:5432/test', 'username' = 'postgres', 'table-name' = '$1',
  'sink.buffer-flush.interval' = '100ms');
INSERT INTO pages SELECT page, COUNT(*) FROM clicks GROUP BY page;
SQL
}
wait_sum() { # table start
  while [ "$($PG -c "SELECT COALESCE(SUM(views),0) FROM $1")" != "$N" ]; do sleep 0.1; done
  local t=$(date +%s.%N); python3 -c "print(f'$1: {$N/($t-$2):,.0f} rows/s ({$t-$2:.1f} s)')"
}
job rp_single g-single-$TAG 1
t0=$(date +%s.%N); "$SPATE" --data-dir $W/d1 sql run $W/rp_single.sql --checkpoint-dir $W/cp1 --checkpoint-interval-ms 1000 >/dev/null 2>$W/single.err
wait_sum rp_single $t0
for procs in 1 2; do
  job rp_scaled$procs g-scaled$procs-$TAG 0
  t0=$(date +%s.%N); pids=()
  for p in $(seq 1 $procs); do
    SPATE_LOG=warn "$SPATE" --data-dir $W/s$procs-$p sql run $W/rp_scaled$procs.sql --scale-out --checkpoint-dir $W/cps$procs --checkpoint-interval-ms 1000 >/dev/null 2>$W/s$procs-$p.err & pids+=($!)
  done
  wait_sum rp_scaled$procs $t0
  kill -TERM "${pids[@]}"; wait "${pids[@]}" || true
done
$PG -c "DROP TABLE rp_single; DROP TABLE rp_scaled1; DROP TABLE rp_scaled2"
rm -rf $W
