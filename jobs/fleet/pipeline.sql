-- The speed layer of the fleet's predictive maintenance: every raw reading archived, and every
-- vehicle's 5-minute feature window scored by the live engine anomaly model. Read with the
-- telemetry source, the feature views and a set of sinks first:
--   spate sql run --init jobs/fleet/source.sql --init jobs/fleet/features.sql \
--     --init jobs/fleet/sinks-log.sql jobs/fleet/pipeline.sql --checkpoint-dir …
-- (sinks-mysql.sql instead of sinks-log.sql writes the health table to MySQL/MariaDB).
--
-- The model is the live version of the registry that `spate model train` and `promote` keep;
-- a newly promoted version is picked up within a second, without stopping the job. Its output:
-- the probability that the window is anomalous (`score`), the model's decision threshold
-- (`threshold`), the three signals that pushed the score most (`top_signals`) and the version
-- that scored it (`model_version`). The verdict rests on the vehicle's health score, the
-- window's score averaged with its recent windows' (below), which is what training chose the
-- threshold for.

CREATE MODEL engine_anomaly
INPUT (running BIGINT, coolant_mean DOUBLE, coolant_max INT, coolant_slope DOUBLE,
       trim_idle DOUBLE, trim_load DOUBLE, maf_ratio DOUBLE, rpm_idle_stddev DOUBLE,
       o2_stddev DOUBLE, o2_mid_share DOUBLE, stft_stddev DOUBLE, voltage_min FLOAT,
       voltage_mean DOUBLE, dtc_count INT, ambient_mean DOUBLE, load_mean DOUBLE,
       rpm_idle_drop DOUBLE, timing_idle_stddev DOUBLE, coolant_min INT,
       oil_coolant_gap DOUBLE, speed_mean DOUBLE, heat_input DOUBLE, rpm_idle_drop_2h DOUBLE,
       rpm_idle_stddev_2h DOUBLE, coolant_max_2h INT, o2_mid_share_2h DOUBLE,
       coolant_rise DOUBLE, o2_max FLOAT, o2_min FLOAT, rpm_idle_dip DOUBLE,
       rpm_warm_idle_stddev DOUBLE, timing_warm_idle_stddev DOUBLE, warm_idle_readings BIGINT,
       running_share_30m DOUBLE, heat_input_30m DOUBLE, coolant_min_30m INT,
       rpm_idle_dip_2h DOUBLE, rpm_warm_idle_stddev_2h DOUBLE, timing_warm_idle_stddev_2h DOUBLE,
       warm_idle_readings_2h BIGINT, o2_max_2h DOUBLE, o2_min_2h DOUBLE, trim_idle_2h DOUBLE,
       trim_load_2h DOUBLE, coolant_rise_2h DOUBLE, running_share_2h DOUBLE,
       voltage_mean_2h DOUBLE, trim_diff DOUBLE, voltage_min_2h FLOAT, maf_ratio_2h DOUBLE,
       o2_stddev_2h DOUBLE, stft_stddev_2h DOUBLE, trim_diff_2h DOUBLE, rpm_dip_windows_2h BIGINT,
       maf_ratio_change DOUBLE, trim_idle_change DOUBLE, trim_load_change DOUBLE,
       trim_diff_change DOUBLE, voltage_change DOUBLE, o2_max_change DOUBLE,
       rpm_idle_dip_change DOUBLE, rpm_dip_windows_24h BIGINT)
OUTPUT (score DOUBLE, threshold DOUBLE, top_signals STRING, model_version STRING)
WITH (
  'provider' = 'spate',
  'registry' = 'spate-data/models/engine-anomaly'
);

-- Every raw reading, as Parquet files partitioned by day and hour; a partition gets its
-- _SUCCESS file once the watermark has passed its hour.
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
INSERT INTO telemetry_archive
SELECT vin, ts, model, engine_l, region, engine_rpm, vehicle_speed_kmh, engine_load_pct,
       coolant_temp_c, intake_air_temp_c, maf_g_s, throttle_pct, short_term_fuel_trim_pct,
       long_term_fuel_trim_pct, o2_sensor_v, timing_advance_deg, control_module_voltage_v,
       oil_temp_c, ambient_air_temp_c, odometer_km, dtcs,
       DATE_FORMAT(event_time, 'yyyy-MM-dd'), DATE_FORMAT(event_time, 'HH')
FROM telemetry;

INSERT INTO telemetry_rejects
SELECT vin, ts, problem FROM checked_telemetry WHERE problem IS NOT NULL;

-- Every scored window.
CREATE TEMPORARY VIEW scored_windows AS
SELECT *
FROM ML_PREDICT(TABLE running_windows, MODEL engine_anomaly,
                DESCRIPTOR(running, coolant_mean, coolant_max, coolant_slope, trim_idle,
                           trim_load, maf_ratio, rpm_idle_stddev, o2_stddev, o2_mid_share,
                           stft_stddev, voltage_min, voltage_mean, dtc_count, ambient_mean,
                           load_mean, rpm_idle_drop, timing_idle_stddev, coolant_min,
                           oil_coolant_gap, speed_mean, heat_input, rpm_idle_drop_2h,
                           rpm_idle_stddev_2h, coolant_max_2h, o2_mid_share_2h, coolant_rise,
                           o2_max, o2_min, rpm_idle_dip, rpm_warm_idle_stddev,
                           timing_warm_idle_stddev, warm_idle_readings, running_share_30m,
                           heat_input_30m, coolant_min_30m, rpm_idle_dip_2h,
                           rpm_warm_idle_stddev_2h, timing_warm_idle_stddev_2h,
                           warm_idle_readings_2h, o2_max_2h, o2_min_2h, trim_idle_2h,
                           trim_load_2h, coolant_rise_2h, running_share_2h, voltage_mean_2h,
                           trim_diff, voltage_min_2h, maf_ratio_2h, o2_stddev_2h,
                           stft_stddev_2h, trim_diff_2h, rpm_dip_windows_2h,
                           maf_ratio_change, trim_idle_change, trim_load_change,
                           trim_diff_change, voltage_change, o2_max_change,
                           rpm_idle_dip_change, rpm_dip_windows_24h));

-- The vehicle's health score: the mean of the window's score, the mean over the vehicle's
-- last 4 scored windows and the mean over its last 12 (each with the window itself). A fault's
-- first tenths show in some windows only, and a healthy engine at the fleet's edge scores high
-- in an odd window; the runs count windows, not time, so the last trip still counts at the
-- start of the next. `spate model train` picks the threshold on these scores
-- (crates/ml/src/health.rs computes the same), and the verdict is the health score at or above it.
CREATE TEMPORARY VIEW recent_scores AS
SELECT *, AVG(score) OVER last4 AS score_last4
FROM scored_windows
WINDOW last4 AS (PARTITION BY vin ORDER BY window_end ROWS BETWEEN 3 PRECEDING AND CURRENT ROW);

CREATE TEMPORARY VIEW health_scores AS
SELECT *, (score + score_last4 + AVG(score) OVER last12) / 3 AS health_score
FROM recent_scores
WINDOW last12 AS (PARTITION BY vin ORDER BY window_end ROWS BETWEEN 11 PRECEDING AND CURRENT ROW);

INSERT INTO vehicle_health
SELECT vin, model, region, window_start, window_end, readings, running, coolant_mean,
       coolant_max, coolant_slope, trim_idle, trim_load, maf_ratio, rpm_idle_stddev, o2_stddev,
       o2_mid_share, stft_stddev, voltage_min, voltage_mean, dtc_count, ambient_mean, load_mean,
       health_score, health_score >= threshold, top_signals, model_version
FROM health_scores;
