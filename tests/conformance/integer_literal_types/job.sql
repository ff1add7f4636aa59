-- An INT combined with an integer literal stays an INT in Flink (qty + 1, qty * 3, qty / 4,
-- qty % 4, CASE … THEN 1, COALESCE(qty, 0)), so it may go to an INT column.
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
  next_qty  INT,
  tripled   INT,
  quarter   INT,
  remainder INT,
  flag      INT,
  qty_or    INT
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}',
  'format' = 'csv'
);
INSERT INTO sink
SELECT id, qty + 1, qty * 3, qty / 4, qty % 4, CASE WHEN active THEN 1 ELSE 0 END, COALESCE(qty, 0)
FROM products;
