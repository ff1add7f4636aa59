-- A join of two window aggregations on their windows (Nexmark q8's shape): per user and 10 s
-- window, the clicks and the errors, for the windows where the user had an error.
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
  window_start TIMESTAMP(3),
  window_end   TIMESTAMP(3),
  clicks       BIGINT,
  errors       BIGINT,
  worst        INT
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}',
  'format' = 'csv'
);
INSERT INTO sink
SELECT C.`user`, C.starttime, C.endtime, C.clicks, E.errors, E.worst
FROM (
  SELECT `user`, window_start AS starttime, window_end AS endtime, COUNT(*) AS clicks
  FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(event_time), INTERVAL '10' SECOND))
  GROUP BY `user`, window_start, window_end
) C
JOIN (
  SELECT `user`, window_start AS starttime, window_end AS endtime, COUNT(*) AS errors,
         MAX(status) AS worst
  FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(event_time), INTERVAL '10' SECOND))
  WHERE status >= 400
  GROUP BY `user`, window_start, window_end
) E
ON C.`user` = E.`user` AND C.starttime = E.starttime AND C.endtime = E.endtime;
