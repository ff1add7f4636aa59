-- The fleet's telemetry, as `spate simulate fleet --sink log://telemetry` writes it into the
-- embedded log: one JSON reading per vehicle and tick, keyed by VIN. Event time is the
-- reading's own time; readings arrive up to 10 s out of order.

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
