-- Aggregates over NULLs and over empty FILTER sets: COUNT gives 0, SUM/MIN/MAX/AVG give
-- NULL; MIN and MAX of a nullable STRING column.
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
  latencies    BIGINT,
  none_count   BIGINT,
  none_sum     BIGINT,
  none_max     DOUBLE,
  none_avg     DOUBLE,
  first_page   STRING,
  last_page    STRING
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}',
  'format' = 'csv'
);
INSERT INTO sink
SELECT window_start, window_end, `user`,
       COUNT(*),
       COUNT(latency),
       COUNT(*) FILTER (WHERE status = 999),
       SUM(bytes_out) FILTER (WHERE status = 999),
       MAX(latency) FILTER (WHERE page IS NULL AND status = 201),
       AVG(latency) FILTER (WHERE latency IS NULL),
       MIN(page),
       MAX(page)
FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(event_time), INTERVAL '10' SECOND))
GROUP BY window_start, window_end, `user`;
