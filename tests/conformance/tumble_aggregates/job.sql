-- TUMBLE per key with every supported aggregate: COUNT(*), COUNT(col) (skips NULLs), SUM,
-- MIN, MAX, AVG and FILTER clauses. Events are up to 1.5 s out of order (none late), and the
-- input has a 17 s gap, so some windows are empty and give no row.
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
  with_page    BIGINT,
  total_bytes  BIGINT,
  min_latency  DOUBLE,
  max_latency  DOUBLE,
  avg_latency  DOUBLE,
  errors       BIGINT,
  cart_bytes   BIGINT,
  max_status   INT
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}',
  'format' = 'csv'
);
INSERT INTO sink
SELECT window_start, window_end, `user`,
       COUNT(*),
       COUNT(page),
       SUM(bytes_out),
       MIN(latency),
       MAX(latency),
       AVG(latency),
       COUNT(*) FILTER (WHERE status >= 400),
       SUM(bytes_out) FILTER (WHERE page = '/cart'),
       MAX(status)
FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(event_time), INTERVAL '10' SECOND))
GROUP BY window_start, window_end, `user`;
