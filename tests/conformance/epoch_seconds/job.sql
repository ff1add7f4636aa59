-- TO_TIMESTAMP_LTZ of epoch seconds (precision 0) and windows of minutes: TUMBLE of 10
-- minutes and HOP of 5 minutes sliding over 15, with AVG, MIN and MAX of a DOUBLE.
CREATE TABLE weather (
  epoch   BIGINT,
  station STRING,
  temp    DOUBLE,
  event_time AS TO_TIMESTAMP_LTZ(epoch, 0),
  WATERMARK FOR event_time AS event_time - INTERVAL '30' SECOND
) WITH (
  'connector' = 'filesystem',
  'path' = '${INPUT_DIR}',
  'format' = 'json'
);
CREATE TABLE ten_minutes (
  window_start TIMESTAMP(3),
  window_end   TIMESTAMP(3),
  station      STRING,
  readings     BIGINT,
  average      DOUBLE,
  coldest      DOUBLE,
  warmest      DOUBLE
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}/ten_minutes',
  'format' = 'csv'
);
CREATE TABLE sliding (
  window_start TIMESTAMP(3),
  window_end   TIMESTAMP(3),
  readings     BIGINT,
  average      DOUBLE
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}/sliding',
  'format' = 'csv'
);
INSERT INTO ten_minutes
SELECT window_start, window_end, station, COUNT(*), AVG(temp), MIN(temp), MAX(temp)
FROM TABLE(TUMBLE(TABLE weather, DESCRIPTOR(event_time), INTERVAL '10' MINUTE))
GROUP BY window_start, window_end, station;
INSERT INTO sliding
SELECT window_start, window_end, COUNT(*), AVG(temp)
FROM TABLE(HOP(TABLE weather, DESCRIPTOR(event_time), INTERVAL '5' MINUTE, INTERVAL '15' MINUTE))
GROUP BY window_start, window_end;
