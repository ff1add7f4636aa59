-- PostgreSQL/Hologres tables for jobs/api/sinks-postgres.sql: psql -f jobs/api/postgres-schema.sql
CREATE TABLE IF NOT EXISTS api_metrics_10s (
  window_start TIMESTAMP, window_end TIMESTAMP, endpoint TEXT, requests BIGINT, qps DOUBLE PRECISION,
  latency_p50_ms DOUBLE PRECISION, latency_p95_ms DOUBLE PRECISION, latency_p99_ms DOUBLE PRECISION,
  client_error_rate DOUBLE PRECISION, server_error_rate DOUBLE PRECISION, bytes_in BIGINT, bytes_out BIGINT,
  PRIMARY KEY (window_start, endpoint));
CREATE TABLE IF NOT EXISTS geo_metrics_1m (
  window_start TIMESTAMP, window_end TIMESTAMP, country TEXT, city TEXT, lat DOUBLE PRECISION,
  lon DOUBLE PRECISION, requests BIGINT, clients BIGINT, avg_latency_ms DOUBLE PRECISION,
  error_rate DOUBLE PRECISION, PRIMARY KEY (window_start, country, city));
CREATE TABLE IF NOT EXISTS key_usage_1m (
  window_start TIMESTAMP, window_end TIMESTAMP, api_key TEXT, customer TEXT, plan TEXT,
  requests BIGINT, throttled BIGINT, clients BIGINT, avg_latency_ms DOUBLE PRECISION,
  PRIMARY KEY (window_end, api_key));
CREATE TABLE IF NOT EXISTS client_scores (
  client_ip TEXT PRIMARY KEY, window_start TIMESTAMP, window_end TIMESTAMP, api_key TEXT,
  customer TEXT, plan TEXT, country TEXT, ua_class TEXT, requests BIGINT, unauthorized BIGINT,
  not_found BIGINT, throttled BIGINT, keyed BIGINT, distinct_404_paths BIGINT, distinct_paths BIGINT,
  attack_score DOUBLE PRECISION, reason TEXT, attacking BOOLEAN);
CREATE TABLE IF NOT EXISTS attack_alerts (
  client_ip TEXT, reason TEXT, started TIMESTAMPTZ, last_seen TIMESTAMPTZ, peak_score DOUBLE PRECISION, peak_requests BIGINT, api_key TEXT, customer TEXT, country TEXT,
  PRIMARY KEY (client_ip, reason));
