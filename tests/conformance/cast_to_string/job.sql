-- CAST to STRING as Flink writes values: BOOLEAN as TRUE/FALSE, TIMESTAMP(3) as
-- 'yyyy-MM-dd HH:mm:ss.SSS', DOUBLE as Java's Double.toString.
CREATE TABLE products (
  id       INT,
  name     STRING,
  category STRING,
  price    DOUBLE,
  qty      INT,
  weight   DOUBLE,
  active   BOOLEAN,
  ts       BIGINT,
  event_time AS TO_TIMESTAMP_LTZ(ts, 3)
) WITH (
  'connector' = 'filesystem',
  'path' = '${INPUT_DIR}',
  'format' = 'json'
);
CREATE TABLE sink (
  id         INT,
  active     STRING,
  seen_at    STRING,
  price      STRING,
  big        STRING
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}',
  'format' = 'csv'
);
INSERT INTO sink
SELECT id,
       CAST(active AS STRING) AS active_text,
       CAST(CAST(event_time AS TIMESTAMP(3)) AS STRING) AS seen_text,
       CAST(price AS STRING) AS price_text,
       CAST(price * 100000 AS STRING) AS big_text
FROM products;
