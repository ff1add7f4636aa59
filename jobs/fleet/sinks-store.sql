-- Where the fleet job writes on embedded defaults with the serving store: `vehicle_health`
-- holds the latest verdict per VIN (an upsert table: each scored window replaces the
-- vehicle's row), which the fleet dashboard and any PostgreSQL client read while the job
-- runs; rejected readings are kept for a week.
--   spate sql run --init jobs/fleet/source.sql --init jobs/fleet/features.sql \
--     --init jobs/fleet/sinks-store.sql jobs/fleet/pipeline.sql --checkpoint-dir …

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
  'connector' = 'spate-store'
);

-- Readings that fail the checks of jobs/fleet/features.sql, with the reason.
CREATE TABLE telemetry_rejects (
  vin     STRING,
  ts      BIGINT,
  problem STRING
) WITH (
  'connector' = 'spate-store',
  'retention' = '7 d'
);
