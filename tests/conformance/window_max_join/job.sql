-- The busiest users of each sliding window (Nexmark q5's shape): per-user counts over a HOP
-- window joined with the largest count of the same window, itself a window aggregation over
-- the per-user counts, grouped by their window.
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
  starttime  TIMESTAMP(3),
  num        BIGINT
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}',
  'format' = 'csv'
);
INSERT INTO sink
SELECT UserClicks.`user`, UserClicks.starttime, UserClicks.num
FROM (
  SELECT `user`, COUNT(*) AS num, window_start AS starttime, window_end AS endtime
  FROM TABLE(HOP(TABLE clicks, DESCRIPTOR(event_time), INTERVAL '5' SECOND, INTERVAL '10' SECOND))
  GROUP BY `user`, window_start, window_end
) AS UserClicks
JOIN (
  SELECT MAX(Counts.num) AS maxn, Counts.starttime, Counts.endtime
  FROM (
    SELECT COUNT(*) AS num, window_start AS starttime, window_end AS endtime
    FROM TABLE(HOP(TABLE clicks, DESCRIPTOR(event_time), INTERVAL '5' SECOND, INTERVAL '10' SECOND))
    GROUP BY `user`, window_start, window_end
  ) AS Counts
  GROUP BY Counts.starttime, Counts.endtime
) AS MaxClicks
ON UserClicks.starttime = MaxClicks.starttime AND
   UserClicks.endtime = MaxClicks.endtime AND
   UserClicks.num >= MaxClicks.maxn;
