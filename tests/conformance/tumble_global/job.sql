-- A TUMBLE window without keys: one row per non-empty window.
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
  clicks       BIGINT,
  total_bytes  BIGINT,
  max_latency  DOUBLE,
  not_found    BIGINT
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}',
  'format' = 'csv'
);
INSERT INTO sink
SELECT window_start, window_end, COUNT(*), SUM(bytes_out), MAX(latency),
       COUNT(*) FILTER (WHERE status = 404)
FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(event_time), INTERVAL '5' SECOND))
GROUP BY window_start, window_end;
