-- The fleet job's verdicts in MySQL/MariaDB (JDBC upserts on the VIN: the table holds each
-- vehicle's latest verdict; a replay after recovery rewrites the same rows). Create the table
-- first with jobs/fleet/mysql-schema.sql.
--   spate sql run --init jobs/fleet/source.sql --init jobs/fleet/features.sql \
--     --init jobs/fleet/sinks-mysql.sql jobs/fleet/pipeline.sql --checkpoint-dir …

CREATE TABLE vehicle_health (
  vin              STRING,
  model            STRING,
  region           STRING,
  window_start     TIMESTAMP(3),
  window_end       TIMESTAMP(3),
  readings         BIGINT,
  running          BIGINT,
  coolant_mean     DOUBLE,
  coolant_max      INT,
  coolant_slope    DOUBLE,
  trim_idle        DOUBLE,
  trim_load        DOUBLE,
  maf_ratio        DOUBLE,
  rpm_idle_stddev  DOUBLE,
  o2_stddev        DOUBLE,
  o2_mid_share     DOUBLE,
  stft_stddev      DOUBLE,
  voltage_min      FLOAT,
  voltage_mean     DOUBLE,
  dtc_count        INT,
  ambient_mean     DOUBLE,
  load_mean        DOUBLE,
  score            DOUBLE,   -- the health score (pipeline.sql), which `anomalous` thresholds
  anomalous        BOOLEAN,
  top_signals      STRING,
  model_version    STRING,
  PRIMARY KEY (vin) NOT ENFORCED
) WITH (
  'connector' = 'jdbc',
  'url' = 'jdbc:mysql://127.0.0.1:3306/test',
  'table-name' = 'vehicle_health',
  'username' = 'root'
);

-- Readings that fail the checks of jobs/fleet/features.sql, with the reason.
CREATE TABLE telemetry_rejects (
  vin     STRING,
  ts      BIGINT,
  problem STRING
) WITH (
  'connector' = 'spate-log',
  'topic' = 'telemetry-rejects',
  'format' = 'json'
);
