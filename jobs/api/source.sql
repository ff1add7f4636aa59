-- The privacy API's access log as the collector ships it (`spate collect`, log topic
-- `api-access`: one JSON event per request, GeoIP and user agent added, `event_id` the
-- line's idempotency key), and the API keys dimension: the API's own keys file
-- (`key,customer,plan`; its header line reads as one more key that no request can carry).
-- Every api/*.sql job runs with this file first, then the sink tables:
--   spate sql run --init jobs/api/source.sql --init jobs/api/sinks-postgres.sql jobs/api/analytics.sql
-- (run from the directory holding spate-data/, or change the keys file's 'path').

CREATE TABLE access_log (
  ts          TIMESTAMP_LTZ(3),
  request_id  STRING,
  client_ip   STRING,
  api_key     STRING,
  `method`    STRING,
  `path`      STRING,
  status      INT,
  latency_ms  DOUBLE,
  bytes_in    BIGINT,
  bytes_out   BIGINT,
  user_agent  STRING,
  detections  INT,
  geo_country STRING,
  geo_region  STRING,
  geo_city    STRING,
  geo_lat     DOUBLE,
  geo_lon     DOUBLE,
  ua_class    STRING,
  ua_name     STRING,
  event_id    STRING,
  proc_time AS PROCTIME(),
  WATERMARK FOR ts AS ts - INTERVAL '2' SECOND
) WITH (
  'connector' = 'spate-log',
  'topic' = 'api-access',
  'format' = 'json',
  'json.timestamp-format.standard' = 'ISO-8601',
  'scan.startup.mode' = 'earliest-offset'
);

-- The API logs a key's id, `k_` and the first 12 hex digits of the key's SHA-256 (never the
-- secret); the dimension computes the same id from the key.
CREATE TABLE api_keys (
  `key`    STRING,
  customer STRING,
  plan     STRING,
  id AS CONCAT('k_', SUBSTR(SHA256(`key`), 1, 12))
) WITH (
  'connector' = 'filesystem',
  'path' = 'spate-data/api/keys.csv',
  'format' = 'csv',
  'lookup.full-cache.periodic-reload.interval' = '1 min'
);
