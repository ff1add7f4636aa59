-- The speed layer of the fleet's predictive maintenance: telemetry from the embedded log
-- (`spate simulate fleet --sink log://telemetry`), every raw reading archived to Parquet
-- partitioned by day and hour (a partition gets its _SUCCESS file once the watermark has
-- passed its hour), and per-vehicle features over 5-minute windows for the anomaly model.
--   spate sql run jobs/fleet/pipeline.sql --checkpoint-dir spate-data/checkpoints/fleet

CREATE TABLE telemetry (
  vin                      STRING,
  ts                       BIGINT,
  model                    STRING,
  engine_l                 FLOAT,
  region                   STRING,
  engine_rpm               FLOAT,
  vehicle_speed_kmh        INT,
  engine_load_pct          FLOAT,
  coolant_temp_c           INT,
  intake_air_temp_c        INT,
  maf_g_s                  FLOAT,
  throttle_pct             FLOAT,
  short_term_fuel_trim_pct FLOAT,
  long_term_fuel_trim_pct  FLOAT,
  o2_sensor_v              FLOAT,
  timing_advance_deg       FLOAT,
  control_module_voltage_v FLOAT,
  oil_temp_c               INT,
  ambient_air_temp_c       INT,
  odometer_km              DOUBLE,
  dtcs                     ARRAY<STRING>,
  event_time AS TO_TIMESTAMP_LTZ(ts, 3),
  WATERMARK FOR event_time AS event_time - INTERVAL '10' SECOND
) WITH (
  'connector' = 'spate-log',
  'topic' = 'telemetry',
  'format' = 'json',
  'scan.startup.mode' = 'earliest-offset'
);

CREATE TABLE telemetry_archive (
  vin                      STRING,
  ts                       BIGINT,
  model                    STRING,
  engine_l                 FLOAT,
  region                   STRING,
  engine_rpm               FLOAT,
  vehicle_speed_kmh        INT,
  engine_load_pct          FLOAT,
  coolant_temp_c           INT,
  intake_air_temp_c        INT,
  maf_g_s                  FLOAT,
  throttle_pct             FLOAT,
  short_term_fuel_trim_pct FLOAT,
  long_term_fuel_trim_pct  FLOAT,
  o2_sensor_v              FLOAT,
  timing_advance_deg       FLOAT,
  control_module_voltage_v FLOAT,
  oil_temp_c               INT,
  ambient_air_temp_c       INT,
  odometer_km              DOUBLE,
  dtcs                     ARRAY<STRING>,
  dt                       STRING,
  `hour`                   STRING
) PARTITIONED BY (dt, `hour`) WITH (
  'connector' = 'filesystem',
  'path' = 'spate-data/archive/telemetry',
  'format' = 'parquet',
  'sink.partition-commit.trigger' = 'partition-time',
  'partition.time-extractor.timestamp-pattern' = '$dt $hour:00:00',
  'sink.partition-commit.delay' = '1 h',
  'sink.partition-commit.policy.kind' = 'success-file'
);

-- Per vehicle and 5 minutes: how the engine warms, breathes, trims its fuel and charges.
-- Idle is 500–1100 rpm at standstill; load is above 1800 rpm. The coolant slope (°C per minute
-- while running) is a least-squares fit over the minutes of the day (a 5-minute window never
-- spans midnight).
CREATE TABLE vehicle_features (
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
  voltage_min      FLOAT,
  voltage_mean     DOUBLE,
  dtc_count        INT
) WITH (
  'connector' = 'spate-log',
  'topic' = 'vehicle-features',
  'format' = 'json',
  'key.format' = 'json',
  'key.fields' = 'vin'
);

INSERT INTO telemetry_archive
SELECT vin, ts, model, engine_l, region, engine_rpm, vehicle_speed_kmh, engine_load_pct,
       coolant_temp_c, intake_air_temp_c, maf_g_s, throttle_pct, short_term_fuel_trim_pct,
       long_term_fuel_trim_pct, o2_sensor_v, timing_advance_deg, control_module_voltage_v,
       oil_temp_c, ambient_air_temp_c, odometer_km, dtcs,
       DATE_FORMAT(event_time, 'yyyy-MM-dd'), DATE_FORMAT(event_time, 'HH')
FROM telemetry;

INSERT INTO vehicle_features
SELECT vin, model, region, window_start, window_end,
       COUNT(*),
       COUNT(*) FILTER (WHERE engine_rpm > 0),
       AVG(CAST(coolant_temp_c AS DOUBLE)) FILTER (WHERE engine_rpm > 0),
       MAX(coolant_temp_c) FILTER (WHERE engine_rpm > 0),
       (COUNT(*) FILTER (WHERE engine_rpm > 0)
          * SUM(MOD(ts, 86400000) / 60000.0 * coolant_temp_c) FILTER (WHERE engine_rpm > 0)
        - SUM(MOD(ts, 86400000) / 60000.0) FILTER (WHERE engine_rpm > 0)
          * SUM(CAST(coolant_temp_c AS DOUBLE)) FILTER (WHERE engine_rpm > 0))
       / NULLIF(COUNT(*) FILTER (WHERE engine_rpm > 0)
          * SUM(POWER(MOD(ts, 86400000) / 60000.0, 2)) FILTER (WHERE engine_rpm > 0)
        - POWER(SUM(MOD(ts, 86400000) / 60000.0) FILTER (WHERE engine_rpm > 0), 2), 0),
       AVG(CAST(short_term_fuel_trim_pct + long_term_fuel_trim_pct AS DOUBLE))
         FILTER (WHERE engine_rpm BETWEEN 500 AND 1100 AND vehicle_speed_kmh = 0),
       AVG(CAST(short_term_fuel_trim_pct + long_term_fuel_trim_pct AS DOUBLE))
         FILTER (WHERE engine_rpm > 1800),
       AVG(maf_g_s / (engine_l * engine_rpm * engine_load_pct) * 100000.0)
         FILTER (WHERE engine_rpm > 0 AND engine_load_pct > 10),
       STDDEV_SAMP(CAST(engine_rpm AS DOUBLE))
         FILTER (WHERE engine_rpm BETWEEN 500 AND 1100 AND vehicle_speed_kmh = 0),
       STDDEV_SAMP(CAST(o2_sensor_v AS DOUBLE)) FILTER (WHERE engine_rpm > 0 AND coolant_temp_c > 70),
       MIN(control_module_voltage_v) FILTER (WHERE engine_rpm > 0),
       AVG(CAST(control_module_voltage_v AS DOUBLE)) FILTER (WHERE engine_rpm > 0),
       CAST(MAX(CARDINALITY(dtcs)) AS INT)
FROM TABLE(TUMBLE(TABLE telemetry, DESCRIPTOR(event_time), INTERVAL '5' MINUTE))
GROUP BY vin, model, region, window_start, window_end;
