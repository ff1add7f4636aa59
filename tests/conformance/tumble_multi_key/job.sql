-- TUMBLE grouped by three keys, one of them nullable (rows with a NULL page form their own
-- group), at parallelism 2 (hash partitioning by the keys).
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
  region       STRING,
  `user`       STRING,
  page         STRING,
  clicks       BIGINT,
  total_bytes  BIGINT
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}',
  'format' = 'csv'
);
INSERT INTO sink
SELECT window_start, window_end, region, `user`, page, COUNT(*), SUM(bytes_out)
FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(event_time), INTERVAL '20' SECOND))
GROUP BY window_start, window_end, region, `user`, page;
