-- Flink's CSV quoting: a field is quoted when it holds a character below '-' (space, !, ",
-- #, $, %, &, ', (, ), *, +, comma) and a quote is doubled; NULL and '' are both empty.
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
  literal  STRING
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}',
  'format' = 'csv'
);
INSERT INTO sink
SELECT id,
       name,
       category,
       CASE id % 6
         WHEN 0 THEN 'a b'
         WHEN 1 THEN '$5 & up'
         WHEN 2 THEN 'it''s'
         WHEN 3 THEN 'semi;colon'
         WHEN 4 THEN 'dash-dot.slash/'
         ELSE '*star*' END
FROM products;
