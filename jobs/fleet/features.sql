-- The features of the engine anomaly model: one row per vehicle and 5 minutes, computed from
-- the raw telemetry the same way by the streaming job (jobs/fleet/pipeline.sql) and by
-- training (`spate model train` runs this file over the archive), so the model sees in
-- production exactly what it was trained on.
--
-- Per window: readings and how many with the engine running; mean and peak coolant and its
-- warm-up slope (°C per minute, least squares over the minutes of the day, in DOUBLE: as
-- DECIMAL its sums' scale grows until a later cast overflows; a 5-minute window never spans
-- midnight); fuel trims (short + long term) at idle (500–1100 rpm, standing) and
-- under load (above 1800 rpm); MAF against displacement × rpm × load; rpm roughness at idle;
-- O2 sensor activity once warm (its spread, how often it sits between rich and lean, and how
-- far the short-term trim swings to follow it); charging voltage (min, mean); stored DTCs; and the context
-- the others depend on, ambient temperature and engine load.
--
-- Early-stage signals: how far the idle rpm falls below its mean (`rpm_idle_drop`: a misfire's
-- crank dip reads 60-180 rpm low) and the idle timing's spread (the computer's knock/idle
-- control dithers the advance harder on a misfiring engine); for the warm-up, the coldest
-- coolant while running, oil against coolant (`oil_coolant_gap`: oil lags the coolant while it
-- warms and runs above it once warm, so a low coolant with the oil above it is a plateau, not
-- a warm-up), road speed (the radiator's airflow) and the heat the engine makes per unit of its
-- heat capacity (`heat_input`, MAF over displacement^0.7), which set how fast a healthy engine
-- warms.
--
-- Signals taken once the engine is warm: the coolant over ambient (`coolant_rise`); the O2
-- sensor's highest reading and its lowest in closed loop (`o2_max`, `o2_min`: a lazy sensor's
-- swings lose height before its switching rate trips P0133); and at warm idle (coolant 65 °C
-- or more, where the idle speed no longer falls with the warm-up) the idle rpm's median less
-- its minimum (`rpm_idle_dip`, a misfire's crank dip), the idle rpm and timing spreads, and
-- how many warm idle readings they rest on.

-- Every reading checked against the OBD-II ranges of its PIDs (SAE J1979): a reading that
-- lacks a PID or holds a value no sensor can report gets a `problem`, is left out of the
-- features and goes to the rejects table with it; nothing is clamped.
CREATE TEMPORARY VIEW checked_telemetry AS
SELECT *,
       CASE
         WHEN vin IS NULL OR ts IS NULL OR engine_l IS NULL THEN 'missing vin, ts or engine_l'
         WHEN engine_rpm IS NULL THEN 'missing engine_rpm'
         WHEN vehicle_speed_kmh IS NULL THEN 'missing vehicle_speed_kmh'
         WHEN engine_load_pct IS NULL THEN 'missing engine_load_pct'
         WHEN coolant_temp_c IS NULL THEN 'missing coolant_temp_c'
         WHEN intake_air_temp_c IS NULL THEN 'missing intake_air_temp_c'
         WHEN maf_g_s IS NULL THEN 'missing maf_g_s'
         WHEN throttle_pct IS NULL THEN 'missing throttle_pct'
         WHEN short_term_fuel_trim_pct IS NULL THEN 'missing short_term_fuel_trim_pct'
         WHEN long_term_fuel_trim_pct IS NULL THEN 'missing long_term_fuel_trim_pct'
         WHEN o2_sensor_v IS NULL THEN 'missing o2_sensor_v'
         WHEN timing_advance_deg IS NULL THEN 'missing timing_advance_deg'
         WHEN control_module_voltage_v IS NULL THEN 'missing control_module_voltage_v'
         WHEN oil_temp_c IS NULL THEN 'missing oil_temp_c'
         WHEN ambient_air_temp_c IS NULL THEN 'missing ambient_air_temp_c'
         WHEN engine_rpm NOT BETWEEN 0 AND 16383.75 THEN 'engine_rpm out of range (0 to 16383.75 rpm)'
         WHEN vehicle_speed_kmh NOT BETWEEN 0 AND 255 THEN 'vehicle_speed_kmh out of range (0 to 255 km/h)'
         WHEN engine_load_pct NOT BETWEEN 0 AND 100 THEN 'engine_load_pct out of range (0 to 100 %)'
         WHEN coolant_temp_c NOT BETWEEN -40 AND 215 THEN 'coolant_temp_c out of range (-40 to 215 °C)'
         WHEN intake_air_temp_c NOT BETWEEN -40 AND 215 THEN 'intake_air_temp_c out of range (-40 to 215 °C)'
         WHEN maf_g_s NOT BETWEEN 0 AND 655.35 THEN 'maf_g_s out of range (0 to 655.35 g/s)'
         WHEN throttle_pct NOT BETWEEN 0 AND 100 THEN 'throttle_pct out of range (0 to 100 %)'
         WHEN short_term_fuel_trim_pct NOT BETWEEN -100 AND 99.2 THEN 'short_term_fuel_trim_pct out of range (-100 to 99.2 %)'
         WHEN long_term_fuel_trim_pct NOT BETWEEN -100 AND 99.2 THEN 'long_term_fuel_trim_pct out of range (-100 to 99.2 %)'
         WHEN o2_sensor_v NOT BETWEEN 0 AND 1.275 THEN 'o2_sensor_v out of range (0 to 1.275 V)'
         WHEN timing_advance_deg NOT BETWEEN -64 AND 63.5 THEN 'timing_advance_deg out of range (-64 to 63.5 °)'
         WHEN control_module_voltage_v NOT BETWEEN 0 AND 65.535 THEN 'control_module_voltage_v out of range (0 to 65.535 V)'
         WHEN oil_temp_c NOT BETWEEN -40 AND 210 THEN 'oil_temp_c out of range (-40 to 210 °C)'
         WHEN ambient_air_temp_c NOT BETWEEN -40 AND 215 THEN 'ambient_air_temp_c out of range (-40 to 215 °C)'
       END AS problem
FROM telemetry;

CREATE TEMPORARY VIEW valid_telemetry AS
SELECT * FROM checked_telemetry WHERE problem IS NULL;

CREATE TEMPORARY VIEW vehicle_windows AS
SELECT vin, model, region, window_start, window_end,
       COUNT(*) AS readings,
       COUNT(*) FILTER (WHERE engine_rpm > 0) AS running,
       AVG(CAST(coolant_temp_c AS DOUBLE)) FILTER (WHERE engine_rpm > 0) AS coolant_mean,
       MAX(coolant_temp_c) FILTER (WHERE engine_rpm > 0) AS coolant_max,
       (COUNT(*) FILTER (WHERE engine_rpm > 0)
          * SUM(CAST(MOD(ts, 86400000) AS DOUBLE) / 60000 * coolant_temp_c) FILTER (WHERE engine_rpm > 0)
        - SUM(CAST(MOD(ts, 86400000) AS DOUBLE) / 60000) FILTER (WHERE engine_rpm > 0)
          * SUM(CAST(coolant_temp_c AS DOUBLE)) FILTER (WHERE engine_rpm > 0))
       / NULLIF(COUNT(*) FILTER (WHERE engine_rpm > 0)
          * SUM(POWER(CAST(MOD(ts, 86400000) AS DOUBLE) / 60000, 2)) FILTER (WHERE engine_rpm > 0)
        - POWER(SUM(CAST(MOD(ts, 86400000) AS DOUBLE) / 60000) FILTER (WHERE engine_rpm > 0), 2), 0)
         AS coolant_slope,
       AVG(CAST(short_term_fuel_trim_pct + long_term_fuel_trim_pct AS DOUBLE))
         FILTER (WHERE engine_rpm BETWEEN 500 AND 1100 AND vehicle_speed_kmh = 0) AS trim_idle,
       AVG(CAST(short_term_fuel_trim_pct + long_term_fuel_trim_pct AS DOUBLE))
         FILTER (WHERE engine_rpm > 1800) AS trim_load,
       AVG(maf_g_s / (engine_l * engine_rpm * engine_load_pct) * 100000.0)
         FILTER (WHERE engine_rpm > 0 AND engine_load_pct > 10) AS maf_ratio,
       STDDEV_SAMP(CAST(engine_rpm AS DOUBLE))
         FILTER (WHERE engine_rpm BETWEEN 500 AND 1100 AND vehicle_speed_kmh = 0)
         AS rpm_idle_stddev,
       AVG(CAST(engine_rpm AS DOUBLE))
         FILTER (WHERE engine_rpm BETWEEN 500 AND 1100 AND vehicle_speed_kmh = 0)
         - MIN(CAST(engine_rpm AS DOUBLE))
         FILTER (WHERE engine_rpm BETWEEN 500 AND 1100 AND vehicle_speed_kmh = 0)
         AS rpm_idle_drop,
       STDDEV_SAMP(CAST(timing_advance_deg AS DOUBLE))
         FILTER (WHERE engine_rpm BETWEEN 500 AND 1100 AND vehicle_speed_kmh = 0)
         AS timing_idle_stddev,
       STDDEV_SAMP(CAST(o2_sensor_v AS DOUBLE)) FILTER (WHERE engine_rpm > 0 AND coolant_temp_c > 70)
         AS o2_stddev,
       AVG(CASE WHEN o2_sensor_v BETWEEN 0.3 AND 0.6 THEN 1.0 ELSE 0.0 END)
         FILTER (WHERE engine_rpm > 0 AND coolant_temp_c > 70) AS o2_mid_share,
       STDDEV_SAMP(CAST(short_term_fuel_trim_pct AS DOUBLE))
         FILTER (WHERE engine_rpm > 0 AND coolant_temp_c > 70) AS stft_stddev,
       MIN(control_module_voltage_v) FILTER (WHERE engine_rpm > 0) AS voltage_min,
       AVG(CAST(control_module_voltage_v AS DOUBLE)) FILTER (WHERE engine_rpm > 0) AS voltage_mean,
       CAST(MAX(CARDINALITY(dtcs)) AS INT) AS dtc_count,
       AVG(CAST(ambient_air_temp_c AS DOUBLE)) AS ambient_mean,
       AVG(CAST(engine_load_pct AS DOUBLE)) FILTER (WHERE engine_rpm > 0) AS load_mean,
       MIN(coolant_temp_c) FILTER (WHERE engine_rpm > 0) AS coolant_min,
       AVG(CAST(oil_temp_c - coolant_temp_c AS DOUBLE)) FILTER (WHERE engine_rpm > 0)
         AS oil_coolant_gap,
       AVG(CAST(vehicle_speed_kmh AS DOUBLE)) FILTER (WHERE engine_rpm > 0) AS speed_mean,
       AVG(maf_g_s / POWER(engine_l, 0.7)) FILTER (WHERE engine_rpm > 0) AS heat_input,
       AVG(CAST(coolant_temp_c - ambient_air_temp_c AS DOUBLE)) FILTER (WHERE engine_rpm > 0)
         AS coolant_rise,
       MAX(o2_sensor_v) FILTER (WHERE engine_rpm > 0 AND coolant_temp_c > 70) AS o2_max,
       MIN(o2_sensor_v)
         FILTER (WHERE engine_rpm > 0 AND coolant_temp_c > 70 AND short_term_fuel_trim_pct <> 0)
         AS o2_min,
       PERCENTILE(CAST(engine_rpm AS DOUBLE), 0.5)
         FILTER (WHERE engine_rpm BETWEEN 500 AND 1100 AND vehicle_speed_kmh = 0
                   AND coolant_temp_c >= 65)
         - MIN(CAST(engine_rpm AS DOUBLE))
         FILTER (WHERE engine_rpm BETWEEN 500 AND 1100 AND vehicle_speed_kmh = 0
                   AND coolant_temp_c >= 65)
         AS rpm_idle_dip,
       STDDEV_SAMP(CAST(engine_rpm AS DOUBLE))
         FILTER (WHERE engine_rpm BETWEEN 500 AND 1100 AND vehicle_speed_kmh = 0
                   AND coolant_temp_c >= 65)
         AS rpm_warm_idle_stddev,
       STDDEV_SAMP(CAST(timing_advance_deg AS DOUBLE))
         FILTER (WHERE engine_rpm BETWEEN 500 AND 1100 AND vehicle_speed_kmh = 0
                   AND coolant_temp_c >= 65)
         AS timing_warm_idle_stddev,
       COUNT(*) FILTER (WHERE engine_rpm BETWEEN 500 AND 1100 AND vehicle_speed_kmh = 0
                          AND coolant_temp_c >= 65)
         AS warm_idle_readings
FROM TABLE(TUMBLE(TABLE valid_telemetry, DESCRIPTOR(event_time), INTERVAL '5' MINUTE))
GROUP BY vin, model, region, window_start, window_end;

-- Each window also carries what the vehicle did before it, as OVER windows by VIN over
-- window_end (every window, parked ones too, so that engine-off time counts):
--
-- - the last 30 minutes: the share of readings with the engine running (a warm-up needs
--   running time), the mean heat input and the coldest coolant, so a coolant that stays low
--   after half an hour of driving is told from one still warming up;
-- - the last two hours: early faults show in some windows only (a misfire's dip is caught by
--   one idle reading in ten at first, a stuck-closed thermostat only under load), so the
--   largest idle rpm drops, the mean idle roughness and timing spread, the idle readings
--   they rest on, the warmest coolant, the mean O2 range and mid-share, the idle and load
--   trims, the coolant over ambient, the running share, the charging voltage (mean and
--   lowest), the MAF against the air taken in, and the O2 and short-term trim spreads over two
--   hours see a fault that one window may miss (a dirty MAF's or a lazy sensor's first tenths
--   move them less than one window's noise; two hours average it down);
-- - the last day: the vehicle's own baseline. A healthy vehicle's tolerances and age put its
--   MAF ratio, trims and charging voltage anywhere in the fleet's spread (a MAF reading 1 %
--   low, trims 2 % rich, a regulator 0.3 V under its siblings') and keep them there; a fault
--   moves the vehicle away from where it was. So the last two hours' MAF ratio, idle and load
--   trims and their difference, voltage, O2 peak and largest idle dip less the day's mean of
--   them (`*_change`), and the day's windows with an idle dip over 40 rpm. The day's mean is
--   taken over the two-hour values at each full hour (the dip windows over every second
--   hour's, which tile the day), so the frame holds 24 rows per vehicle, not 288: the FILTER
--   keeps the other windows out of it.
-- Each view names its window once (Flink's `WINDOW w AS (…)` clause).
CREATE TEMPORARY VIEW recent_windows AS
SELECT *,
       SUM(running) OVER w30m AS running_30m,
       SUM(readings) OVER w30m AS readings_30m,
       AVG(heat_input) OVER w30m AS heat_input_30m,
       MIN(coolant_min) OVER w30m AS coolant_min_30m
FROM vehicle_windows
WINDOW w30m AS (PARTITION BY vin ORDER BY window_end
  RANGE BETWEEN INTERVAL '30' MINUTE PRECEDING AND CURRENT ROW);

CREATE TEMPORARY VIEW history_windows AS
SELECT *,
       MAX(rpm_idle_drop) OVER w2h AS rpm_idle_drop_2h,
       AVG(rpm_idle_stddev) OVER w2h AS rpm_idle_stddev_2h,
       MAX(coolant_max) OVER w2h AS coolant_max_2h,
       AVG(o2_mid_share) OVER w2h AS o2_mid_share_2h,
       MAX(rpm_idle_dip) OVER w2h AS rpm_idle_dip_2h,
       SUM(CASE WHEN rpm_idle_dip > 40 THEN 1 ELSE 0 END) OVER w2h AS rpm_dip_windows_2h,
       AVG(rpm_warm_idle_stddev) OVER w2h AS rpm_warm_idle_stddev_2h,
       AVG(timing_warm_idle_stddev) OVER w2h AS timing_warm_idle_stddev_2h,
       SUM(warm_idle_readings) OVER w2h AS warm_idle_readings_2h,
       AVG(o2_max) OVER w2h AS o2_max_2h,
       AVG(o2_min) OVER w2h AS o2_min_2h,
       AVG(trim_idle) OVER w2h AS trim_idle_2h,
       AVG(trim_load) OVER w2h AS trim_load_2h,
       AVG(coolant_rise) OVER w2h AS coolant_rise_2h,
       SUM(running) OVER w2h AS running_2h,
       SUM(readings) OVER w2h AS readings_2h,
       AVG(voltage_mean) OVER w2h AS voltage_mean_2h,
       MIN(voltage_min) OVER w2h AS voltage_min_2h,
       AVG(maf_ratio) OVER w2h AS maf_ratio_2h,
       AVG(o2_stddev) OVER w2h AS o2_stddev_2h,
       AVG(stft_stddev) OVER w2h AS stft_stddev_2h
FROM recent_windows
WINDOW w2h AS (PARTITION BY vin ORDER BY window_end
  RANGE BETWEEN INTERVAL '2' HOUR PRECEDING AND CURRENT ROW);

CREATE TEMPORARY VIEW baseline_windows AS
SELECT *,
       AVG(maf_ratio_2h) FILTER (WHERE MINUTE(window_end) = 0) OVER w24h AS maf_ratio_24h,
       AVG(trim_idle_2h) FILTER (WHERE MINUTE(window_end) = 0) OVER w24h AS trim_idle_24h,
       AVG(trim_load_2h) FILTER (WHERE MINUTE(window_end) = 0) OVER w24h AS trim_load_24h,
       AVG(trim_idle_2h - trim_load_2h) FILTER (WHERE MINUTE(window_end) = 0) OVER w24h
         AS trim_diff_24h,
       AVG(voltage_mean_2h) FILTER (WHERE MINUTE(window_end) = 0) OVER w24h AS voltage_mean_24h,
       AVG(o2_max_2h) FILTER (WHERE MINUTE(window_end) = 0) OVER w24h AS o2_max_24h,
       AVG(rpm_idle_dip_2h) FILTER (WHERE MINUTE(window_end) = 0) OVER w24h AS rpm_idle_dip_24h,
       SUM(rpm_dip_windows_2h)
         FILTER (WHERE MINUTE(window_end) = 0 AND MOD(HOUR(window_end), 2) = 0) OVER w24h
         AS rpm_dip_windows_24h
FROM history_windows
WINDOW w24h AS (PARTITION BY vin ORDER BY window_end
  RANGE BETWEEN INTERVAL '24' HOUR PRECEDING AND CURRENT ROW);

-- The windows the model scores: the engine ran for at least a fifth of the window (a parked
-- vehicle shows nothing of its engine's health). A leak's trims are high at idle and recover
-- under load, so `trim_diff` is the idle trim over the load trim (the vehicle's own offsets
-- cancel).
CREATE TEMPORARY VIEW running_windows AS
SELECT *,
       trim_idle - trim_load AS trim_diff,
       trim_idle_2h - trim_load_2h AS trim_diff_2h,
       CAST(running_30m AS DOUBLE) / readings_30m AS running_share_30m,
       CAST(running_2h AS DOUBLE) / readings_2h AS running_share_2h,
       maf_ratio_2h - maf_ratio_24h AS maf_ratio_change,
       trim_idle_2h - trim_idle_24h AS trim_idle_change,
       trim_load_2h - trim_load_24h AS trim_load_change,
       trim_idle_2h - trim_load_2h - trim_diff_24h AS trim_diff_change,
       voltage_mean_2h - voltage_mean_24h AS voltage_change,
       o2_max_2h - o2_max_24h AS o2_max_change,
       rpm_idle_dip_2h - rpm_idle_dip_24h AS rpm_idle_dip_change
FROM baseline_windows WHERE running * 5 >= readings;
