// The API analytics dashboard: the tables of jobs/api/sinks-store.sql, drawn and kept live.

import { query, time } from "./live.js";
import { svg, html, timeChart, short } from "./svg.js";
import { paths } from "./topojson.js";
import { follow, fixed } from "./page.js";

const $ = (id) => document.getElementById(id);

// The 15 minutes up to a table's newest window: a job replaying old traffic shows too.
const recent = (table) =>
  `window_end > (SELECT max(window_end) FROM ${table}) - INTERVAL '15' MINUTE`;

// --- api_metrics_10s: QPS, latency, error rates ---

let metrics = [];

async function refreshMetrics() {
  metrics = await query(
    `SELECT window_start, endpoint, requests, qps, latency_p50_ms, latency_p95_ms,
            latency_p99_ms, client_error_rate, server_error_rate
     FROM api_metrics_10s WHERE ${recent("api_metrics_10s")} ORDER BY window_start`,
  );
  drawMetrics();
  return metrics.length ? "" : "no rows in api_metrics_10s yet";
}

function drawMetrics() {
  const qps = new Map();
  for (const row of metrics) {
    const key = row.window_start;
    qps.set(key, (qps.get(key) || 0) + row.qps);
  }
  timeChart($("qps"), [
    { name: "requests/s", color: "#2563eb", points: [...qps].map(([t, v]) => [time(t), v]) },
  ], { unit: "req/s" });

  // Endpoints, busiest first, with their requests and error answers.
  const endpoints = new Map();
  for (const row of metrics) {
    const e = endpoints.get(row.endpoint) || { requests: 0, client: 0, server: 0 };
    e.requests += row.requests;
    e.client += row.client_error_rate * row.requests;
    e.server += row.server_error_rate * row.requests;
    endpoints.set(row.endpoint, e);
  }
  const ranked = [...endpoints].sort((a, b) => b[1].requests - a[1].requests);
  drawLatency(ranked.map(([name]) => name));
  drawErrors(ranked);
}

function drawLatency(endpoints) {
  const select = $("endpoint");
  const chosen = endpoints.includes(select.value) ? select.value : endpoints[0];
  select.replaceChildren(...endpoints.map((e) => html("option", { value: e }, [e])));
  if (chosen) select.value = chosen;
  const rows = metrics.filter((r) => r.endpoint === chosen);
  const series = (name, column, color) => ({
    name,
    color,
    points: rows.map((r) => [time(r.window_start), r[column]]),
  });
  timeChart($("latency"), [
    series("p50", "latency_p50_ms", "#16a34a"),
    series("p95", "latency_p95_ms", "#f59e0b"),
    series("p99", "latency_p99_ms", "#dc2626"),
  ], { unit: "ms" });
}

function drawErrors(ranked) {
  const bar = (share, kind) =>
    html("div", { class: `bar ${kind}`, style: `width:${Math.min(100, share * 100).toFixed(1)}%` });
  const percent = (share) => (share * 100).toFixed(1) + " %";
  $("errors").replaceChildren(
    html("tr", {}, ["endpoint", "requests", "4xx", "5xx"].map((h) => html("th", {}, [h]))),
    ...ranked.map(([name, e]) => {
      const client = e.requests ? e.client / e.requests : 0;
      const server = e.requests ? e.server / e.requests : 0;
      return html("tr", { class: "endpoint" }, [
        html("td", { class: "name" }, [name]),
        html("td", { class: "num" }, [short(e.requests)]),
        html("td", {}, [percent(client), bar(client, "client")]),
        html("td", {}, [percent(server), bar(server, "server")]),
      ]);
    }),
  );
}

$("endpoint").addEventListener("change", drawMetrics);

// --- geo_metrics_1m: callers on a world map ---

const MAP = { width: 720, height: 360, top: 84, bottom: -58 };
const project = ([lon, lat]) => [
  ((lon + 180) / 360) * MAP.width,
  ((MAP.top - lat) / (MAP.top - MAP.bottom)) * MAP.height,
];
let world = null;

