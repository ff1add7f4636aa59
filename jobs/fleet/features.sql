-- The features of the engine anomaly model: one row per vehicle and 5 minutes, computed from
-- the raw telemetry the same way by the streaming job (jobs/fleet/pipeline.sql) and by
-- training (`spate model train` runs this file over the archive), so the model sees in
-- production exactly what it was trained on.
--
-- Per window: readings and how many with the engine running; mean and peak coolant and its
-- warm-up slope (°C per minute, least squares over the minutes of the day; a 5-minute window
-- never spans midnight); fuel trims (short + long term) at idle (500–1100 rpm, standing) and
-- under load (above 1800 rpm); MAF against displacement × rpm × load; rpm roughness at idle;
-- O2 sensor activity once warm; charging voltage (min, mean); stored DTCs; and the context
-- the others depend on, ambient temperature and engine load.

CREATE TEMPORARY VIEW vehicle_windows AS
SELECT vin, model, region, window_start, window_end,
       COUNT(*) AS readings,
       COUNT(*) FILTER (WHERE engine_rpm > 0) AS running,
       AVG(CAST(coolant_temp_c AS DOUBLE)) FILTER (WHERE engine_rpm > 0) AS coolant_mean,
       MAX(coolant_temp_c) FILTER (WHERE engine_rpm > 0) AS coolant_max,
       (COUNT(*) FILTER (WHERE engine_rpm > 0)
          * SUM(MOD(ts, 86400000) / 60000.0 * coolant_temp_c) FILTER (WHERE engine_rpm > 0)
        - SUM(MOD(ts, 86400000) / 60000.0) FILTER (WHERE engine_rpm > 0)
          * SUM(CAST(coolant_temp_c AS DOUBLE)) FILTER (WHERE engine_rpm > 0))
       / NULLIF(COUNT(*) FILTER (WHERE engine_rpm > 0)
          * SUM(POWER(MOD(ts, 86400000) / 60000.0, 2)) FILTER (WHERE engine_rpm > 0)
        - POWER(SUM(MOD(ts, 86400000) / 60000.0) FILTER (WHERE engine_rpm > 0), 2), 0)
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
       STDDEV_SAMP(CAST(o2_sensor_v AS DOUBLE)) FILTER (WHERE engine_rpm > 0 AND coolant_temp_c > 70)
         AS o2_stddev,
       MIN(control_module_voltage_v) FILTER (WHERE engine_rpm > 0) AS voltage_min,
       AVG(CAST(control_module_voltage_v AS DOUBLE)) FILTER (WHERE engine_rpm > 0) AS voltage_mean,
       CAST(MAX(CARDINALITY(dtcs)) AS INT) AS dtc_count,
       AVG(CAST(ambient_air_temp_c AS DOUBLE)) AS ambient_mean,
       AVG(CAST(engine_load_pct AS DOUBLE)) FILTER (WHERE engine_rpm > 0) AS load_mean
FROM TABLE(TUMBLE(TABLE telemetry, DESCRIPTOR(event_time), INTERVAL '5' MINUTE))
GROUP BY vin, model, region, window_start, window_end;

-- The windows the model scores: the engine ran for at least a fifth of the window (a parked
-- vehicle shows nothing of its engine's health).
CREATE TEMPORARY VIEW running_windows AS
SELECT * FROM vehicle_windows WHERE running * 5 >= readings;
