-- A column selected twice, and next to a CAST of itself, without aliases: the names of a
-- SELECT list need not be unique in an INSERT.
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
  id_again INT,
  price    DOUBLE,
  price_f  FLOAT,
  id_text  STRING
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}',
  'format' = 'csv'
);
INSERT INTO sink
SELECT id, id, price, CAST(price AS FLOAT), CAST(id AS STRING)
FROM products;
