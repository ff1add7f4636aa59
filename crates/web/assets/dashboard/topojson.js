// TopoJSON decoded into SVG path data for a projection. A topology's arcs are line strings
// shared by the geometries, quantized to integers and delta-encoded (with a transform back to
// longitude and latitude); a geometry lists its rings' arcs by index, ~i being arc i reversed.

/** The arcs of `topology` as arrays of [lon, lat]: deltas summed, then the transform applied. */
export function decodeArcs(topology) {
  const { scale, translate } = topology.transform || { scale: [1, 1], translate: [0, 0] };
  const quantized = Boolean(topology.transform);
  return topology.arcs.map((arc) => {
    let x = 0;
    let y = 0;
    return arc.map(([dx, dy]) => {
      if (quantized) {
        x += dx;
        y += dy;
        return [x * scale[0] + translate[0], y * scale[1] + translate[1]];
      }
      return [dx, dy];
    });
  });
}

/** A ring (a list of arc indices) as one closed list of positions. */
function ring(arcs, indices) {
  const points = [];
  for (const index of indices) {
    const arc = index >= 0 ? arcs[index] : [...arcs[~index]].reverse();
    // Consecutive arcs share their end point: keep it once.
    points.push(...(points.length ? arc.slice(1) : arc));
  }
  return points;
}

/**
 * A ring that crosses the antimeridian (a step of more than 180° in longitude) made
 * continuous, some longitudes past ±180, and the copy of it shifted by 360° that shows the
 * part past the edge on the other side; a ring that does not cross it, as it is.
 */
function unwrap(points) {
  let shift = 0;
  const out = [];
  for (const [lon, lat] of points) {
    const step = out.length ? lon + shift - out[out.length - 1][0] : 0;
    if (step > 180) shift -= 360;
    if (step < -180) shift += 360;
    out.push([lon + shift, lat]);
  }
  if (out.every(([lon]) => lon >= -180 && lon <= 180)) return [out];
  const over = out.some(([lon]) => lon > 180) ? -360 : 360;
  return [out, out.map(([lon, lat]) => [lon + over, lat])];
}

/** The polygons (lists of rings) of a Polygon or MultiPolygon geometry. */
function polygons(geometry) {
  switch (geometry.type) {
    case "Polygon":
      return [geometry.arcs];
    case "MultiPolygon":
      return geometry.arcs;
    default:
      return [];
  }
}

/**
 * Each geometry of the object `name` of `topology` as {name, id, d}: `d` is SVG path data
 * for `project([lon, lat]) → [x, y]`, a closed subpath per ring (draw with
 * fill-rule="evenodd" so that holes stay holes).
 */
export function paths(topology, name, project) {
  const arcs = decodeArcs(topology);
  return topology.objects[name].geometries.map((geometry) => {
    const d = polygons(geometry)
      .flat()
      .flatMap((indices) => unwrap(ring(arcs, indices)))
      .map((points) =>
        points
          .map((p, i) => {
            const [x, y] = project(p);
            return `${i ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`;
          })
          .join("") + "Z",
      )
      .join("");
    return { name: geometry.properties && geometry.properties.name, id: geometry.id, d };
  });
}
