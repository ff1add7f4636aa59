-- The filesystem sink in format json: one object per row, NULLs as null, TIMESTAMP(3)
-- as 'yyyy-MM-dd HH:mm:ss[.fraction]', strings with JSON escapes.
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
  name     STRING,
  price    DOUBLE,
  qty      INT,
  active   BOOLEAN,
  seen_at  TIMESTAMP(3)
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}',
  'format' = 'json'
);
INSERT INTO sink
SELECT id, name, price, qty, active, CAST(event_time AS TIMESTAMP(3))
FROM products;
