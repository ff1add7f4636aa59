-- DOUBLE and FLOAT values as Flink writes them (Java's Double.toString): a '.0' on whole
-- numbers, scientific notation from 1.0E7 up and below 1.0E-3, shortest round-trip digits.
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
  id        INT,
  price     DOUBLE,
  scaled    DOUBLE,
  tiny      DOUBLE,
  third     DOUBLE,
  whole     DOUBLE,
  single    FLOAT
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}',
  'format' = 'csv'
);
INSERT INTO sink
SELECT id,
       price,
       price * 100000,
       weight / 1000,
       price / 3,
       CAST(id * 1000 AS DOUBLE),
       CAST(price AS FLOAT) AS single
FROM products;
