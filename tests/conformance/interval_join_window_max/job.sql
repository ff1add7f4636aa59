-- The clicks that sent the most bytes of their 10 s window (Nexmark q7's shape): clicks joined
-- with each window's largest bytes_out, the click within the window before its end.
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
  `user`     STRING,
  page       STRING,
  bytes_out  BIGINT,
  ts         BIGINT,
  window_end TIMESTAMP(3)
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}',
  'format' = 'csv'
);
INSERT INTO sink
SELECT C.`user`, C.page, C.bytes_out, C.ts, M.endtime
FROM clicks C
JOIN (
  SELECT MAX(bytes_out) AS maxbytes, window_end AS endtime
  FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(event_time), INTERVAL '10' SECOND))
  GROUP BY window_start, window_end
) M
ON C.bytes_out = M.maxbytes
WHERE C.event_time BETWEEN M.endtime - INTERVAL '10' SECOND AND M.endtime;
