-- The analytics tables in Spate's embedded serving store, the default on one machine: upsert
-- tables on their primary keys (exactly once: the store takes each checkpoint's writes once,
-- however often a recovery replays them), old rows dropped after their retention. Query them
-- with `spate query "SELECT …"`, over HTTP or with psql while the job runs
-- (`spate sql run … --listen … --pg-listen …`).
--   spate sql run --init jobs/api/source.sql --init jobs/api/sinks-store.sql jobs/api/analytics.sql

CREATE TABLE api_metrics_10s (
  window_start TIMESTAMP(3), window_end TIMESTAMP(3), endpoint STRING,
  requests BIGINT, qps DOUBLE, latency_p50_ms DOUBLE, latency_p95_ms DOUBLE,
  latency_p99_ms DOUBLE, client_error_rate DOUBLE, server_error_rate DOUBLE,
  bytes_in BIGINT, bytes_out BIGINT,
  PRIMARY KEY (window_start, endpoint) NOT ENFORCED
) WITH ('connector' = 'spate-store', 'retention' = '7 d',
        'retention.time-column' = 'window_end');

CREATE TABLE geo_metrics_1m (
  window_start TIMESTAMP(3), window_end TIMESTAMP(3), country STRING, city STRING,
  lat DOUBLE, lon DOUBLE, requests BIGINT, clients BIGINT, avg_latency_ms DOUBLE,
  error_rate DOUBLE,
  PRIMARY KEY (window_start, country, city) NOT ENFORCED
) WITH ('connector' = 'spate-store', 'retention' = '7 d',
        'retention.time-column' = 'window_end');

CREATE TABLE key_usage_1m (
  window_start TIMESTAMP(3), window_end TIMESTAMP(3), api_key STRING, customer STRING,
  plan STRING, requests BIGINT, throttled BIGINT, clients BIGINT, avg_latency_ms DOUBLE,
  PRIMARY KEY (window_end, api_key) NOT ENFORCED
) WITH ('connector' = 'spate-store', 'retention' = '7 d',
        'retention.time-column' = 'window_end');

CREATE TABLE client_scores (
  client_ip STRING, window_start TIMESTAMP(3), window_end TIMESTAMP(3), api_key STRING,
  customer STRING, plan STRING, country STRING, ua_class STRING, requests BIGINT,
  unauthorized BIGINT, not_found BIGINT, throttled BIGINT, keyed BIGINT, distinct_404_paths BIGINT,
  distinct_paths BIGINT, attack_score DOUBLE, reason STRING, attacking BOOLEAN,
  PRIMARY KEY (client_ip) NOT ENFORCED
) WITH ('connector' = 'spate-store', 'retention' = '1 d',
        'retention.time-column' = 'window_end');

CREATE TABLE attack_alerts (
  client_ip STRING, reason STRING, started TIMESTAMP_LTZ(3), last_seen TIMESTAMP_LTZ(3),
  peak_score DOUBLE, peak_requests BIGINT, api_key STRING,
  customer STRING, country STRING,
  PRIMARY KEY (client_ip, reason) NOT ENFORCED
) WITH ('connector' = 'spate-store', 'retention' = '30 d',
        'retention.time-column' = 'last_seen');
