-- The analytics tables in PostgreSQL or Hologres (JDBC upserts, exactly once in effect).
-- Create them first with jobs/api/postgres-schema.sql.
--   spate sql run --init jobs/api/source.sql --init jobs/api/sinks-postgres.sql jobs/api/analytics.sql

CREATE TABLE api_metrics_10s (
  window_start TIMESTAMP(3), window_end TIMESTAMP(3), endpoint STRING,
  requests BIGINT, qps DOUBLE, latency_p50_ms DOUBLE, latency_p95_ms DOUBLE,
  latency_p99_ms DOUBLE, client_error_rate DOUBLE, server_error_rate DOUBLE,
  bytes_in BIGINT, bytes_out BIGINT,
  PRIMARY KEY (window_start, endpoint) NOT ENFORCED
) WITH ('connector' = 'jdbc', 'url' = 'jdbc:postgresql://127.0.0.1:5432/test',
        'table-name' = 'api_metrics_10s', 'username' = 'postgres');

CREATE TABLE geo_metrics_1m (
  window_start TIMESTAMP(3), window_end TIMESTAMP(3), country STRING, city STRING,
  lat DOUBLE, lon DOUBLE, requests BIGINT, clients BIGINT, avg_latency_ms DOUBLE,
  error_rate DOUBLE,
  PRIMARY KEY (window_start, country, city) NOT ENFORCED
) WITH ('connector' = 'jdbc', 'url' = 'jdbc:postgresql://127.0.0.1:5432/test',
        'table-name' = 'geo_metrics_1m', 'username' = 'postgres');

CREATE TABLE key_usage_1m (
  window_start TIMESTAMP(3), window_end TIMESTAMP(3), api_key STRING, customer STRING,
  plan STRING, requests BIGINT, throttled BIGINT, clients BIGINT, avg_latency_ms DOUBLE,
  PRIMARY KEY (window_end, api_key) NOT ENFORCED
) WITH ('connector' = 'jdbc', 'url' = 'jdbc:postgresql://127.0.0.1:5432/test',
        'table-name' = 'key_usage_1m', 'username' = 'postgres');

CREATE TABLE client_scores (
  client_ip STRING, window_start TIMESTAMP(3), window_end TIMESTAMP(3), api_key STRING,
  customer STRING, plan STRING, country STRING, ua_class STRING, requests BIGINT,
  unauthorized BIGINT, not_found BIGINT, throttled BIGINT, keyed BIGINT, distinct_404_paths BIGINT,
  distinct_paths BIGINT, attack_score DOUBLE, reason STRING, attacking BOOLEAN,
  PRIMARY KEY (client_ip) NOT ENFORCED
) WITH ('connector' = 'jdbc', 'url' = 'jdbc:postgresql://127.0.0.1:5432/test',
        'table-name' = 'client_scores', 'username' = 'postgres');

CREATE TABLE attack_alerts (
  client_ip STRING, reason STRING, started TIMESTAMP_LTZ(3), last_seen TIMESTAMP_LTZ(3),
  peak_score DOUBLE, peak_requests BIGINT, api_key STRING,
  customer STRING, country STRING,
  PRIMARY KEY (client_ip, reason) NOT ENFORCED
) WITH ('connector' = 'jdbc', 'url' = 'jdbc:postgresql://127.0.0.1:5432/test',
        'table-name' = 'attack_alerts', 'username' = 'postgres');
