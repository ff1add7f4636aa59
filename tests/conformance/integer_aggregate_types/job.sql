-- Aggregates of integer columns keep the column's type in Flink: SUM(INT) is an INT, and
-- AVG(INT) an INT (AVG(BIGINT) a BIGINT) whose division truncates.
CREATE TABLE clicks (
  ts        BIGINT,
  `user`    STRING,
  page      STRING,
  latency   DOUBLE,
  bytes_out BIGINT,
  status    INT,
  region    STRING,
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
  status_sum   INT,
  avg_status   INT,
  avg_bytes    BIGINT
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}',
  'format' = 'csv'
);
INSERT INTO sink
SELECT window_start, window_end, region, SUM(status), AVG(status), AVG(bytes_out)
FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(event_time), INTERVAL '10' SECOND))
GROUP BY window_start, window_end, region;
