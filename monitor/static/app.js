// dcmon status page: map, non-connected centers with why, capacity by tier, live events.
// Plain JS, no build step, no CDN: everything comes from this aggregator's own API.
"use strict";

const STATUSES = ["connected", "degraded", "stale", "isolated", "down", "unreachable", "maintenance", "unknown"];
const LINK_STATES = ["up", "asymmetric", "down", "unknown"];
const TIERS = ["national", "regional", "hpc", "provincial"];
const RESOURCES = ["cpu_cores", "gpus", "memory_bytes", "storage_bytes"];
const SEVERITY = ["down", "isolated", "unreachable", "stale", "degraded", "unknown", "maintenance", "connected"];
const REFRESH_MS = 2000;
const MAX_EVENTS = 200;
const SVG_NS = "http://www.w3.org/2000/svg";
const PX_PER_DEGREE = 60;

const page = { markers: new Map(), links: new Map(), centers: new Map(), project: null, refreshTimer: null };

async function getJSON(path) {
  const response = await fetch(path, { cache: "no-store" });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

function svg(tag, attrs, parent) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  if (parent) parent.appendChild(el);
  return el;
}

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    // Through the CSSOM: the Content-Security-Policy refuses style attributes.
    if (k === "style") node.style.cssText = v; else node.setAttribute(k, v);
  }
  if (text !== undefined) node.textContent = text;
  return node;
}

// Equirectangular projection, x scaled by cos(mid latitude): good enough for one country.
function makeProjection(points) {
  const lons = points.map(p => p[0]), lats = points.map(p => p[1]);
  const minLon = Math.min(...lons) - 0.4, maxLon = Math.max(...lons) + 0.4;
  const minLat = Math.min(...lats) - 0.3, maxLat = Math.max(...lats) + 0.3;
  const kx = Math.cos(((minLat + maxLat) / 2) * Math.PI / 180) * PX_PER_DEGREE;
  const project = (lon, lat) => [(lon - minLon) * kx, (maxLat - lat) * PX_PER_DEGREE];
  project.width = (maxLon - minLon) * kx;
  project.height = (maxLat - minLat) * PX_PER_DEGREE;
  return project;
}

function outlineRings(geojson) {
  const rings = [];
  for (const feature of geojson.features || []) {
    const g = feature.geometry;
    const polygons = g.type === "Polygon" ? [g.coordinates] : g.type === "MultiPolygon" ? g.coordinates : [];
    for (const polygon of polygons) rings.push(...polygon);
  }
  return rings;
}

function drawMap(outline, centers, links) {
  const map = document.getElementById("map");
  const rings = outlineRings(outline);
  const points = rings.flat().concat(centers.map(c => [c.location.lon, c.location.lat]));
  const project = makeProjection(points);
  page.project = project;
  map.setAttribute("viewBox", `0 0 ${project.width.toFixed(1)} ${project.height.toFixed(1)}`);
  map.setAttribute("preserveAspectRatio", "xMidYMid meet");
  const land = svg("g", { class: "outline" }, map);
  for (const ring of rings) {
    const d = ring.map((p, i) => (i ? "L" : "M") + project(p[0], p[1]).map(v => v.toFixed(1)).join(",")).join("") + "Z";
    svg("path", { d, class: "land" }, land);
  }
  const byId = new Map(centers.map(c => [c.id, c]));
  const linkLayer = svg("g", { class: "links" }, map);
  for (const link of links) {
    const a = byId.get(link.source), b = byId.get(link.target);
    if (!a || !b) continue;
    const [x1, y1] = project(a.location.lon, a.location.lat);
    const [x2, y2] = project(b.location.lon, b.location.lat);
    const line = svg("line", {
      x1: x1.toFixed(1), y1: y1.toFixed(1), x2: x2.toFixed(1), y2: y2.toFixed(1),
      "data-link": `${link.source}--${link.target}`,
    }, linkLayer);
    svg("title", {}, line);
    page.links.set(`${link.source}--${link.target}`, line);
  }
  const centerLayer = svg("g", { class: "centers" }, map);
  const labelLayer = svg("g", { class: "labels" }, map);
  // Small centers first, so national ones are drawn on top.
  const order = [...centers].sort((x, y) => TIERS.indexOf(y.tier) - TIERS.indexOf(x.tier));
  for (const c of order) {
    const [x, y] = project(c.location.lon, c.location.lat);
    const r = c.tier === "national" ? 7 : c.tier === "provincial" ? 4 : 5.5;
    const marker = svg(c.tier === "hpc" ? "rect" : "circle", c.tier === "hpc"
      ? { x: (x - r).toFixed(1), y: (y - r).toFixed(1), width: 2 * r, height: 2 * r, rx: 1.5 }
      : { cx: x.toFixed(1), cy: y.toFixed(1), r }, centerLayer);
    marker.setAttribute("data-center", c.id);
    marker.setAttribute("data-tier", c.tier);
    svg("title", {}, marker);
    page.markers.set(c.id, marker);
    if (c.tier !== "provincial") {
      const label = svg("text", { x: (x + r + 2).toFixed(1), y: (y + 3).toFixed(1), class: "label" }, labelLayer);
      label.textContent = c.id;
    }
  }
}

