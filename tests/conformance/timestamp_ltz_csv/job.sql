-- A TIMESTAMP_LTZ(3) column in CSV: Flink writes the instant in UTC with a trailing Z.
CREATE TABLE products (
  id       INT,
  name     STRING,
  category STRING,
  price    DOUBLE,
  qty      INT,
  weight   DOUBLE,
  active   BOOLEAN,
  ts       BIGINT,
  event_time AS TO_TIMESTAMP_LTZ(ts, 3)
) WITH (
  'connector' = 'filesystem',
  'path' = '${INPUT_DIR}',
  'format' = 'json'
);
CREATE TABLE sink (
  id       INT,
  seen_at  TIMESTAMP_LTZ(3)
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}',
  'format' = 'csv'
);
INSERT INTO sink
SELECT id, event_time
FROM products;
