-- Late events within a small file: Flink advances the watermark row by row, so a row read
-- after rows 2 s and more ahead of it is late as soon as its window has fired, however
-- close together the rows are in the file.
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