async function drawWorld() {
  const response = await fetch("/dashboard/assets/countries-110m.json");
  const topology = await response.json();
  world = svg("g", { class: "countries" },
    paths(topology, "countries", project).map((c) =>
      svg("path", { d: c.d, "fill-rule": "evenodd" }, [svg("title", {}, [c.name || ""])]),
    ),
  );
}

async function refreshGeo() {
  const [cities] = await Promise.all([
    query(
      `SELECT country, city, lat, lon, sum(requests) AS requests,
              sum(error_rate * requests) / sum(requests) AS error_rate
       FROM geo_metrics_1m WHERE ${recent("geo_metrics_1m")} AND lat IS NOT NULL
       GROUP BY country, city, lat, lon ORDER BY requests DESC LIMIT 500`,
    ),
    world ? null : drawWorld(),
  ]);
  const total = cities.reduce((sum, c) => sum + c.requests, 0) || 1;
  const dots = cities.map((c) => {
    const [x, y] = project([c.lon, c.lat]);
    const r = Math.max(2, Math.sqrt(c.requests / total) * 40);
    const where = [c.city, c.country].filter(Boolean).join(", ");
    return svg("circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: r.toFixed(1), class: "caller" }, [
      svg("title", {}, [`${where}: ${c.requests} requests, ${(c.error_rate * 100).toFixed(1)} % errors`]),
    ]);
  });
  const map = svg("svg", { viewBox: `0 0 ${MAP.width} ${MAP.height}`, class: "map", role: "img" }, [
    world,
    svg("g", { class: "callers" }, dots),
  ]);
  $("map").replaceChildren(map);
  return cities.length ? "" : "no located callers in geo_metrics_1m yet";
}

// --- client_scores: the top 20 by attack score ---

async function refreshClients() {
  const rows = await query(
    `SELECT client_ip, country, ua_class, requests, unauthorized, not_found, attack_score,
            reason, attacking
     FROM client_scores ORDER BY attack_score DESC, client_ip LIMIT 20`,
  );
  $("clients").replaceChildren(
    html("tr", {}, ["client", "country", "req", "401", "404", "score", "reason"].map((h) =>
      html("th", {}, [h]))),
    ...rows.map((r) =>
      html("tr", { class: r.attacking ? "client attacking" : "client" }, [
        html("td", { class: "ip" }, [r.client_ip]),
        html("td", { title: r.ua_class || "" }, [r.country || ""]),
        html("td", { class: "num" }, [String(r.requests)]),
        html("td", { class: "num" }, [String(r.unauthorized)]),
        html("td", { class: "num" }, [String(r.not_found)]),
        html("td", { class: "num score" }, [fixed(r.attack_score, 2)]),
        html("td", { class: "reason" }, [r.reason || ""]),
      ]),
    ),
  );
  return rows.length ? "" : "no client scores yet";
}

// --- attack_alerts: newest first ---

async function refreshAlerts() {
  const rows = await query(
    `SELECT client_ip, reason, started, last_seen, peak_score, peak_requests, customer, country
     FROM attack_alerts ORDER BY started DESC, client_ip LIMIT 50`,
  );
  const at = (value) => time(value).toISOString().replace("T", " ").slice(0, 19);
  $("alerts").replaceChildren(
    html("tr", {}, ["started", "last seen", "client", "reason", "peak score"].map((h) =>
      html("th", {}, [h]))),
    ...rows.map((r) =>
      html("tr", { class: "alert" }, [
        html("td", { title: `${at(r.started)} UTC` }, [at(r.started).slice(11)]),
        html("td", { title: `${at(r.last_seen)} UTC` }, [at(r.last_seen).slice(11)]),
        html("td", { class: "ip", title: r.customer || "" }, [r.client_ip, r.country ? ` (${r.country})` : ""]),
        html("td", { class: "reason" }, [r.reason]),
        html("td", { class: "num", title: `${r.peak_requests} requests at the peak` }, [fixed(r.peak_score, 1)]),
      ]),
    ),
  );
  return rows.length ? "" : "no attacks seen";
}

follow("api_metrics_10s", refreshMetrics, $("metrics-status"));
follow("geo_metrics_1m", refreshGeo, $("geo-status"));
follow("client_scores", refreshClients, $("clients-status"));
follow("attack_alerts", refreshAlerts, $("alerts-status"));
