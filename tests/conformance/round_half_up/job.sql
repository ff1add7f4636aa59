-- ROUND(DOUBLE, n) rounds the decimal value half up: ROUND(0.285, 2) is 0.29, although the
-- double nearest 0.285 is a little below it.
CREATE TABLE products (
  id       INT,
  name     STRING,
  category STRING,
  price    DOUBLE,
  qty      INT,
  weight   DOUBLE,
  active   BOOLEAN,
  ts       BIGINT
) WITH (
  'connector' = 'filesystem',
  'path' = '${INPUT_DIR}',
  'format' = 'json'
);
CREATE TABLE sink (
  id      INT,
  weight  DOUBLE,
  cents   DOUBLE,
  tenths  DOUBLE,
  whole   DOUBLE
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}',
  'format' = 'csv'
);
INSERT INTO sink
SELECT id, weight, ROUND(weight, 2) AS cents, ROUND(price, 1) AS tenths, ROUND(price, 0) AS whole
FROM products;
