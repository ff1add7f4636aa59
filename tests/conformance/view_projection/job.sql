-- A view with a filter and computed columns, read by an INSERT that filters it again.
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
CREATE VIEW in_stock AS
SELECT id, UPPER(category) AS category, price * qty AS stock_value, qty
FROM products
WHERE qty > 0 AND price IS NOT NULL;
CREATE TABLE sink (
  id          INT,
  category    STRING,
  stock_value DOUBLE
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}',
  'format' = 'csv'
);
INSERT INTO sink
SELECT id, category, stock_value
FROM in_stock
WHERE stock_value > 1000;
