-- Flink's window join: two window TVFs read as tables, LEFT JOINed on the user and the window.
-- Each server error with the same user's cart views of its 5 s window; errors without one
-- keep NULLs, emitted once the window has closed.
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
  `user`       STRING,
  error_ts     BIGINT,
  cart_ts      BIGINT,
  window_start TIMESTAMP(3),
  window_end   TIMESTAMP(3)
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}',
  'format' = 'csv'
);
INSERT INTO sink
SELECT L.`user`, L.ts, R.ts, L.window_start, L.window_end
FROM (
  SELECT * FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(event_time), INTERVAL '5' SECOND))
  WHERE status >= 500
) L
LEFT JOIN (
  SELECT * FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(event_time), INTERVAL '5' SECOND))
  WHERE page = '/cart'
) R
ON L.`user` = R.`user` AND L.window_start = R.window_start AND L.window_end = R.window_end;
