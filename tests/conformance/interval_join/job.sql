-- An interval join of a stream with itself: each server error (5xx) with the same user's
-- clicks of the 2 s before it up to 1 s after it.
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
  `user`      STRING,
  error_ts    BIGINT,
  click_ts    BIGINT,
  page        STRING,
  status      INT
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}',
  'format' = 'csv'
);
INSERT INTO sink
SELECT e.`user`, e.ts, c.ts, c.page, c.status
FROM clicks e, clicks c
WHERE e.`user` = c.`user` AND e.status >= 500 AND c.ts <> e.ts
  AND c.event_time BETWEEN e.event_time - INTERVAL '2' SECOND AND e.event_time + INTERVAL '1' SECOND;
