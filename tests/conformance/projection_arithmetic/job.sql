-- Integer and floating-point arithmetic: +, -, *, / (integer division truncates towards
-- zero), % (the sign follows the dividend), unary minus, BIGINT widening, and DOUBLE results.
-- INT expressions with literals go to BIGINT columns (integer_literal_types has them as INT).
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
  next_qty    BIGINT,
  neg_qty     INT,
  affine      BIGINT,
  quarter     BIGINT,
  remainder   BIGINT,
  big         BIGINT,
  twice_price DOUBLE,
  price_sum   DOUBLE,
  per_item    DOUBLE
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}',
  'format' = 'csv'
);
INSERT INTO sink
SELECT id,
       qty + 1,
       -qty,
       qty * 3 - 7,
       qty / 4,
       qty % 4,
       CAST(qty AS BIGINT) * 1000000000 + id,
       price * 2,
       price + weight,
       price / 4
FROM products;
