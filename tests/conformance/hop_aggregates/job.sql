-- HOP (slide 5 s, size 15 s) per key at parallelism 2: each event is in three windows.
SET 'parallelism.default' = '2';
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
  total_bytes  BIGINT,
  max_latency  DOUBLE,
  avg_latency  DOUBLE,
  errors       BIGINT
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}',
  'format' = 'csv'
);
INSERT INTO sink
SELECT window_start, window_end, `user`,
       COUNT(*), SUM(bytes_out), MAX(latency), AVG(latency),
       COUNT(*) FILTER (WHERE status >= 500)
FROM TABLE(HOP(TABLE clicks, DESCRIPTOR(event_time), INTERVAL '5' SECOND, INTERVAL '15' SECOND))
GROUP BY window_start, window_end, `user`;
