#!/usr/bin/env bash
# Rows/s of each sink against its real server, N generated rows per run, and the same rows into
# a blackhole as the baseline of the same run. The servers are those .ci/run starts (PostgreSQL
# and MariaDB as root/postgres without password, Mosquitto, a Kafka broker at SPATE_TEST_KAFKA,
# confluent-kafka in SPATE_TEST_PYTHON). Usage: bench-sinks.sh SPATE N
set -uo pipefail
SPATE=$1; N=${2:-200000}
W=$(mktemp -d); TAG=$$
PG="psql -h 127.0.0.1 -U postgres -d test -Atq"; MY="mysql -h 127.0.0.1 -u root test -N -e"
B=${SPATE_TEST_KAFKA:-127.0.0.1:19092}; PY=${SPATE_TEST_PYTHON:-python3}; CL=$(cd "$(dirname "$0")/.." && pwd)/crates/cli/tests/kafka_client.py
SRC="CREATE TABLE gen (id BIGINT, name STRING, v DOUBLE) WITH ('connector' = 'datagen', 'number-of-rows' = '$N', 'rows-per-second' = '1000000000',
  'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '$N', 'fields.name.length' = '20');"
run() { # name sql-for-sink-table [insert]
  printf '%s\n%s\nINSERT INTO out_t %s;\n' "$SRC" "$2" "${3:-SELECT id, name, v FROM gen}" > $W/$1.sql
  local t0=$(date +%s.%N)
  "$SPATE" --data-dir $W/data-$1 sql run $W/$1.sql --checkpoint-dir $W/cp-$1 --checkpoint-interval-ms 1000 >/dev/null 2>$W/$1.err || { echo "$1 FAILED"; tail -5 $W/$1.err; return; }
  local t1=$(date +%s.%N)
  python3 -c "print(f'$1: {$N} rows in {$t1-$t0:.2f} s = {$N/($t1-$t0):,.0f} rows/s')"
}
run blackhole "CREATE TABLE out_t (id BIGINT, name STRING, v DOUBLE) WITH ('connector' = 'blackhole');"
for flush in 100 5000; do
  $PG -c "DROP TABLE IF EXISTS sb_pg; CREATE TABLE sb_pg (id BIGINT PRIMARY KEY, name TEXT, v DOUBLE PRECISION)"
  run pg-upsert-$flush "CREATE TABLE out_t (id BIGINT, name STRING, v DOUBLE, PRIMARY KEY (id) NOT ENFORCED) WITH ('connector' = 'jdbc',
    'url' = 'jdbc:postgresql://127.0.0.1:5432/test', 'username' = 'postgres', 'table-name' = 'sb_pg', 'sink.buffer-flush.max-rows' = '$flush');"
  echo "  rows in PostgreSQL: $($PG -c 'SELECT COUNT(*) FROM sb_pg')"
  $MY "DROP TABLE IF EXISTS sb_my; CREATE TABLE sb_my (id BIGINT PRIMARY KEY, name TEXT, v DOUBLE)"
  run mysql-upsert-$flush "CREATE TABLE out_t (id BIGINT, name STRING, v DOUBLE, PRIMARY KEY (id) NOT ENFORCED) WITH ('connector' = 'jdbc',
    'url' = 'jdbc:mysql://127.0.0.1:3306/test', 'username' = 'root', 'table-name' = 'sb_my', 'sink.buffer-flush.max-rows' = '$flush');"
  echo "  rows in MariaDB: $($MY 'SELECT COUNT(*) FROM sb_my')"
done
$PG -c "DROP TABLE IF EXISTS sb_pga; CREATE TABLE sb_pga (id BIGINT, name TEXT, v DOUBLE PRECISION)"
run pg-append "CREATE TABLE out_t (id BIGINT, name STRING, v DOUBLE) WITH ('connector' = 'jdbc',
  'url' = 'jdbc:postgresql://127.0.0.1:5432/test', 'username' = 'postgres', 'table-name' = 'sb_pga', 'sink.buffer-flush.max-rows' = '5000');"
$MY "DROP TABLE IF EXISTS sb_mya; CREATE TABLE sb_mya (id BIGINT, name TEXT, v DOUBLE)"
run mysql-append "CREATE TABLE out_t (id BIGINT, name STRING, v DOUBLE) WITH ('connector' = 'jdbc',
  'url' = 'jdbc:mysql://127.0.0.1:3306/test', 'username' = 'root', 'table-name' = 'sb_mya', 'sink.buffer-flush.max-rows' = '5000');"
T=sb-kafka-$TAG; $PY $CL create $B $T 4
run kafka-produce "CREATE TABLE out_t (id BIGINT, name STRING, v DOUBLE) WITH ('connector' = 'kafka', 'topic' = '$T',
  'properties.bootstrap.servers' = '$B', 'format' = 'json');"
cat > $W/kafka-consume.sql <<SQL
CREATE TABLE k (id BIGINT, name STRING, v DOUBLE) WITH ('connector' = 'kafka', 'topic' = '$T',
  'properties.bootstrap.servers' = '$B', 'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset', 'format' = 'json');
CREATE TABLE out_t (id BIGINT, name STRING, v DOUBLE) WITH ('connector' = 'blackhole');
INSERT INTO out_t SELECT * FROM k;
SQL
t0=$(date +%s.%N); "$SPATE" --data-dir $W/data-kc sql run $W/kafka-consume.sql >/dev/null 2>$W/kc.err || tail -5 $W/kc.err; t1=$(date +%s.%N)
python3 -c "print(f'kafka-consume: {$N} rows in {$t1-$t0:.2f} s = {$N/($t1-$t0):,.0f} rows/s')"
run mqtt-qos1 "CREATE TABLE out_t (id BIGINT, name STRING, v DOUBLE) WITH ('connector' = 'mqtt', 'hostname' = '127.0.0.1',
  'topic' = 'spate-bench/$TAG', 'qos' = '1', 'format' = 'json');"
$PG -c "DROP TABLE sb_pg; DROP TABLE sb_pga"; $MY "DROP TABLE sb_my; DROP TABLE sb_mya"
rm -rf $W
