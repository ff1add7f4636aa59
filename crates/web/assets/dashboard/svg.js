// Small SVG charts: an element builder, time series with axes and a legend.

const NS = "http://www.w3.org/2000/svg";

/** An SVG element with attributes and children (elements or text). */
export function svg(name, attrs = {}, children = []) {
  const node = document.createElementNS(NS, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  for (const child of children) {
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

/** An HTML element with attributes and children (elements or text). */
export function html(name, attrs = {}, children = []) {
  const node = document.createElement(name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  for (const child of children) {
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

/** About `count` round tick values from `min` to `max`. */
export function ticks(min, max, count) {
  if (!(max > min)) return [min];
  const raw = (max - min) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  const out = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) {
    out.push(Number(v.toFixed(10)));
  }
  return out;
}

/** A number for an axis or a label: 1234 → "1.2k". */
export function short(value) {
  const abs = Math.abs(value);
  if (abs >= 1e6) return (value / 1e6).toFixed(1) + "M";
  if (abs >= 1e4) return (value / 1e3).toFixed(0) + "k";
  if (abs >= 1e3) return (value / 1e3).toFixed(1) + "k";
  if (abs >= 10 || value === 0) return value.toFixed(0);
  return value.toPrecision(2);
}

/** A time as HH:MM:SS, UTC. */
export function clock(date) {
  return date.toISOString().slice(11, 19);
}

/**
 * A line chart of time series, `series` = [{name, color, points: [[Date, number]]}], drawn
 * into `container` (replacing what it held) with time and value axes and a legend.
 */
export function timeChart(container, series, { unit = "", width = 460, height = 190 } = {}) {
  const margin = { left: 48, right: 12, top: 22, bottom: 24 };
  const points = series.flatMap((s) => s.points);
  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    class: "chart",
    role: "img",
  });
  container.replaceChildren(chart);
  if (points.length === 0) return;
  const times = points.map((p) => p[0].getTime());
  const t0 = Math.min(...times);
  const t1 = Math.max(Math.max(...times), t0 + 1000);
  const vmax = Math.max(...points.map((p) => p[1]), 0) * 1.1 || 1;
  const x = (t) => margin.left + ((t - t0) / (t1 - t0)) * (width - margin.left - margin.right);
  const y = (v) => height - margin.bottom - (v / vmax) * (height - margin.top - margin.bottom);

  for (const v of ticks(0, vmax, 4)) {
    chart.append(
      svg("line", { x1: margin.left, x2: width - margin.right, y1: y(v), y2: y(v), class: "grid" }),
      svg("text", { x: margin.left - 6, y: y(v) + 4, class: "axis", "text-anchor": "end" }, [
        short(v),
      ]),
    );
  }
  const span = t1 - t0;
  const step = [10, 30, 60, 120, 300, 600, 1800, 3600].map((s) => s * 1000).find((s) => span / s <= 6) || 3600000;
  for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
    chart.append(
      svg("text", { x: x(t), y: height - 6, class: "axis", "text-anchor": "middle" }, [
        clock(new Date(t)).slice(0, span > 600000 ? 5 : 8),
      ]),
    );
  }
  if (unit) {
    chart.append(svg("text", { x: 4, y: 12, class: "axis" }, [unit]));
  }
  let legend = margin.left;
  for (const s of series) {
    const sorted = [...s.points].sort((a, b) => a[0] - b[0]);
    const d = sorted.map((p, i) => `${i ? "L" : "M"}${x(p[0].getTime()).toFixed(1)},${y(p[1]).toFixed(1)}`).join("");
    chart.append(svg("path", { d, class: "line", stroke: s.color }));
    if (sorted.length === 1) {
      chart.append(svg("circle", { cx: x(sorted[0][0].getTime()), cy: y(sorted[0][1]), r: 3, fill: s.color }));
    }
    chart.append(
      svg("rect", { x: legend, y: 4, width: 10, height: 10, fill: s.color }),
      svg("text", { x: legend + 14, y: 13, class: "legend" }, [s.name]),
    );
    legend += 24 + s.name.length * 7;
  }
}
