-- Events exactly one SESSION gap apart: the session of the first ends where the second's
-- begins, and Flink merges sessions that touch into one; 1 ms more and they stay apart.
CREATE TABLE activity (
  ts     BIGINT,
  `user` STRING,
  clicks INT,
  event_time AS TO_TIMESTAMP_LTZ(ts, 3),
  WATERMARK FOR event_time AS event_time - INTERVAL '1' SECOND
) WITH (
  'connector' = 'filesystem',
  'path' = '${INPUT_DIR}',
  'format' = 'json'
);
CREATE TABLE sink (
  window_start TIMESTAMP(3),
  window_end   TIMESTAMP(3),
  `user`       STRING,
  events       BIGINT,
  clicks       BIGINT,
  most         INT
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}',
  'format' = 'csv'
);
INSERT INTO sink
SELECT window_start, window_end, `user`, COUNT(*), SUM(clicks), MAX(clicks)
FROM TABLE(SESSION(TABLE activity PARTITION BY `user`, DESCRIPTOR(event_time), INTERVAL '5' SECOND))
GROUP BY window_start, window_end, `user`;
