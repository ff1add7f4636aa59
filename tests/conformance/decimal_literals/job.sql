-- A literal with a decimal point is a DECIMAL in Flink: times an INT it is a DECIMAL (of
-- precision p1 + p2), times a DOUBLE a DOUBLE; a DECIMAL goes into a DECIMAL column of
-- another precision and into a DOUBLE column without a CAST.
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
  id          INT,
  qty_scaled  DECIMAL(12, 2),
  qty_wide    DECIMAL(20, 3),
  qty_double  DOUBLE,
  discounted  DOUBLE,
  constant    DECIMAL(5, 3)
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}',
  'format' = 'csv'
);
INSERT INTO sink
SELECT id, qty * 0.25, qty * 1.5, qty * 0.908, price * 0.9, 1.125
FROM products;
