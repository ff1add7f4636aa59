-- Window Top-N: the two users with the most clicks in each 10 s window (ties broken by
-- name), by ROW_NUMBER() over the window aggregation, PARTITION BY window_start, window_end.
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
  window_start TIMESTAMP(3),
  window_end   TIMESTAMP(3),
  `user`       STRING,
  clicks       BIGINT,
  total_bytes  BIGINT,
  rn           BIGINT
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}',
  'format' = 'csv'
);
INSERT INTO sink
SELECT window_start, window_end, `user`, clicks, total_bytes, rn
FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end
                               ORDER BY clicks DESC, `user`) AS rn
  FROM (
    SELECT window_start, window_end, `user`, COUNT(*) AS clicks, SUM(bytes_out) AS total_bytes
    FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(event_time), INTERVAL '10' SECOND))
    GROUP BY window_start, window_end, `user`
  )
)
WHERE rn <= 2;
