// The fleet dashboard: every vehicle of vehicle_health (jobs/fleet/sinks-store.sql) as a dot,
// red when its latest window was anomalous, and the row of the vehicle clicked.

import { query, time, literal } from "./live.js";
import { svg, html } from "./svg.js";
import { follow, fixed } from "./page.js";

const $ = (id) => document.getElementById(id);

// At most this many dots; the anomalous vehicles first, then by VIN.
const MAX_VEHICLES = 5000;
const COLUMNS = 60;
const CELL = 11;
const LABEL = 18;

// The VIN shown in the side panel, kept in the address (#vin=…) to link to it.
let selected = new URLSearchParams(location.hash.slice(1)).get("vin");

async function refresh() {
  const [versions, vehicles] = await Promise.all([
    query(
      `SELECT model_version, count(*) AS vehicles,
              sum(CASE WHEN anomalous THEN 1 ELSE 0 END) AS anomalous
       FROM vehicle_health GROUP BY model_version ORDER BY model_version`,
    ),
    query(
      `SELECT vin, region, model, anomalous, score FROM vehicle_health
       ORDER BY anomalous DESC, vin LIMIT ${MAX_VEHICLES}`,
    ),
  ]);
  const total = versions.reduce((sum, v) => sum + v.vehicles, 0);
  const anomalous = versions.reduce((sum, v) => sum + v.anomalous, 0);
  $("counts").textContent = `${total} vehicles, ${anomalous} anomalous` +
    (total > vehicles.length ? ` (showing ${vehicles.length}: the anomalous first)` : "");
  $("models").replaceChildren(
    "Model version in use: ",
    ...versions.flatMap((v, i) => [
      i ? ", " : "",
      html("span", { class: "version" }, [v.model_version || "none"]),
      ` (${v.vehicles} vehicles)`,
    ]),
  );
  draw(vehicles);
  if (selected) await showVehicle(selected);
  return total ? "" : "no vehicles in vehicle_health yet";
}

/** The dots, grouped by region (alphabetically), by VIN within a region. */
function draw(vehicles) {
  const regions = new Map();
  for (const v of [...vehicles].sort((a, b) => (a.vin < b.vin ? -1 : 1))) {
    const region = v.region || "unknown region";
    if (!regions.has(region)) regions.set(region, []);
    regions.get(region).push(v);
  }
  const chart = svg("svg", { class: "fleet", role: "img" });
  let y = 0;
  for (const region of [...regions.keys()].sort()) {
    const members = regions.get(region);
    const bad = members.filter((v) => v.anomalous).length;
    chart.append(svg("text", { x: 0, y: y + 13, class: "region" }, [
      `${region} · ${members.length} vehicles, ${bad} anomalous`,
    ]));
    y += LABEL;
    members.forEach((v, i) => {
      const dot = svg("circle", {
        cx: (i % COLUMNS) * CELL + CELL / 2,
        cy: y + Math.floor(i / COLUMNS) * CELL + CELL / 2,
        r: CELL / 2 - 1,
        class: `vehicle ${v.anomalous ? "anomalous" : "normal"}${v.vin === selected ? " selected" : ""}`,
        "data-vin": v.vin,
      }, [svg("title", {}, [`${v.vin} · ${v.model || ""} · score ${fixed(v.score, 3)}`])]);
      dot.addEventListener("click", () => choose(v.vin));
      chart.append(dot);
    });
    y += Math.ceil(members.length / COLUMNS) * CELL + 8;
  }
  chart.setAttribute("viewBox", `0 0 ${COLUMNS * CELL} ${Math.max(y, 1)}`);
  $("fleet").replaceChildren(chart);
}

function choose(vin) {
  selected = vin;
  history.replaceState(null, "", `#vin=${encodeURIComponent(vin)}`);
  for (const dot of document.querySelectorAll("circle.vehicle")) {
    dot.classList.toggle("selected", dot.dataset.vin === vin);
  }
  showVehicle(vin);
}

// What the side panel shows first; every other column is a feature.
const HEADER = ["vin", "model", "region", "window_start", "window_end", "score", "anomalous",
  "top_signals", "model_version"];

/** The vehicle's row in the side panel. */
async function showVehicle(vin) {
  const [row] = await query(`SELECT * FROM vehicle_health WHERE vin = ${literal(vin)}`);
  const panel = $("vehicle");
  if (!row) {
    panel.replaceChildren(html("h2", {}, [vin]), html("p", { class: "note" }, ["not in vehicle_health"]));
    return;
  }
  const at = (value) => time(value).toISOString().replace("T", " ").slice(0, 19);
  const line = (name, value) => html("tr", {}, [html("th", {}, [name]), html("td", {}, [value])]);
  const value = (v) => (typeof v === "number" && !Number.isInteger(v) ? v.toFixed(3) : v === null ? "–" : String(v));
  const signals = (row.top_signals || "").split(",").map((s) => s.trim()).filter(Boolean);
  panel.replaceChildren(
    html("h2", {}, [
      html("span", { class: `vin ${row.anomalous ? "anomalous" : "normal"}` }, [row.vin]),
    ]),
    html("table", { class: "detail" }, [
      line("verdict", html("span", { class: `verdict ${row.anomalous ? "anomalous" : "normal"}` }, [
        row.anomalous ? "anomalous" : "normal",
      ])),
      line("score", fixed(row.score, 4)),
      line("top signals", html("ol", { class: "signals" }, signals.map((s) => html("li", {}, [s])))),
      line("model version", row.model_version || "–"),
      line("window (UTC)", `${at(row.window_start)} – ${at(row.window_end).slice(11)}`),
      line("vehicle", `${row.model || "–"}, ${row.region || "–"}`),
    ]),
    html("h3", {}, ["Features of the window"]),
    html("table", { class: "detail features" },
      Object.keys(row).filter((k) => !HEADER.includes(k)).map((k) =>
        html("tr", { class: signals.includes(k) ? "signal" : "" }, [
          html("th", {}, [k]),
          html("td", { class: "num" }, [value(row[k])]),
        ]),
      ),
    ),
  );
}

follow("vehicle_health", refresh, $("fleet-status"));
