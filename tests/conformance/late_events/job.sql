-- Late events: rows that arrive after the watermark (2 s bound) has passed the end of their
-- window are dropped; rows out of order by more than the bound whose window is still open
-- are counted. A HOP window takes a late row into those of its windows that are still open.
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
CREATE TABLE tumbling (
  window_start TIMESTAMP(3),
  window_end   TIMESTAMP(3),
  `user`       STRING,
  payments     BIGINT,
  total        BIGINT
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}/tumbling',
  'format' = 'csv'
);
CREATE TABLE hopping (
  window_start TIMESTAMP(3),
  window_end   TIMESTAMP(3),
  `user`       STRING,
  payments     BIGINT,
  total        BIGINT
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}/hopping',
  'format' = 'csv'
);
INSERT INTO tumbling
SELECT window_start, window_end, `user`, COUNT(*), SUM(amount)
FROM TABLE(TUMBLE(TABLE payments, DESCRIPTOR(event_time), INTERVAL '10' SECOND))
GROUP BY window_start, window_end, `user`;
INSERT INTO hopping
SELECT window_start, window_end, `user`, COUNT(*), SUM(amount)
FROM TABLE(HOP(TABLE payments, DESCRIPTOR(event_time), INTERVAL '5' SECOND, INTERVAL '10' SECOND))
GROUP BY window_start, window_end, `user`;