function setMarker(id, status, title) {
  const marker = page.markers.get(id);
  if (!marker) return;
  marker.setAttribute("data-status", status);
  marker.setAttribute("class", `center ${marker.getAttribute("data-tier")} status-${status}`);
  if (title !== undefined) marker.querySelector("title").textContent = title;
}

function renderCenters(answer) {
  const centers = answer.centers || [];
  for (const c of centers) {
    page.centers.set(c.id, c);
    const why = c.why ? `\n${c.why}` : "";
    setMarker(c.id, c.status, `${c.name} (${c.id})\n${c.tier}, ${c.region}: ${c.status}${why}`);
  }
  const counts = Object.fromEntries(STATUSES.map(s => [s, 0]));
  for (const c of centers) counts[c.status] = (counts[c.status] || 0) + 1;
  const connected = centers.filter(c => c.connected).length;
  const pct = centers.length ? (100 * connected / centers.length).toFixed(1) : "0.0";
  const summary = document.getElementById("summary");
  summary.replaceChildren(el("span", { class: "pct" }, `${pct} % connected`),
    document.createTextNode(` — ${centers.length} centers: `));
  for (const s of STATUSES) {
    if (!counts[s]) continue;
    summary.append(el("span", { class: `pill ${s}` }, `${counts[s]} ${s}`), document.createTextNode(" "));
  }
  const banner = document.getElementById("banner");
  banner.hidden = !answer.blind;
  banner.textContent = answer.blind ? "The monitor is blind (no broker connection): every status is unknown." : "";

  const problems = centers.filter(c => c.status !== "connected")
    .sort((x, y) => SEVERITY.indexOf(x.status) - SEVERITY.indexOf(y.status) || x.id.localeCompare(y.id));
  const body = document.querySelector("#problems tbody");
  body.replaceChildren(...problems.map(c => {
    const row = el("tr", { "data-center": c.id, "data-status": c.status });
    const status = el("td"); status.append(el("span", { class: `pill ${c.status}` }, c.status));
    row.append(status, el("td", { title: c.name }, c.id), el("td", {}, c.why || ""));
    return row;
  }));
  document.getElementById("problem-count").textContent = problems.length ? `(${problems.length})` : "";
  document.getElementById("problems").hidden = problems.length === 0;
  document.getElementById("no-problems").hidden = problems.length !== 0;
}

function renderLinks(topology) {
  for (const link of topology.links || []) {
    const line = page.links.get(`${link.source}--${link.target}`);
    if (!line) continue;
    const state = LINK_STATES.includes(link.state) ? link.state : "unknown";
    line.setAttribute("class", `link link-${state}${link.bandwidth_gbps >= 400 ? " core" : ""}`);
    line.setAttribute("data-state", state);
    const rtt = link.rtt_s != null ? `, ${(link.rtt_s * 1000).toFixed(1)} ms` : "";
    const incident = link.incident ? ` (${link.incident})` : "";
    line.querySelector("title").textContent =
      `${link.source} — ${link.target}: ${state}${incident}${rtt}, ${link.bandwidth_gbps} Gbit/s${link.bridge ? " (bridge)" : ""}`;
  }
}

function amount(resource, value) {
  if (value == null) return "–";
  if (resource.endsWith("_bytes")) {
    for (const [unit, size] of [["PB", 1e15], ["TB", 1e12], ["GB", 1e9]]) {
      if (value >= size) return `${(value / size).toFixed(1)} ${unit}`;
    }
    return `${Math.round(value)} B`;
  }
  return Math.round(value).toLocaleString("en");
}

function renderCapacity(answer) {
  const rows = [];
  const byTier = answer.by_tier || {};
  for (const tier of TIERS) if (byTier[tier]) rows.push([tier, byTier[tier]]);
  const overall = answer.all || answer.overall;
  if (overall) rows.push(["all", overall]);
  const body = document.querySelector("#capacity tbody");
  body.replaceChildren(...rows.map(([tier, totals]) => {
    const row = el("tr", { "data-tier": tier }, undefined);
    row.append(el("td", {}, tier));
    for (const r of RESOURCES) {
      const t = totals[r];
      row.append(el("td", { class: "num", title: t ? `of ${amount(r, t.total)}` : "" }, t ? amount(r, t.available) : "–"));
    }
    return row;
  }));
}

