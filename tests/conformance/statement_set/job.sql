-- Two INSERTs in one statement set, into two sinks: a projection with a filter and a window
-- aggregation over the same source.
CREATE TABLE clicks (
  ts      BIGINT,
  `user`  STRING,
  page    STRING,
  latency DOUBLE,
  bytes_out   BIGINT,
  status  INT,
  region  STRING,
  event_time AS TO_TIMESTAMP_LTZ(ts, 3),
  WATERMARK FOR event_time AS event_time - INTERVAL '2' SECOND
) WITH (
  'connector' = 'filesystem',
  'path' = '${INPUT_DIR}',
  'format' = 'json'
);
CREATE TABLE errors (
  event_time TIMESTAMP(3),
  `user`     STRING,
  status     INT,
  page       STRING
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}/errors',
  'format' = 'csv'
);
CREATE TABLE per_region (
  window_start TIMESTAMP(3),
  window_end   TIMESTAMP(3),
  region       STRING,
  clicks       BIGINT,
  total_bytes  BIGINT
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}/per_region',
  'format' = 'csv'
);
EXECUTE STATEMENT SET
BEGIN
INSERT INTO errors
SELECT CAST(event_time AS TIMESTAMP(3)), `user`, status, page
FROM clicks
WHERE status >= 500;
INSERT INTO per_region
SELECT window_start, window_end, region, COUNT(*), SUM(bytes_out)
FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(event_time), INTERVAL '30' SECOND))
GROUP BY window_start, window_end, region;
END;
