-- Where the fleet job writes its verdicts on embedded defaults: the log topic `vehicle-health`,
-- keyed by VIN, one row per vehicle and scored window.

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
  model_version    STRING
) WITH (
  'connector' = 'spate-log',
  'topic' = 'vehicle-health',
  'format' = 'json',
  'key.format' = 'json',
  'key.fields' = 'vin'
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
