-- NULLs from explicit nulls and missing fields: arithmetic, comparison and concatenation with
-- NULL, COALESCE, NULLIF, IS [NOT] NULL, and NULL BOOLEAN and STRING columns in the output.
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
  name        STRING,
  qty         INT,
  qty_plus    BIGINT,
  qty_or      BIGINT,
  not_zero    BIGINT,
  qty_missing BOOLEAN,
  has_name    BOOLEAN,
  expensive   BOOLEAN,
  active      BOOLEAN,
  label       STRING
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}',
  'format' = 'csv'
);
INSERT INTO sink
SELECT id,
       name,
       qty,
       qty + 1,
       COALESCE(qty, -1),
       NULLIF(qty, 0),
       qty IS NULL,
       name IS NOT NULL,
       price > 500,
       active,
       name || '!'
FROM products;
