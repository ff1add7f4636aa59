-- The watermark of `WATERMARK FOR t AS t - INTERVAL '2' SECOND` is exactly the largest t
-- seen minus 2 s, and a window [s, e) fires once the watermark reaches e - 1 ms. After an
-- event at 21.999 s the window [10 s, 20 s) has fired, and a row of it read afterwards is
-- late; after an event at 31.998 s, [20 s, 30 s) is still open and takes a row of its own.
-- (The rows in question come after line 4096, in a second read batch.)
CREATE TABLE payments (
  ts     BIGINT,
  `user` STRING,
  amount INT,
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
  payments     BIGINT,
  total        BIGINT
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}',
  'format' = 'csv'
);
INSERT INTO sink
SELECT window_start, window_end, `user`, COUNT(*), SUM(amount)
FROM TABLE(TUMBLE(TABLE payments, DESCRIPTOR(event_time), INTERVAL '10' SECOND))
GROUP BY window_start, window_end, `user`;
