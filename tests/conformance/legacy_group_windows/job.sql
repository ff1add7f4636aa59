-- Flink's legacy group windows (GROUP BY TUMBLE/HOP/SESSION with their _START and _END
-- functions), as jobs written before window TVFs have them; the table is aliased in one and
-- read by its name in the others.
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
CREATE TABLE tumbling (
  `user`       STRING,
  window_start TIMESTAMP(3),
  window_end   TIMESTAMP(3),
  clicks       BIGINT,
  total_bytes  BIGINT
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}/tumbling',
  'format' = 'csv'
);
CREATE TABLE hopping (
  region       STRING,
  window_end   TIMESTAMP(3),
  clicks       BIGINT,
  max_latency  DOUBLE
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}/hopping',
  'format' = 'csv'
);
CREATE TABLE sessions (
  `user`       STRING,
  session_start TIMESTAMP(3),
  session_end  TIMESTAMP(3),
  clicks       BIGINT
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}/sessions',
  'format' = 'csv'
);
INSERT INTO tumbling
SELECT c.`user`,
       TUMBLE_START(c.event_time, INTERVAL '10' SECOND),
       TUMBLE_END(c.event_time, INTERVAL '10' SECOND),
       COUNT(*),
       SUM(c.bytes_out)
FROM clicks AS c
GROUP BY TUMBLE(c.event_time, INTERVAL '10' SECOND), c.`user`;
INSERT INTO hopping
SELECT region, HOP_END(event_time, INTERVAL '5' SECOND, INTERVAL '10' SECOND), COUNT(*),
       MAX(latency)
FROM clicks
WHERE status < 500
GROUP BY region, HOP(event_time, INTERVAL '5' SECOND, INTERVAL '10' SECOND);
INSERT INTO sessions
SELECT clicks.`user`, SESSION_START(event_time, INTERVAL '3' SECOND),
       SESSION_END(event_time, INTERVAL '3' SECOND), COUNT(*)
FROM clicks
GROUP BY SESSION(event_time, INTERVAL '3' SECOND), clicks.`user`;
