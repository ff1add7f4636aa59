-- WHERE with AND/OR/NOT, comparisons, BETWEEN, IN, LIKE, IS NOT NULL and a BOOLEAN column;
-- rows whose predicate is NULL are dropped.
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
  id       INT,
  name     STRING,
  category STRING,
  price    DOUBLE,
  qty      INT
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}',
  'format' = 'csv'
);
INSERT INTO sink
SELECT id, name, category, price, qty
FROM products
WHERE (price BETWEEN 100 AND 600 OR category IN ('toys', 'food'))
  AND qty <> 0
  AND NOT (name LIKE '%o%')
  AND (active OR qty > 10)
  AND name IS NOT NULL;
