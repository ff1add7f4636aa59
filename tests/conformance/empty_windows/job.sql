-- Sparse input (bursts a minute and more apart): windows without events give no row, for
-- TUMBLE, HOP and CUMULATE alike; a CUMULATE window repeats its rows for each later step.
CREATE TABLE sensors (
  ts      BIGINT,
  sensor  STRING,
  reading DOUBLE,
  event_time AS TO_TIMESTAMP_LTZ(ts, 3),
  WATERMARK FOR event_time AS event_time - INTERVAL '1' SECOND
) WITH (
  'connector' = 'filesystem',
  'path' = '${INPUT_DIR}',
  'format' = 'json'
);
CREATE TABLE tumbling (
  window_start TIMESTAMP(3),
  window_end   TIMESTAMP(3),
  sensor       STRING,
  readings     BIGINT,
  average      DOUBLE
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}/tumbling',
  'format' = 'csv'
);
CREATE TABLE hopping (
  window_start TIMESTAMP(3),
  window_end   TIMESTAMP(3),
  readings     BIGINT,
  highest      DOUBLE
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}/hopping',
  'format' = 'csv'
);
CREATE TABLE cumulating (
  window_start TIMESTAMP(3),
  window_end   TIMESTAMP(3),
  sensor       STRING,
  readings     BIGINT,
  lowest       DOUBLE
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}/cumulating',
  'format' = 'csv'
);
INSERT INTO tumbling
SELECT window_start, window_end, sensor, COUNT(*), AVG(reading)
FROM TABLE(TUMBLE(TABLE sensors, DESCRIPTOR(event_time), INTERVAL '10' SECOND))
GROUP BY window_start, window_end, sensor;
INSERT INTO hopping
SELECT window_start, window_end, COUNT(*), MAX(reading)
FROM TABLE(HOP(TABLE sensors, DESCRIPTOR(event_time), INTERVAL '20' SECOND, INTERVAL '1' MINUTE))
GROUP BY window_start, window_end;
INSERT INTO cumulating
SELECT window_start, window_end, sensor, COUNT(*), MIN(reading)
FROM TABLE(CUMULATE(TABLE sensors, DESCRIPTOR(event_time), INTERVAL '15' SECOND, INTERVAL '1' MINUTE))
GROUP BY window_start, window_end, sensor;
