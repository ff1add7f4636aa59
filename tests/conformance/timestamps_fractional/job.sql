-- TIMESTAMP(3) values in CSV: whole seconds print without a fraction, others with the
-- fraction's significant digits (.5, .25, .125); TO_TIMESTAMP_LTZ of epoch milliseconds.
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
  ts       BIGINT,
  seen_at  TIMESTAMP(3),
  rounded  TIMESTAMP(3)
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}',
  'format' = 'csv'
);
INSERT INTO sink
SELECT id, ts, CAST(event_time AS TIMESTAMP(3)), CAST(TO_TIMESTAMP_LTZ(ts - ts % 250, 3) AS TIMESTAMP(3))
FROM products;
