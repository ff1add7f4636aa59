-- A WHERE before the window and several FILTER clauses with different predicates on
-- different aggregates.
CREATE TABLE clicks (
  ts      BIGINT,
  `user`  STRING,
  page    STRING,
  latency DOUBLE,
  bytes_out   BIGINT,
  status  INT,
  region  STRING,
  event_time AS TO_TIMESTAMP_LTZ(ts, 3),
  WATERMARK FOR event_time AS event_time - INTERVAL '2' SECOND
) WITH (
  'connector' = 'filesystem',
  'path' = '${INPUT_DIR}',
  'format' = 'json'
);
CREATE TABLE sink (
  window_start TIMESTAMP(3),
  window_end   TIMESTAMP(3),
  `user`       STRING,
  clicks       BIGINT,
  ok           BIGINT,
  client_err   BIGINT,
  server_err   BIGINT,
  slow_bytes   BIGINT,
  max_ok_lat   DOUBLE,
  search_min   DOUBLE
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}',
  'format' = 'csv'
);
INSERT INTO sink
SELECT window_start, window_end, `user`,
       COUNT(*),
       COUNT(*) FILTER (WHERE status < 300),
       COUNT(*) FILTER (WHERE status >= 400 AND status < 500),
       COUNT(*) FILTER (WHERE status >= 500),
       SUM(bytes_out) FILTER (WHERE latency > 1500),
       MAX(latency) FILTER (WHERE status < 400),
       MIN(latency) FILTER (WHERE page = '/search')
FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(event_time), INTERVAL '10' SECOND))
WHERE page IS NOT NULL AND status <> 201
GROUP BY window_start, window_end, `user`;
