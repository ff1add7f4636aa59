-- CASTs between numeric types (DOUBLE to INT truncates towards zero), to and from STRING,
-- and to FLOAT; implicit widening INT -> BIGINT and INT -> DOUBLE into the sink. Every
-- column is aliased (repeated_column has the same columns without aliases).
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
  id         INT,
  price_int  INT,
  price_long BIGINT,
  qty_double DOUBLE,
  id_text    STRING,
  qty_text   STRING,
  parsed     INT,
  weight_f   FLOAT,
  id_wide    BIGINT,
  qty_wide   DOUBLE
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}',
  'format' = 'csv'
);
INSERT INTO sink
SELECT id,
       CAST(price AS INT) AS price_int,
       CAST(price * 100 AS BIGINT) AS price_long,
       CAST(qty AS DOUBLE) AS qty_double,
       CAST(id AS STRING) AS id_text,
       CAST(qty AS STRING) AS qty_text,
       CAST(CAST(id * 7 AS STRING) AS INT) AS parsed,
       CAST(weight AS FLOAT) AS weight_f,
       id AS id_wide,
       qty AS qty_wide
FROM products;
