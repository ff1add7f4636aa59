-- Real-time API analytics over the privacy API's access log (jobs/api/source.sql first, then
-- the sink tables of jobs/api/sinks-*.sql):
--   api_metrics_10s  per endpoint, every 10 s: QPS, latency percentiles, error rates, bytes
--   geo_metrics_1m   per country and city, every minute: calls and latency, for the map
--   key_usage_1m     per API key (with its customer and plan), over the last minute, every 10 s
--   client_scores    per client address, over the last 20 s, every 5 s: features, an attack
--                    score and its reason (the latest window per address)
--   attack_alerts    per attacking address and reason: when the attack started, when it was
--                    last seen, and how strong it was at its peak
--
-- Counts of requests are COUNT(DISTINCT event_id): the collector delivers at least once, and a
-- line shipped twice after a crash carries the same event_id, so it is counted once.
--
-- The attack rules follow the practice of fail2ban, crowdsec and WAF rate rules: a rule
-- fires when a client exceeds a count within a short sliding window (20 s, sliding every 5 s),
-- and its score is the count over its threshold (1.0 = the threshold). A client's attack score
-- is its highest rule score; its reason is the most specific rule that fires, in this order.
-- Change a threshold in the view `client_rules`:
--   credential_stuffing  ≥ 10 answers 401 in 20 s, and at least 80 % of the client's requests
--                        (fail2ban's maxretry over findtime; crowdsec's http-bf scenarios)
--   scanning             ≥ 10 distinct paths answered 404 in 20 s (crowdsec http-probing:
--                        a bucket of 10 distinct 404 paths)
--   scraping             ≥ 20 requests in 20 s with a valid API key, one per second sustained:
--                        a customer's key harvesting results (its plan's rate limit answers
--                        the excess with 429)
--   flood                ≥ 20 requests in 20 s from one address, with or without a key
--                        (AWS WAF / Cloudflare rate-based rules per IP); a normal user of this
--                        API sends a photo every few seconds at most

-- Known routes keep their name; anything else (scanners' paths) is 'other', so the metrics
-- table does not grow by one row per probed path.
CREATE TEMPORARY VIEW access AS
SELECT a.ts, a.event_id, a.client_ip, a.api_key, a.status, a.latency_ms, a.bytes_in,
       a.bytes_out, a.`path`, a.geo_country, a.geo_city, a.geo_lat, a.geo_lon, a.ua_class,
       CASE WHEN a.`path` IN ('/v1/privacy/blur', '/', '/metrics', '/healthz') THEN a.`path`
            ELSE 'other' END AS endpoint,
       k.customer, k.plan
FROM access_log AS a
LEFT JOIN api_keys FOR SYSTEM_TIME AS OF a.proc_time AS k ON a.api_key = k.id;

INSERT INTO api_metrics_10s
SELECT window_start, window_end, endpoint,
       COUNT(DISTINCT event_id),
       COUNT(DISTINCT event_id) / 10.0,
       PERCENTILE(latency_ms, 0.5),
       PERCENTILE(latency_ms, 0.95),
       PERCENTILE(latency_ms, 0.99),
       CAST(COUNT(DISTINCT event_id) FILTER (WHERE status >= 400 AND status < 500) AS DOUBLE)
         / COUNT(DISTINCT event_id),
       CAST(COUNT(DISTINCT event_id) FILTER (WHERE status >= 500) AS DOUBLE)
         / COUNT(DISTINCT event_id),
       SUM(bytes_in),
       SUM(bytes_out)
FROM TABLE(TUMBLE(TABLE access, DESCRIPTOR(ts), INTERVAL '10' SECOND))
GROUP BY window_start, window_end, endpoint;

INSERT INTO geo_metrics_1m
SELECT window_start, window_end, geo_country, geo_city,
       AVG(geo_lat), AVG(geo_lon),
       COUNT(DISTINCT event_id),
       COUNT(DISTINCT client_ip),
       AVG(latency_ms),
       CAST(COUNT(DISTINCT event_id) FILTER (WHERE status >= 400) AS DOUBLE)
         / COUNT(DISTINCT event_id)
FROM TABLE(TUMBLE(TABLE access, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
WHERE geo_country IS NOT NULL
GROUP BY window_start, window_end, geo_country, geo_city;

INSERT INTO key_usage_1m
SELECT window_start, window_end, api_key, MAX(customer), MAX(plan),
       COUNT(DISTINCT event_id),
       COUNT(DISTINCT event_id) FILTER (WHERE status = 429),
       COUNT(DISTINCT client_ip),
       AVG(latency_ms)
FROM TABLE(HOP(TABLE access, DESCRIPTOR(ts), INTERVAL '10' SECOND, INTERVAL '1' MINUTE))
WHERE api_key IS NOT NULL
GROUP BY window_start, window_end, api_key;

-- Per client address over the last 20 s, every 5 s.
CREATE TEMPORARY VIEW client_windows AS
SELECT window_start, window_end, client_ip,
       MAX(api_key) AS api_key, MAX(customer) AS customer, MAX(plan) AS plan,
       MAX(geo_country) AS country, MAX(ua_class) AS ua_class,
       COUNT(DISTINCT event_id) AS requests,
       COUNT(DISTINCT event_id) FILTER (WHERE status = 401) AS unauthorized,
       COUNT(DISTINCT event_id) FILTER (WHERE status = 404) AS not_found,
       COUNT(DISTINCT event_id) FILTER (WHERE status = 429) AS throttled,
       COUNT(DISTINCT event_id) FILTER (WHERE customer IS NOT NULL) AS keyed,
       COUNT(DISTINCT `path`) FILTER (WHERE status = 404) AS distinct_404_paths,
       COUNT(DISTINCT `path`) AS distinct_paths,
       MIN(ts) AS first_seen,
       MAX(ts) AS last_seen
FROM TABLE(HOP(TABLE access, DESCRIPTOR(ts), INTERVAL '5' SECOND, INTERVAL '20' SECOND))
GROUP BY window_start, window_end, client_ip;

-- Each rule's count over its threshold (see the header).
CREATE TEMPORARY VIEW client_rules AS
SELECT *,
       CASE WHEN unauthorized * 5 >= requests * 4 THEN unauthorized / 10.0 ELSE 0.0 END
         AS stuffing,
       distinct_404_paths / 10.0 AS scanning,
       keyed / 20.0 AS scraping,
       requests / 20.0 AS flood
FROM client_windows;

CREATE TEMPORARY VIEW client_verdicts AS
SELECT *,
       GREATEST(stuffing, scanning, scraping, flood) AS attack_score,
       CASE
         WHEN stuffing >= 1.0 THEN 'credential_stuffing'
         WHEN scanning >= 1.0 THEN 'scanning'
         WHEN scraping >= 1.0 THEN 'scraping'
         WHEN flood >= 1.0 THEN 'flood'
         ELSE 'normal'
       END AS reason
FROM client_rules;

INSERT INTO client_scores
SELECT client_ip, window_start, window_end, api_key, customer, plan, country, ua_class,
       requests, unauthorized, not_found, throttled, keyed, distinct_404_paths,
       distinct_paths, attack_score, reason, attack_score >= 1.0
FROM client_verdicts;

INSERT INTO attack_alerts
SELECT client_ip, reason, MIN(first_seen), MAX(last_seen), MAX(attack_score),
       MAX(requests), MAX(api_key), MAX(customer), MAX(country)
FROM client_verdicts
WHERE attack_score >= 1.0
GROUP BY client_ip, reason;
