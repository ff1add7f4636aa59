-- Searched and simple CASE, with and without ELSE (no ELSE gives NULL), over NULL inputs.
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
  band      STRING,
  cat_code  BIGINT,
  stock     BIGINT,
  line_total DOUBLE,
  sign      STRING
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}',
  'format' = 'csv'
);
INSERT INTO sink
SELECT id,
       CASE WHEN price IS NULL THEN 'unknown'
            WHEN price < 100 THEN 'cheap'
            WHEN price < 500 THEN 'mid'
            ELSE 'premium' END,
       CASE category WHEN 'tools' THEN 1 WHEN 'toys' THEN 2 END,
       CASE WHEN active THEN qty ELSE 0 END,
       CASE WHEN qty > 0 THEN price * qty END,
       CASE WHEN qty < 0 THEN 'negative' WHEN qty = 0 THEN 'zero' WHEN qty > 0 THEN 'positive' ELSE 'n/a' END
FROM products;
