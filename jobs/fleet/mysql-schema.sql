-- The MySQL/MariaDB table of jobs/fleet/sinks-mysql.sql: mariadb test < jobs/fleet/mysql-schema.sql
CREATE TABLE IF NOT EXISTS vehicle_health (
  vin VARCHAR(17) PRIMARY KEY, model VARCHAR(64), region VARCHAR(64),
  window_start DATETIME(3), window_end DATETIME(3), readings BIGINT, running BIGINT,
  coolant_mean DOUBLE, coolant_max INT, coolant_slope DOUBLE, trim_idle DOUBLE, trim_load DOUBLE,
  maf_ratio DOUBLE, rpm_idle_stddev DOUBLE, o2_stddev DOUBLE,
  o2_mid_share DOUBLE, stft_stddev DOUBLE, voltage_min FLOAT,
  voltage_mean DOUBLE, dtc_count INT, ambient_mean DOUBLE, load_mean DOUBLE,
  score DOUBLE, anomalous BOOLEAN, top_signals VARCHAR(255), model_version VARCHAR(32));
