-- OVER aggregations in event time: a ROWS frame (the row and the two before it, per user)
-- and a RANGE frame (every row of the region in the 5 s up to the row's time, peers
-- included). Each input row comes out once, in time order per partition.
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
CREATE TABLE last_three (
  `user`      STRING,
  ts          BIGINT,
  clicks      BIGINT,
  max_latency DOUBLE,
  bytes_sum   BIGINT
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}/last_three',
  'format' = 'csv'
);
CREATE TABLE last_five_seconds (
  region      STRING,
  ts          BIGINT,
  clicks      BIGINT,
  min_latency DOUBLE,
  errors      BIGINT
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}/last_five_seconds',
  'format' = 'csv'
);
INSERT INTO last_three
SELECT `user`, ts,
       COUNT(*) OVER (PARTITION BY `user` ORDER BY event_time
                      ROWS BETWEEN 2 PRECEDING AND CURRENT ROW),
       MAX(latency) OVER (PARTITION BY `user` ORDER BY event_time
                          ROWS BETWEEN 2 PRECEDING AND CURRENT ROW),
       SUM(bytes_out) OVER (PARTITION BY `user` ORDER BY event_time
                            ROWS BETWEEN 2 PRECEDING AND CURRENT ROW)
FROM clicks;
INSERT INTO last_five_seconds
SELECT region, ts,
       COUNT(*) OVER w,
       MIN(latency) OVER w,
       SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END) OVER w
FROM clicks
WINDOW w AS (PARTITION BY region ORDER BY event_time
             RANGE BETWEEN INTERVAL '5' SECOND PRECEDING AND CURRENT ROW);
