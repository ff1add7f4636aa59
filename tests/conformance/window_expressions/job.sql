-- Expressions inside aggregates, over aggregates and as grouping keys; keys and window
-- bounds selected in another order than grouped.
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
  region_code  STRING,
  clicks       BIGINT,
  window_end   TIMESTAMP(3),
  kilobytes    BIGINT,
  bytes_per_click BIGINT,
  busy         STRING,
  max_lat_int  BIGINT,
  window_start TIMESTAMP(3),
  weighted     DOUBLE
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}',
  'format' = 'csv'
);
INSERT INTO sink
SELECT UPPER(region),
       COUNT(*),
       window_end,
       SUM(bytes_out / 1000),
       SUM(bytes_out) / COUNT(*),
       CASE WHEN COUNT(*) > 60 THEN 'busy' ELSE 'quiet' END,
       CAST(MAX(latency) AS BIGINT),
       window_start,
       SUM(CASE WHEN status >= 400 THEN 2.0 ELSE 1.0 END * bytes_out)
FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(event_time), INTERVAL '10' SECOND))
GROUP BY window_start, window_end, UPPER(region);
