-- The fleet's telemetry over MQTT, as `spate simulate fleet --sink mqtt://127.0.0.1:1883`
-- publishes it: one JSON reading per message on `vehicles/{vin}/telemetry`, QoS 1. The same
-- columns and watermark as jobs/fleet/source.sql, which it replaces:
--   spate sql run --init jobs/fleet/source-mqtt.sql --init jobs/fleet/features.sql \
--     --init jobs/fleet/sinks-mysql.sql jobs/fleet/pipeline.sql --checkpoint-dir …
-- The session is persistent: readings published while the job is down wait at the broker
-- (up to its queue limit, Mosquitto's max_queued_messages), and a reading is acknowledged
-- only once a checkpoint covers it, so the job needs --checkpoint-dir.

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
  'connector' = 'mqtt',
  'hostname' = '127.0.0.1',
  'port' = '1883',
  'topic' = 'vehicles/+/telemetry',
  'client-id' = 'spate-fleet-telemetry',
  'qos' = '1',
  'scan.session' = 'persistent',
  'format' = 'json'
);
