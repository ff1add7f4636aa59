-- SESSION windows (gap 5 s) partitioned by user: a silence shorter than the gap continues
-- the session, a longer one starts a new one (session_gap_boundary has silences of exactly
-- the gap). A session ends one gap after its last event.
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
