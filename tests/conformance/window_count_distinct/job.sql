-- COUNT(DISTINCT …) in a window (NULLs are not counted), next to COUNT(*).
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
  clicks       BIGINT,
  users        BIGINT,
  pages        BIGINT,
  statuses     BIGINT
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}',
  'format' = 'csv'
);
INSERT INTO sink
SELECT window_start, window_end, region,
       COUNT(*), COUNT(DISTINCT `user`), COUNT(DISTINCT page), COUNT(DISTINCT status)
FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(event_time), INTERVAL '15' SECOND))
GROUP BY window_start, window_end, region;
