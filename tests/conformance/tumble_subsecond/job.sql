-- Windows of 250 ms and 750 ms: window bounds with fractional seconds in CSV (.25, .5, .75).
CREATE TABLE readings (
  ts     BIGINT,
  device STRING,
  `value` INT,
  event_time AS TO_TIMESTAMP_LTZ(ts, 3),
  WATERMARK FOR event_time AS event_time - INTERVAL '0.1' SECOND
) WITH (
  'connector' = 'filesystem',
  'path' = '${INPUT_DIR}',
  'format' = 'json'
);
CREATE TABLE quarter_seconds (
  window_start TIMESTAMP(3),
  window_end   TIMESTAMP(3),
  device       STRING,
  readings     BIGINT,
  total        BIGINT,
  lowest       INT,
  highest      INT
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}/quarter_seconds',
  'format' = 'csv'
);
CREATE TABLE hops (
  window_start TIMESTAMP(3),
  window_end   TIMESTAMP(3),
  readings     BIGINT,
  total        BIGINT
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}/hops',
  'format' = 'csv'
);
INSERT INTO quarter_seconds
SELECT window_start, window_end, device, COUNT(*), SUM(`value`), MIN(`value`), MAX(`value`)
FROM TABLE(TUMBLE(TABLE readings, DESCRIPTOR(event_time), INTERVAL '0.25' SECOND))
GROUP BY window_start, window_end, device;
INSERT INTO hops
SELECT window_start, window_end, COUNT(*), SUM(`value`)
FROM TABLE(HOP(TABLE readings, DESCRIPTOR(event_time), INTERVAL '0.25' SECOND, INTERVAL '0.75' SECOND))
GROUP BY window_start, window_end;