// Center transitions and incident changes are listed; link changes show on the map only.
function addEvent(event, atTop) {
  const list = document.getElementById("events");
  const when = new Date(event.at * 1000).toLocaleTimeString("en-GB");
  const type = event.type || "center";
  if (type === "incident") {
    const item = el("li", { class: "incident", "data-incident": event.incident, "data-change": event.change });
    item.append(el("time", {}, when), el("strong", {}, event.incident), document.createTextNode(` ${event.change} `),
      el("span", { class: `severity ${event.severity}` }, event.severity), document.createTextNode(" "),
      el("span", { class: "why" }, event.summary));
    if (atTop) list.prepend(item); else list.append(item);
  }
  if (type !== "center") return;
  const item = el("li", { "data-center": event.center, "data-status": event.new });
  item.append(el("time", {}, when), el("strong", {}, event.center), document.createTextNode(" "),
    el("span", { class: `pill ${event.old}` }, event.old), document.createTextNode(" → "),
    el("span", { class: `pill ${event.new}` }, event.new));
  if (event.why) item.append(document.createTextNode(" "), el("span", { class: "why" }, event.why));
  if (atTop) list.prepend(item); else list.append(item);
  while (list.children.length > MAX_EVENTS) list.lastChild.remove();
}

function renderLegend() {
  const legend = document.getElementById("legend");
  for (const s of STATUSES) {
    const item = el("li");
    item.append(el("span", { class: "swatch", style: `background: var(--status-${s})` }), document.createTextNode(s));
    legend.append(item);
  }
  for (const [state, label] of [["up", "link up"], ["asymmetric", "asymmetric"], ["down", "link down"], ["unknown", "link unknown"]]) {
    const item = el("li");
    item.append(el("span", { class: "line", style: `border-color: var(--link-${state})` }), document.createTextNode(label));
    legend.append(item);
  }
}

async function refresh() {
  try {
    const [centers, topology, capacity] = await Promise.all([
      getJSON("/api/v1/centers"), getJSON("/api/v1/topology"), getJSON("/api/v1/capacity"),
    ]);
    renderCenters(centers);
    renderLinks(topology);
    renderCapacity(capacity);
    document.getElementById("updated").textContent = `updated ${new Date().toLocaleTimeString("en-GB")}`;
  } catch (err) {
    document.getElementById("updated").textContent = `cannot reach the aggregator (${err.message})`;
  }
}

function scheduleRefresh(delayMs) {
  clearTimeout(page.refreshTimer);
  page.refreshTimer = setTimeout(async () => {
    await refresh();
    scheduleRefresh(REFRESH_MS);
  }, delayMs);
}

function listen() {
  const state = document.getElementById("stream-state");
  const source = new EventSource("/api/v1/events/stream");
  source.onopen = () => { state.textContent = "live"; };
  source.onerror = () => { state.textContent = "reconnecting…"; };
  source.addEventListener("status", message => {
    const event = JSON.parse(message.data);
    addEvent(event, true);
    const known = page.centers.get(event.center);
    setMarker(event.center, event.new, known ? `${known.name} (${event.center}): ${event.new}\n${event.why || ""}` : undefined);
    scheduleRefresh(250);
  });
  source.addEventListener("incident", message => {
    addEvent(JSON.parse(message.data), true);
    scheduleRefresh(250);
  });
  source.addEventListener("link", () => scheduleRefresh(250));
}

async function main() {
  renderLegend();
  const [outline, centers, topology, transitions, incidents] = await Promise.all([
    getJSON("/static/vietnam.geojson"), getJSON("/api/v1/centers"), getJSON("/api/v1/topology"),
    getJSON("/api/v1/events?type=center&limit=50"), getJSON("/api/v1/events?type=incident&limit=20"),
  ]);
  drawMap(outline, centers.centers || [], topology.links || []);
  renderCenters(centers);
  renderLinks(topology);
  const events = [...(transitions.events || []), ...(incidents.events || [])].sort((x, y) => x.seq - y.seq);
  for (const event of events) addEvent(event, true);
  listen();
  scheduleRefresh(0);
  document.body.setAttribute("data-ready", "true");
}

main().catch(err => {
  document.getElementById("summary").textContent = `cannot load the federation: ${err.message}`;
});
