-- String functions: UPPER, LOWER, CHAR_LENGTH, SUBSTRING, TRIM, REPLACE, || (NULL if
-- either side is), CONCAT_WS (skips NULLs), POSITION, LIKE as a value, string comparison.
-- CONCAT, which is NULL if any argument is, has its own case (concat_nulls).
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
  upper_name STRING,
  lower_name STRING,
  name_len  INT,
  middle    STRING,
  trimmed   STRING,
  replaced  STRING,
  piped     STRING,
  joined    STRING,
  o_at      INT,
  has_space BOOLEAN,
  before_m  BOOLEAN
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}',
  'format' = 'csv'
);
INSERT INTO sink
SELECT id,
       UPPER(name),
       LOWER(name),
       CHAR_LENGTH(name),
       SUBSTRING(name FROM 2 FOR 3),
       TRIM(name),
       REPLACE(name, ' ', '_'),
       category || ':' || name,
       CONCAT_WS('/', category, name),
       POSITION('o' IN name),
       name LIKE '% %',
       name < 'm'
FROM products;
