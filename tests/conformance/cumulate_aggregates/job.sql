-- CUMULATE (step 5 s, size 20 s) per region: windows [s, s+5), [s, s+10), … [s, s+20).
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
  total_bytes  BIGINT,
  min_latency  DOUBLE,
  avg_latency  DOUBLE,
  redirects    BIGINT
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}',
  'format' = 'csv'
);
INSERT INTO sink
SELECT window_start, window_end, region,
       COUNT(*), SUM(bytes_out), MIN(latency), AVG(latency),
       COUNT(*) FILTER (WHERE status = 304)
FROM TABLE(CUMULATE(TABLE clicks, DESCRIPTOR(event_time), INTERVAL '5' SECOND, INTERVAL '20' SECOND))
GROUP BY window_start, window_end, region;
