// dcmon status page: incidents first, the map, links not up, a what-if box, capacity, events.
// Plain JS, no build step, no CDN: everything comes from this aggregator's own API. The lists of
// statuses, link states, tiers, severities and resources come from its OpenAPI document, their
// colours and marks from /static/palette.css (generated from monitor/status/palette.py).
"use strict";

const REFRESH_MS = 2000;
const FETCH_TIMEOUT_MS = 5000;
const STALE_AFTER_S = 6;        // no good answer for this long: the page says it is stale
const MAX_EVENTS = 200;
const GROUP_WINDOW_S = 60;      // transitions from/to unknown this close together share one line
const LINK_BURST_S = 5;         // so do link changes this close together
const SVG_NS = "http://www.w3.org/2000/svg";
const PX_PER_DEGREE = 60;
const MARKER_GAP = 2.5;         // map units kept free between two markers
// Marker shape and size per tier; the legend explains them from this same table.
const TIER_MARKS = {
  national: { shape: "ring", r: 7, label: "national (ring)" },
  regional: { shape: "circle", r: 5.5, label: "regional hub" },
  hpc: { shape: "square", r: 5.5, label: "HPC / storage (square)" },
  provincial: { shape: "circle", r: 4, label: "provincial (small)" },
};
const PROBLEM_SCALE = 1.45;     // centers not connected are drawn larger, their mark readable

const page = {
  schema: null, statuses: [], linkStates: [], tiers: [], severities: [], resources: [],
  marks: new Map(), markers: new Map(), lines: new Map(), centers: new Map(), links: new Map(),
  incidents: [], blind: false, lastOk: 0, lastAt: null, lastError: null, streamDownSince: null,
  refreshTimer: null, events: [], detailId: null, detailAsked: 0, detailShown: 0,
  picked: { down: new Set(), cut: new Map() }, whatif: null,
};

// --- small helpers ---------------------------------------------------------------------------

async function getJSON(path, options) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), FETCH_TIMEOUT_MS);
  try {
    const response = await fetch(path, { cache: "no-store", signal: controller.signal, ...(options || {}) });
    const body = await response.json().catch(() => null);
    if (!response.ok) throw new Error(body && body.error ? body.error : `${path}: HTTP ${response.status}`);
    return body;
  } catch (err) {
    if (err.name === "AbortError") throw new Error(`${path}: no answer in ${FETCH_TIMEOUT_MS / 1000} s`);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

function svg(tag, attrs, parent) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    // Through the CSSOM: the Content-Security-Policy refuses style attributes.
    if (k === "style") node.style.cssText = v; else node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    node.append(typeof child === "string" || typeof child === "number" ? String(child) : child);
  }
  return node;
}

function pill(status, text) {
  return el("span", { class: `pill ${status}`, "data-status": status }, text === undefined ? status : text);
}

function linkChip(state) {
  return el("span", { class: `link-chip link-${state}`, "data-state": state }, state);
}

function linkKey(a, b) { return a < b ? `${a}--${b}` : `${b}--${a}`; }

function clock(at) { return new Date(at * 1000).toLocaleTimeString("en-GB"); }

function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 90) return `${s} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${Math.round(s / 86400)} d`;
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

const RESOURCE_WORDS = { cpu_cores: "cores", gpus: "GPUs", memory_bytes: "memory", storage_bytes: "storage" };

function capacityWords(totals) {
  const parts = page.resources.filter(r => totals && totals[r]).map(r => `${amount(r, totals[r])} ${RESOURCE_WORDS[r] || r}`);
  return parts.length ? parts.join(", ") : "none";
}

function percent(ratio) { return `${(100 * ratio).toFixed(1)} %`; }

// --- one definition of the vocabulary ---------------------------------------------------------

function schemaEnum(schema, name, property) {
  const found = schema.components.schemas[name].properties[property];
  return found.enum || found.items.enum;
}

// A palette string like "\d7 " (CSS escapes) as its text.
function cssString(value) {
  const text = value.trim().replace(/^"|"$/g, "");
  return text.replace(/\\([0-9a-fA-F]{1,6}) ?/g, (_, hex) => String.fromCodePoint(parseInt(hex, 16)));
}

function loadVocabulary(schema) {
  page.schema = schema;
  page.statuses = schemaEnum(schema, "Center", "status");
  page.tiers = schemaEnum(schema, "Center", "tier");
  page.linkStates = schemaEnum(schema, "Link", "state");
  page.severities = schemaEnum(schema, "Incident", "severity");
  page.resources = schemaEnum(schema, "Capacity", "resources");
  const root = getComputedStyle(document.documentElement);
  for (const s of page.statuses) page.marks.set(s, cssString(root.getPropertyValue(`--status-${s}-mark`)));
}

function statusRank(status) { return page.statuses.indexOf(status); }
function severityRank(severity) { return page.severities.indexOf(severity); }

// --- the map ---------------------------------------------------------------------------------

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

function markerRadius(tier) { return (TIER_MARKS[tier] || TIER_MARKS.provincial).r; }

// Co-located centers (a national center, a hub and an HPC center in one city) are pushed apart
// until no two markers overlap, even when drawn at their larger problem size; each displaced
// marker keeps a leader line to its real place. Deterministic: the same map on every load.
function spreadMarkers(items) {
  for (let round = 0; round < 200; round++) {
    let moved = false;
    for (let i = 0; i < items.length; i++) {
      for (let j = i + 1; j < items.length; j++) {
        const p = items[i], q = items[j];
        let dx = q.x - p.x, dy = q.y - p.y, d = Math.hypot(dx, dy);
        const min = (p.r + q.r) * PROBLEM_SCALE + MARKER_GAP;
        if (d >= min) continue;
        if (d < 1e-6) { const a = 2.39996 * (i + j); dx = Math.cos(a); dy = Math.sin(a); d = 1; }
        const push = (min - d) / 2 + 0.01;
        p.x -= push * dx / d; p.y -= push * dy / d;
        q.x += push * dx / d; q.y += push * dy / d;
        moved = true;
      }
    }
    if (!moved) break;
  }
}

function overlapCount(box, boxes) {
  return boxes.filter(b => box.x < b.x + b.w && b.x < box.x + box.w && box.y < b.y + b.h && b.y < box.y + box.h).length;
}

// Labels of the larger centers, each placed right, left, above or below its marker, wherever it
// does not cover another label or a marker.
function placeLabels(items, layer) {
  const markers = items.map(p => { const r = p.r * PROBLEM_SCALE; return { x: p.x - r, y: p.y - r, w: 2 * r, h: 2 * r }; });
  const labels = [];
  for (const p of items.filter(p => p.tier !== "provincial")) {
    const w = p.id.length * 5.6, h = 11, r = p.r * PROBLEM_SCALE + 2;
    const options = [[p.x + r, p.y - h / 2], [p.x - r - w, p.y - h / 2], [p.x - w / 2, p.y - r - h],
      [p.x - w / 2, p.y + r], [p.x + r, p.y - h - 2], [p.x + r, p.y + 2]];
    // The first spot covering the fewest labels, then the fewest markers.
    const cost = b => 100 * overlapCount(b, labels) + overlapCount(b, markers);
    const spot = options.map(([x, y]) => ({ x, y, w, h }))
      .reduce((best, b) => (cost(b) < cost(best) ? b : best));
    labels.push(spot);
    const label = svg("text", { x: spot.x.toFixed(1), y: (spot.y + 9).toFixed(1), class: "label" }, layer);
    label.textContent = p.id;
  }
}

function drawMap(outline, centers, links) {
  const map = document.getElementById("map");
  const rings = outlineRings(outline);
  const points = rings.flat().concat(centers.map(c => [c.location.lon, c.location.lat]));
  const project = makeProjection(points);
  map.setAttribute("viewBox", `0 0 ${project.width.toFixed(1)} ${project.height.toFixed(1)}`);
  map.setAttribute("preserveAspectRatio", "xMidYMid meet");
  const land = svg("g", { class: "outline" }, map);
  for (const ring of rings) {
    const d = ring.map((p, i) => (i ? "L" : "M") + project(p[0], p[1]).map(v => v.toFixed(1)).join(",")).join("") + "Z";
    svg("path", { d, class: "land" }, land);
  }
  const items = centers.map(c => {
    const [x, y] = project(c.location.lon, c.location.lat);
    return { id: c.id, tier: c.tier, x0: x, y0: y, x, y, r: markerRadius(c.tier) };
  });
  spreadMarkers(items);
  const at = new Map(items.map(p => [p.id, p]));
  const linkLayer = svg("g", { class: "links" }, map);
  for (const link of links) {
    const a = at.get(link.source), b = at.get(link.target);
    if (!a || !b) continue;
    const key = `${link.source}--${link.target}`;
    const line = svg("line", {
      x1: a.x.toFixed(1), y1: a.y.toFixed(1), x2: b.x.toFixed(1), y2: b.y.toFixed(1), "data-link": key,
    }, linkLayer);
    svg("title", {}, line);
    page.lines.set(key, line);
  }
  const leaderLayer = svg("g", { class: "leaders" }, map);
  for (const p of items) {
    if (Math.hypot(p.x - p.x0, p.y - p.y0) < 1.5) continue;
    svg("line", { x1: p.x0.toFixed(1), y1: p.y0.toFixed(1), x2: p.x.toFixed(1), y2: p.y.toFixed(1), class: "leader" }, leaderLayer);
    svg("circle", { cx: p.x0.toFixed(1), cy: p.y0.toFixed(1), r: 1.2, class: "spot" }, leaderLayer);
  }
  const centerLayer = svg("g", { class: "centers" }, map);
  // Small centers first, so the larger ones are drawn on top (they never overlap anyway).
  const order = [...items].sort((x, y) => page.tiers.indexOf(y.tier) - page.tiers.indexOf(x.tier));
  for (const p of order) {
    const marker = svg("g", {
      class: `center ${p.tier}`, "data-center": p.id, "data-tier": p.tier,
      transform: `translate(${p.x.toFixed(1)},${p.y.toFixed(1)})`, tabindex: "0", role: "button",
    }, centerLayer);
    svg("title", {}, marker);
    drawShape(marker, p.tier, 1);
    svg("text", { class: "mark", "text-anchor": "middle", "dominant-baseline": "central" }, marker);
    marker.addEventListener("click", () => openDetail(p.id));
    marker.addEventListener("keydown", e => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); openDetail(p.id); } });
    page.markers.set(p.id, marker);
  }
  placeLabels(items, svg("g", { class: "labels" }, map));
}

function drawShape(parent, tier, scale) {
  const t = TIER_MARKS[tier] || TIER_MARKS.provincial;
  const r = t.r * scale;
  return t.shape === "square"
    ? svg("rect", { class: "shape", x: -r, y: -r, width: 2 * r, height: 2 * r, rx: 1.5 }, parent)
    : svg("circle", { class: "shape", r }, parent);
}

// The status a marker shows: the live one, or during a what-if the hypothetical one.
function shownStatus(id) {
  const live = page.centers.get(id);
  if (page.whatif && page.whatif.centers[id]) return page.whatif.centers[id];
  return live ? live.status : "unknown";
}

function paintMarker(id) {
  const marker = page.markers.get(id);
  if (!marker) return;
  const c = page.centers.get(id);
  const status = shownStatus(id);
  const live = c ? c.status : "unknown";
  const hypothetical = Boolean(page.whatif) && status !== live;
  marker.setAttribute("data-status", status);
  marker.setAttribute("class", `center ${marker.getAttribute("data-tier")} status-${status}${hypothetical ? " hypothetical" : ""}`);
  const shape = marker.querySelector(".shape");
  const scale = status === "connected" ? 1 : PROBLEM_SCALE;
  const r = markerRadius(marker.getAttribute("data-tier")) * scale;
  if (shape.tagName === "rect") {
    for (const [k, v] of [["x", -r], ["y", -r], ["width", 2 * r], ["height", 2 * r]]) shape.setAttribute(k, v.toFixed(2));
  } else shape.setAttribute("r", r.toFixed(2));
  const mark = marker.querySelector(".mark");
  mark.textContent = page.marks.get(status) || "";
  mark.setAttribute("font-size", (r * 1.5).toFixed(1));
  const name = c ? `${c.name} (${id})` : id;
  const why = c && c.why && !hypothetical ? `\n${c.why}` : "";
  const what = hypothetical ? `${status} (hypothetical; live: ${live})` : status;
  marker.querySelector("title").textContent = `${name}\n${c ? `${c.tier}, ${c.region}: ` : ""}${what}${why}\nclick for details`;
  marker.setAttribute("aria-label", `${id}: ${what}`);
}

function paintLine(key) {
  const line = page.lines.get(key);
  if (!line) return;
  const link = page.links.get(key);
  const live = link ? link.state : "unknown";
  const state = page.whatif && page.whatif.links[key] ? page.whatif.links[key] : live;
  const hypothetical = Boolean(page.whatif) && state !== live;
  line.setAttribute("class", `link link-${state}${link && link.bandwidth_gbps >= 400 ? " core" : ""}${hypothetical ? " hypothetical" : ""}`);
  line.setAttribute("data-state", state);
  if (!link) return;
  const rtt = link.rtt_s != null ? `, ${(link.rtt_s * 1000).toFixed(1)} ms` : "";
  const incident = link.incident ? ` (${link.incident})` : "";
  line.querySelector("title").textContent =
    `${link.source} — ${link.target}: ${hypothetical ? `${state} (hypothetical; live: ${live})` : state}${incident}${rtt}, ${link.bandwidth_gbps} Gbit/s${link.bridge ? " (bridge)" : ""}`;
}

function paintMap() {
  for (const id of page.markers.keys()) paintMarker(id);
  for (const key of page.lines.keys()) paintLine(key);
  document.getElementById("map-panel").classList.toggle("whatif", Boolean(page.whatif));
}

// The legend draws its samples with the map's own classes, so it shows what the map draws.
function renderLegend() {
  const legend = document.getElementById("legend");
  const statuses = el("ul", { class: "legend-row", "aria-label": "center status" });
  for (const s of page.statuses) {
    const sample = svg("svg", { class: "sample", viewBox: "-9 -9 18 18", width: 18, height: 18, "aria-hidden": "true" });
    const g = svg("g", { class: `center provincial status-${s}`, "data-legend-status": s }, sample);
    const scale = s === "connected" ? 1.6 : 1.6 * PROBLEM_SCALE;
    const r = TIER_MARKS.provincial.r * scale;
    svg("circle", { class: "shape", r: Math.min(r, 8) }, g);
    const mark = svg("text", { class: "mark", "text-anchor": "middle", "dominant-baseline": "central", "font-size": 11 }, g);
    mark.textContent = page.marks.get(s) || "";
    statuses.append(el("li", {}, sample, s));
  }
  const tiers = el("ul", { class: "legend-row", "aria-label": "center tier" });
  for (const tier of page.tiers) {
    const sample = svg("svg", { class: "sample", viewBox: "-9 -9 18 18", width: 18, height: 18, "aria-hidden": "true" });
    const g = svg("g", { class: `center ${tier} status-connected`, "data-legend-tier": tier }, sample);
    drawShape(g, tier, 1);
    tiers.append(el("li", {}, sample, TIER_MARKS[tier] ? TIER_MARKS[tier].label : tier));
  }
  const moved = svg("svg", { class: "sample", viewBox: "0 0 26 12", width: 26, height: 12, "aria-hidden": "true" });
  svg("line", { x1: 2, y1: 6, x2: 20, y2: 6, class: "leader" }, moved);
  svg("circle", { cx: 2, cy: 6, r: 1.5, class: "spot" }, moved);
  svg("circle", { cx: 20, cy: 6, r: 4, class: "shape legend-moved" }, moved);
  tiers.append(el("li", {}, moved, "moved aside from its real place (dot)"));
  const links = el("ul", { class: "legend-row", "aria-label": "link state" });
  for (const state of page.linkStates) {
    const sample = svg("svg", { class: "sample", viewBox: "0 0 30 10", width: 30, height: 10, "aria-hidden": "true" });
    svg("line", { x1: 1, y1: 5, x2: 29, y2: 5, class: `link link-${state}`, "data-legend-link": state }, sample);
    links.append(el("li", {}, sample, `link ${state}`));
  }
  const core = svg("svg", { class: "sample", viewBox: "0 0 30 10", width: 30, height: 10, "aria-hidden": "true" });
  svg("line", { x1: 1, y1: 5, x2: 29, y2: 5, class: "link link-up core" }, core);
  links.append(el("li", {}, core, "≥ 400 Gbit/s"));
  legend.replaceChildren(statuses, tiers, links);
}

// --- summary, incidents, links ---------------------------------------------------------------

function renderSummary(centers) {
  const summary = document.getElementById("summary");
  const counts = new Map();
  for (const c of centers) counts.set(c.status, (counts.get(c.status) || 0) + 1);
  const unknown = counts.get("unknown") || 0;
  const connected = centers.filter(c => c.connected).length;
  const headline = page.blind || (centers.length && unknown === centers.length)
    ? el("span", { class: "pct unknown-value", "data-connected": "unknown" }, "connected: unknown")
    : el("span", { class: "pct", "data-connected": String(connected / (centers.length || 1)) },
      `${percent(connected / (centers.length || 1))} connected`);
  summary.replaceChildren(headline, ` — ${centers.length} centers: `);
  for (const s of page.statuses) if (counts.get(s)) summary.append(pill(s, `${counts.get(s)} ${s}`), " ");
}

function victimRow(center, status, role) {
  const c = page.centers.get(center);
  return el("tr", { "data-center": center, "data-status": status, [`data-${role}`]: "" },
    el("td", {}, pill(status)), el("td", { title: c ? c.name : "" }, center), el("td", { class: "why" }, c && c.why ? c.why : ""));
}

function incidentCard(incident, options) {
  const { hypothetical } = options || {};
  const elements = new Set(incident.elements.centers);
  const victims = incident.victims.filter(v => !elements.has(v.center));
  const failed = [...incident.elements.centers, ...incident.elements.links.map(l => `${l.a}--${l.b}`)];
  const card = el("article", {
    class: `incident severity-${incident.severity}`, "data-incident": incident.id || "",
    "data-severity": incident.severity, "data-victims": String(victims.length),
  });
  const age = incident.opened_at ? el("span", { class: "age", "data-opened-at": String(incident.opened_at) }, `open ${duration(Date.now() / 1000 - incident.opened_at)}`) : null;
  card.append(el("header", {},
    el("span", { class: `severity ${incident.severity}` }, incident.severity), " ",
    el("strong", {}, incident.id || (incident.new ? "would open" : "would stay open")), " ",
    el("span", { class: "kind" }, incident.kind), " ", age,
    incident.flaps ? el("span", { class: "flaps" }, ` · flapped ${incident.flaps}×`) : null,
    hypothetical && incident.new ? el("span", { class: "new" }, " · new") : null));
  card.append(el("p", { class: "summary" }, incident.summary));
  const impact = el("p", { class: "impact" });
  const byStatus = Object.entries(incident.impact.victims_by_status || {})
    .sort((x, y) => statusRank(x[0]) - statusRank(y[0]));
  for (const [status, n] of byStatus) impact.append(pill(status, `${n} ${status}`), " ");
  const unreachable = incident.impact.capacity_unreachable || {};
  const risk = incident.impact.capacity_at_risk || {};
  if (Object.keys(unreachable).length) impact.append(el("span", { class: "capacity", "data-capacity": "unreachable" }, `unreachable: ${capacityWords(unreachable)}`), " ");
  if (Object.keys(risk).length) impact.append(el("span", { class: "capacity", "data-capacity": "at-risk" }, `at risk: ${capacityWords(risk)}`));
  card.append(impact);
  const details = el("details", { class: "members" }, el("summary", {},
    `failed: ${failed.join(", ") || "–"}; ${victims.length} victim${victims.length === 1 ? "" : "s"}`));
  const table = el("table", { class: "victims" });
  const body = el("tbody");
  for (const center of incident.elements.centers) {
    const v = incident.victims.find(x => x.center === center);
    body.append(victimRow(center, v ? v.status : (page.centers.get(center) || { status: "unknown" }).status, "element"));
  }
  const sorted = [...victims].sort((x, y) => statusRank(y.status) - statusRank(x.status) || x.center.localeCompare(y.center));
  for (const v of sorted) body.append(victimRow(v.center, v.status, "victim"));
  table.append(body);
  details.append(table);
  card.append(details);
  return card;
}

function renderIncidents() {
  const list = document.getElementById("incidents");
  const open = new Set([...list.querySelectorAll("details[open]")].map(d => d.closest("[data-incident]").dataset.incident));
  const incidents = [...page.incidents].sort((x, y) =>
    severityRank(x.severity) - severityRank(y.severity) || x.opened_at - y.opened_at);
  list.replaceChildren(...incidents.map(i => {
    const card = incidentCard(i);
    if (open.has(i.id) || incidents.length === 1) card.querySelector("details").open = true;
    return card;
  }));
  document.getElementById("incident-count").textContent = incidents.length ? `(${incidents.length} open)` : "";
  document.getElementById("no-incidents").hidden = incidents.length !== 0 || page.blind;
  // Centers not fully connected that no incident explains (start-up, blind, maintenance, ...).
  const explained = new Set(page.incidents.flatMap(i => [...i.elements.centers, ...i.victims.map(v => v.center)]));
  const others = [...page.centers.values()].filter(c => c.status !== "connected" && !explained.has(c.id))
    .sort((x, y) => statusRank(y.status) - statusRank(x.status) || x.id.localeCompare(y.id));
  const box = document.getElementById("unexplained");
  if (!others.length) { box.replaceChildren(); return; }
  const wasOpen = box.querySelector("details[open]") !== null;
  const byStatus = new Map();
  for (const c of others) byStatus.set(c.status, (byStatus.get(c.status) || 0) + 1);
  const summary = el("summary", {}, `${others.length} center${others.length === 1 ? "" : "s"} not fully connected, in no incident: `);
  for (const [s, n] of byStatus) summary.append(pill(s, `${n} ${s}`), " ");
  const details = el("details", { class: "members", "data-unexplained": "" }, summary,
    el("table", { class: "victims" }, el("tbody", {}, ...others.map(c => victimRow(c.id, c.status, "other")))));
  details.open = wasOpen || others.length <= 3;
  box.replaceChildren(details);
}

function linkRow(link) {
  const rtt = link.rtt_s != null ? `${(link.rtt_s * 1000).toFixed(1)} ms` : "";
  const loss = link.loss_ratio != null ? `${(100 * link.loss_ratio).toFixed(0)} % loss` : "";
  return el("tr", { "data-link": `${link.source}--${link.target}`, "data-state": link.state },
    el("td", {}, linkChip(link.state)), el("td", {}, `${link.source} — ${link.target}`),
    el("td", { class: "why" }, [link.bridge ? "bridge" : "", `${link.bandwidth_gbps} Gbit/s`, rtt, loss].filter(Boolean).join(" · ")));
}

// Links not up, grouped by what explains them: their incident, or a failed center at one end.
function renderLinksNotUp() {
  const box = document.getElementById("links-not-up");
  const open = new Set([...box.querySelectorAll("details[open]")].map(d => d.dataset.group));
  const groups = new Map();
  for (const link of page.links.values()) {
    if (link.state === "up") continue;
    const ends = [link.source, link.target].map(id => page.centers.get(id)).filter(c => c && !c.live);
    let key, title;
    if (link.incident) {
      const incident = page.incidents.find(i => i.id === link.incident);
      key = link.incident; title = `${link.incident}${incident ? `: ${incident.summary}` : ""}`;
    } else if (ends.length) {
      key = `center:${ends[0].id}`; title = `links of ${ends[0].id} (${ends[0].status})`;
    } else {
      key = `state:${link.state}`; title = `link ${link.state}, in no incident`;
    }
    if (!groups.has(key)) groups.set(key, { title, links: [] });
    groups.get(key).links.push(link);
  }
  const total = [...groups.values()].reduce((n, g) => n + g.links.length, 0);
  if (page.blind && !total) {
    box.replaceChildren(el("p", { class: "unknown-value" }, "link states unknown while the monitor is blind"));
    document.getElementById("link-count").textContent = "";
    document.getElementById("all-links-up").hidden = true;
    return;
  }
  box.replaceChildren(...[...groups.entries()].map(([key, group]) => {
    const details = el("details", { class: "members", "data-group": key },
      el("summary", {}, `${group.links.length} — ${group.title}`),
      el("table", { class: "victims" }, el("tbody", {}, ...group.links.map(linkRow))));
    details.open = open.has(key) || group.links.length <= 4;
    return details;
  }));
  document.getElementById("link-count").textContent = total ? `(${total})` : "";
  document.getElementById("all-links-up").hidden = total !== 0 || page.blind;
}

function renderCapacity(answer) {
  const head = document.querySelector("#capacity thead");
  head.replaceChildren(el("tr", {}, el("th", {}, "tier"), ...page.resources.map(r => el("th", {}, RESOURCE_WORDS[r] === "cores" ? "CPU cores" : RESOURCE_WORDS[r] || r))));
  const rows = [];
  const byTier = answer.by_tier || {};
  for (const tier of page.tiers) if (byTier[tier]) rows.push([tier, byTier[tier]]);
  if (answer.all) rows.push(["all", answer.all]);
  const body = document.querySelector("#capacity tbody");
  if (answer.blind) {
    body.replaceChildren(el("tr", { "data-tier": "all" }, el("td", {}, "all"),
      ...page.resources.map(() => el("td", { class: "num unknown-value" }, "unknown"))));
    return;
  }
  body.replaceChildren(...rows.map(([tier, totals]) => el("tr", { "data-tier": tier }, el("td", {}, tier),
    ...page.resources.map(r => {
      const t = totals[r];
      return el("td", { class: "num", title: t ? `of ${amount(r, t.total)}` : "" }, t ? amount(r, t.available) : "–");
    }))));
}

// --- freshness: the page says when what it shows may be old ------------------------------------

function renderFreshness() {
  const now = Date.now();
  const age = page.lastOk ? (now - page.lastOk) / 1000 : Infinity;
  const streamDown = page.streamDownSince ? (now - page.streamDownSince) / 1000 : 0;
  const stale = page.lastOk === 0 ? Boolean(page.lastError) : (age > STALE_AFTER_S || Boolean(page.lastError) || streamDown > STALE_AFTER_S);
  document.body.classList.toggle("stale", stale);
  document.body.setAttribute("data-stale", String(stale));
  const banner = document.getElementById("stale-banner");
  const freshness = document.getElementById("freshness");
  if (stale) {
    const since = page.lastAt ? `the data shown is from ${page.lastAt.toLocaleTimeString("en-GB")}, ${duration(age)} old` : "nothing loaded yet";
    const cause = page.lastError ? `cannot reach the aggregator (${page.lastError})` : streamDown > STALE_AFTER_S ? "the event stream is down" : "the aggregator does not answer";
    banner.textContent = `STALE — ${cause}: ${since}. Statuses may have changed since; retrying.`;
    freshness.textContent = page.lastAt ? `data ${duration(age)} old` : "no data";
  } else {
    freshness.textContent = page.lastAt ? `live · ${page.lastAt.toLocaleTimeString("en-GB")}` : "";
  }
  banner.hidden = !stale;
  for (const age of document.querySelectorAll("#incidents .age[data-opened-at]")) {
    age.textContent = `open ${duration(now / 1000 - Number(age.dataset.openedAt))}`;
  }
}

function renderBlind() {
  const banner = document.getElementById("blind-banner");
  banner.hidden = !page.blind;
  banner.textContent = page.blind
    ? "BLIND — the monitor has lost its broker connection: every status is unknown, nothing is known to be down. Incidents open before are kept."
    : "";
  document.body.classList.toggle("blind", page.blind);
}

// --- refresh -----------------------------------------------------------------------------------

async function refresh() {
  try {
    const [centers, topology, capacity, incidents] = await Promise.all([
      getJSON("/api/v1/centers"), getJSON("/api/v1/topology"), getJSON("/api/v1/capacity"), getJSON("/api/v1/incidents"),
    ]);
    page.blind = Boolean(centers.blind);
    for (const c of centers.centers || []) page.centers.set(c.id, c);
    page.links = new Map((topology.links || []).map(l => [`${l.source}--${l.target}`, l]));
    page.incidents = incidents.incidents || [];
    page.lastOk = Date.now();
    page.lastAt = new Date();
    page.lastError = null;
    renderSummary(centers.centers || []);
    renderBlind();
    paintMap();
    renderIncidents();
    renderLinksNotUp();
    renderCapacity(capacity);
    if (page.detailId) refreshDetail();
    document.getElementById("updated").textContent = `updated ${page.lastAt.toLocaleTimeString("en-GB")}`;
  } catch (err) {
    page.lastError = err.message;
    document.getElementById("updated").textContent = `cannot reach the aggregator (${err.message})`;
  }
  renderFreshness();
}

function scheduleRefresh(delayMs) {
  clearTimeout(page.refreshTimer);
  page.refreshTimer = setTimeout(async () => {
    await refresh();
    scheduleRefresh(REFRESH_MS);
  }, delayMs);
}

// --- center detail -----------------------------------------------------------------------------

// The panel never shows one center's facts under another's name: opening a different center
// empties it first ("loading …", aria-busy) and only the answer for the center now open, and no
// older answer than the one shown, fills it (a click while a refresh is under way, a slow API).
async function openDetail(id) {
  const panel = document.getElementById("detail");
  panel.hidden = false;
  if (page.detailId !== id || !panel.firstChild) {
    page.detailId = id;
    page.detailShown = 0;
    panel.setAttribute("data-center", id);
    panel.setAttribute("aria-busy", "true");
    panel.replaceChildren(el("p", {}, `loading ${id}…`));
  }
  await refreshDetail();
}

function closeDetail() {
  page.detailId = null;
  const panel = document.getElementById("detail");
  panel.hidden = true;
  panel.removeAttribute("aria-busy");
  panel.replaceChildren();
}

async function refreshDetail() {
  const id = page.detailId;
  const asked = ++page.detailAsked;
  const panel = document.getElementById("detail");
  let answer;
  try {
    answer = await getJSON(`/api/v1/centers/${encodeURIComponent(id)}`);
  } catch (err) {
    if (page.detailId !== id || asked < page.detailShown) return;
    page.detailShown = asked;
    panel.removeAttribute("aria-busy");
    panel.replaceChildren(el("p", { class: "error" }, `${id}: ${err.message}`));
    return;
  }
  if (page.detailId !== id || asked < page.detailShown) return;
  page.detailShown = asked;
  const c = answer.center;
  const close = el("button", { type: "button", class: "close", "aria-label": "close" }, "×");
  close.addEventListener("click", closeDetail);
  const failIt = el("button", { type: "button", class: "whatif-this", "data-whatif-center": id }, "What if this center fails?");
  failIt.addEventListener("click", () => { page.picked.down.add(id); renderPicked(); runWhatIf(); });
  const hypothetical = page.whatif && page.whatif.centers[id] && page.whatif.centers[id] !== c.status
    ? el("span", {}, " · what-if: ", pill(page.whatif.centers[id]), " (hypothetical)") : null;
  const heartbeat = c.last_heartbeat_at ? `last heartbeat ${duration(Date.now() / 1000 - c.last_heartbeat_at)} ago` : "never heard from";
  const facts = [`${c.tier}, ${c.region}, ${c.province}`, c.live ? "agent live" : "agent silent", heartbeat,
    c.never_seen ? "never seen" : "", c.single_point_of_failure ? `single point of failure for ${c.dependents}` : ""].filter(Boolean);
  const incidents = (c.incidents || []).map(i => {
    const found = page.incidents.find(x => x.id === i);
    return el("li", { "data-incident": i }, el("strong", {}, i), found ? ` ${found.summary}` : "");
  });
  const capacity = el("table", { class: "small" }, el("thead", {}, el("tr", {}, el("th", {}, "resource"), el("th", {}, "available"), el("th", {}, "total"))),
    el("tbody", {}, ...page.resources.filter(r => c.capacity[r]).map(r => el("tr", {},
      el("td", {}, RESOURCE_WORDS[r] || r), el("td", { class: "num" }, amount(r, c.capacity[r].available)), el("td", { class: "num" }, amount(r, c.capacity[r].total))))));
  const links = el("table", { class: "small links" }, el("thead", {}, el("tr", {}, el("th", {}, "peer"), el("th", {}, "state"),
    el("th", {}, "RTT"), el("th", {}, "loss"), el("th", {}, "Gbit/s"), el("th", {}, ""))),
  el("tbody", {}, ...c.links.map(l => {
    const cut = el("button", { type: "button", class: "linkish", title: "what if this link is cut?" }, "cut?");
    cut.addEventListener("click", () => { page.picked.cut.set(linkKey(l.a, l.b), [l.a, l.b]); renderPicked(); runWhatIf(); });
    return el("tr", { "data-link": `${l.a}--${l.b}`, "data-state": l.state },
      el("td", {}, l.peer, l.bridge ? el("span", { class: "count" }, " bridge") : null), el("td", {}, linkChip(l.state)),
      el("td", { class: "num" }, l.rtt_s != null ? `${(l.rtt_s * 1000).toFixed(2)} ms` : "–"),
      el("td", { class: "num" }, l.loss_ratio != null ? `${(100 * l.loss_ratio).toFixed(0)} %` : "–"),
      el("td", { class: "num" }, String(l.bandwidth_gbps)), el("td", {}, cut));
  })));
  panel.removeAttribute("aria-busy");
  panel.replaceChildren(
    el("header", {}, el("h3", {}, c.name, " ", el("span", { class: "count", "data-detail-id": "" }, c.id)), close),
    el("p", { class: "status" }, pill(c.status), hypothetical),
    c.why ? el("p", { class: "why" }, c.why) : null,
    el("p", { class: "facts" }, facts.join(" · ")),
    incidents.length ? el("div", {}, el("h4", {}, "incidents"), el("ul", { class: "plain" }, ...incidents)) : null,
    el("h4", {}, "capacity"), Object.keys(c.capacity).length ? capacity : el("p", { class: "count" }, "no capacity report"),
    el("h4", {}, `links (${c.links.length})`), links,
    el("p", {}, failIt));
}

// --- what-if -----------------------------------------------------------------------------------

function renderPicked() {
  const list = document.getElementById("whatif-picked");
  const items = [];
  for (const id of page.picked.down) {
    const remove = el("button", { type: "button", "aria-label": `remove ${id}` }, "×");
    remove.addEventListener("click", () => { page.picked.down.delete(id); renderPicked(); });
    items.push(el("li", { "data-down": id }, `${id} fails `, remove));
  }
  for (const [key, pair] of page.picked.cut) {
    const remove = el("button", { type: "button", "aria-label": `remove ${key}` }, "×");
    remove.addEventListener("click", () => { page.picked.cut.delete(key); renderPicked(); });
    items.push(el("li", { "data-cut": key }, `${pair[0]} — ${pair[1]} cut `, remove));
  }
  list.replaceChildren(...items);
}

function addPicked(kind) {
  const input = document.getElementById(kind === "down" ? "whatif-center" : "whatif-link");
  const error = document.getElementById("whatif-error");
  const value = input.value.trim();
  if (!value) return;
  if (kind === "down") {
    if (!page.centers.has(value)) { error.textContent = `no center ${value}`; return; }
    page.picked.down.add(value);
  } else {
    const pair = value.split(/\s*(?:--|—|,|\s)\s*/).filter(Boolean);
    const key = pair.length === 2 ? linkKey(pair[0], pair[1]) : "";
    if (!page.links.has(key)) { error.textContent = `no registered link ${value} (write it a--b)`; return; }
    page.picked.cut.set(key, key.split("--"));
  }
  error.textContent = "";
  input.value = "";
  renderPicked();
}

async function runWhatIf() {
  const error = document.getElementById("whatif-error");
  if (!page.picked.down.size && !page.picked.cut.size) { error.textContent = "pick a center or a link first"; return; }
  const body = {
    down: [...page.picked.down], cut: [...page.picked.cut.values()], repair: [],
    base: document.getElementById("whatif-healthy").checked ? "healthy" : "current",
  };
  error.textContent = "asking…";
  try {
    page.whatif = await getJSON("/api/v1/whatif", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
  } catch (err) {
    error.textContent = err.message;
    return;
  }
  error.textContent = "";
  renderWhatIf();
}

function clearWhatIf() {
  page.whatif = null;
  page.picked.down.clear();
  page.picked.cut.clear();
  document.getElementById("whatif-healthy").checked = false;
  document.getElementById("whatif-error").textContent = "";
  renderPicked();
  renderWhatIf();
}

function ratioLine(label, before, after) {
  return `${label} ${percent(before)} → ${percent(after)}`;
}

function renderWhatIf() {
  const result = document.getElementById("whatif-result");
  const banner = document.getElementById("whatif-banner");
  const w = page.whatif;
  document.body.classList.toggle("whatif", Boolean(w));
  paintMap();
  if (page.detailId) refreshDetail();
  if (!w) {
    result.hidden = true;
    result.replaceChildren();
    banner.hidden = true;
    return;
  }
  const s = w.scenario;
  const question = [...s.down.map(d => `${d} fails`), ...s.cut.map(([a, b]) => `${a} — ${b} is cut`)].join(", ")
    + (s.base === "healthy" ? " (from a healthy federation)" : "");
  document.getElementById("whatif-banner-text").textContent =
    `WHAT-IF — nothing changed for real. The map shows what would happen if ${question}: ${w.changes.length} center${w.changes.length === 1 ? "" : "s"} would change.`;
  banner.hidden = false;
  const transitions = new Map();
  for (const change of w.changes) {
    const key = `${change.from}→${change.to}`;
    if (!transitions.has(key)) transitions.set(key, { from: change.from, to: change.to, changes: [] });
    transitions.get(key).changes.push(change);
  }
  const lost = w.lost_core.length;
  const headline = el("p", { class: "whatif-headline" },
    el("strong", {}, "Hypothetical: "), ratioLine("connected", w.connected_ratio.before.all, w.connected_ratio.after.all),
    ` · ${lost} center${lost === 1 ? "" : "s"} would lose the core`,
    Object.keys(w.capacity.unreachable || {}).length ? ` · unreachable: ${capacityWords(w.capacity.unreachable)}` : "");
  const changes = [...transitions.values()].map(t => el("details", { class: "members", "data-transition": `${t.from}→${t.to}` },
    el("summary", {}, `${t.changes.length} `, pill(t.from), " → ", pill(t.to)),
    el("table", { class: "victims" }, el("tbody", {}, ...t.changes.map(c => el("tr", { "data-center": c.center, "data-status": c.to },
      el("td", {}, pill(c.to)), el("td", {}, c.center), el("td", { class: "why" }, c.why || "")))))));
  const incidents = w.incidents.map(i => incidentCard(i, { hypothetical: true }));
  const clear = el("button", { type: "button" }, "Clear what-if");
  clear.addEventListener("click", clearWhatIf);
  result.replaceChildren(headline,
    changes.length ? el("div", { class: "changes" }, ...changes) : el("p", {}, "No center would change status."),
    incidents.length ? el("h4", {}, `incidents that would exist (${incidents.length})`) : null, ...incidents, clear);
  result.hidden = false;
}

function wireWhatIf() {
  const form = document.getElementById("whatif-form");
  form.addEventListener("submit", e => { e.preventDefault(); addPicked("down"); addPicked("link"); runWhatIf(); });
  document.getElementById("whatif-add-center").addEventListener("click", () => addPicked("down"));
  document.getElementById("whatif-add-link").addEventListener("click", () => addPicked("link"));
  for (const [id, kind] of [["whatif-center", "down"], ["whatif-link", "link"]]) {
    document.getElementById(id).addEventListener("keydown", e => {
      if (e.key === "Enter") { e.preventDefault(); addPicked(kind); }
    });
  }
  document.getElementById("whatif-clear").addEventListener("click", clearWhatIf);
  document.getElementById("whatif-banner-clear").addEventListener("click", clearWhatIf);
  document.getElementById("center-ids").replaceChildren(...[...page.centers.keys()].sort().map(id => el("option", { value: id })));
  document.getElementById("link-ids").replaceChildren(...[...page.links.keys()].sort().map(key => el("option", { value: key })));
}

// --- events ------------------------------------------------------------------------------------

// Transitions from or to unknown (start-up, a blind spell) come by the dozen, and so do the link
// changes of one failure (a hub's 25 links): each such burst is one line, expandable.
function burst(event) {
  if ((event.type === "center" || event.type === "link") && (event.old === "unknown" || event.new === "unknown")) {
    return { key: "unknown", window: GROUP_WINDOW_S };
  }
  if (event.type === "link") return { key: "link", window: LINK_BURST_S };
  return null;
}

function addEvent(event) {
  const top = page.events[0];
  const kind = burst(event);
  if (kind && top && top.group && top.key === kind.key && event.at - top.last <= kind.window) {
    top.events.push(event);
    top.last = event.at;
  } else if (kind) {
    page.events.unshift({ group: true, key: kind.key, events: [event], first: event.at, last: event.at });
  } else {
    page.events.unshift({ group: false, event });
  }
  page.events.length = Math.min(page.events.length, MAX_EVENTS);
}

function transitionCounts(events, type) {
  const counts = new Map();
  for (const e of events.filter(x => x.type === type)) {
    const key = `${e.old}→${e.new}`;
    counts.set(key, { old: e.old, new: e.new, n: (counts.has(key) ? counts.get(key).n : 0) + 1 });
  }
  return [...counts.values()];
}

function stateOf(type, value) { return type === "center" ? pill(value) : linkChip(value); }

function eventItem(entry) {
  if (entry.group && entry.events.length === 1) return eventItem({ group: false, event: entry.events[0] });
  if (entry.group) {
    const centers = entry.events.filter(e => e.type === "center"), links = entry.events.filter(e => e.type === "link");
    const summary = el("summary", {}, el("time", {}, clock(entry.last)));
    for (const [type, list, noun] of [["center", centers, "center"], ["link", links, "link"]]) {
      if (!list.length) continue;
      const n = new Set(list.map(e => (type === "center" ? e.center : `${e.a}--${e.b}`))).size;
      summary.append(el("strong", {}, `${n} ${noun}${n === 1 ? "" : "s"}`), " ");
      for (const t of transitionCounts(entry.events, type)) summary.append(stateOf(type, t.old), " → ", stateOf(type, t.new), ` ×${t.n} `);
    }
    const details = el("details", {}, summary, el("ul", { class: "plain" }, ...entry.events.map(e =>
      el("li", e.type === "center" ? { "data-center": e.center, "data-status": e.new } : { "data-link": `${e.a}--${e.b}`, "data-state": e.new },
        e.type === "center" ? e.center : `${e.a} — ${e.b}`, " ", stateOf(e.type, e.old), " → ", stateOf(e.type, e.new)))));
    return el("li", { class: "group", "data-group": String(entry.events.length) }, details);
  }
  const e = entry.event;
  if (e.type === "incident") {
    return el("li", { class: "incident-event", "data-incident": e.incident, "data-change": e.change },
      el("time", {}, clock(e.at)), el("strong", {}, e.incident), ` ${e.change} `,
      el("span", { class: `severity ${e.severity}` }, e.severity), " ", el("span", { class: "why" }, e.summary));
  }
  if (e.type === "link") {
    return el("li", { class: "link-event", "data-link": `${e.a}--${e.b}`, "data-state": e.new },
      el("time", {}, clock(e.at)), el("strong", {}, `${e.a} — ${e.b}`), " ", linkChip(e.old), " → ", linkChip(e.new),
      e.incident ? el("span", { class: "why" }, ` (${e.incident})`) : null);
  }
  return el("li", { "data-center": e.center, "data-status": e.new },
    el("time", {}, clock(e.at)), el("strong", {}, e.center), " ", pill(e.old), " → ", pill(e.new),
    e.why ? el("span", { class: "why" }, ` ${e.why}`) : null);
}

function renderEvents() {
  const list = document.getElementById("events");
  const open = new Set([...list.querySelectorAll("li.group details[open]")].map(d => d.closest("li").dataset.first));
  list.replaceChildren(...page.events.map(entry => {
    const item = eventItem(entry);
    if (entry.group) {
      item.dataset.first = String(entry.first);
      if (open.has(String(entry.first))) item.querySelector("details").open = true;
    }
    return item;
  }));
}

function listen() {
  const state = document.getElementById("stream-state");
  const source = new EventSource("/api/v1/events/stream");
  source.onopen = () => { state.textContent = "live"; page.streamDownSince = null; renderFreshness(); };
  source.onerror = () => {
    state.textContent = "reconnecting…";
    if (!page.streamDownSince) page.streamDownSince = Date.now();
    renderFreshness();
  };
  const onEvent = type => message => {
    const event = { type, ...JSON.parse(message.data) };
    addEvent(event);
    renderEvents();
    scheduleRefresh(250);
  };
  source.addEventListener("status", onEvent("center"));
  source.addEventListener("link", onEvent("link"));
  source.addEventListener("incident", onEvent("incident"));
}

// --- start -------------------------------------------------------------------------------------

async function main() {
  const [schema, outline, centers, topology, recent] = await Promise.all([
    getJSON("/openapi.json"), getJSON("/static/vietnam.geojson"), getJSON("/api/v1/centers"),
    getJSON("/api/v1/topology"), getJSON(`/api/v1/events?limit=${MAX_EVENTS * 4}`),
  ]);
  loadVocabulary(schema);
  renderLegend();
  for (const c of centers.centers || []) page.centers.set(c.id, c);
  page.links = new Map((topology.links || []).map(l => [`${l.source}--${l.target}`, l]));
  drawMap(outline, centers.centers || [], topology.links || []);
  paintMap();
  wireWhatIf();
  for (const event of [...(recent.events || [])].sort((x, y) => x.seq - y.seq)) addEvent(event);
  renderEvents();
  listen();
  await refresh();
  scheduleRefresh(REFRESH_MS);
  setInterval(renderFreshness, 1000);
  document.body.setAttribute("data-ready", "true");
}

main().catch(err => {
  page.lastError = err.message;
  document.getElementById("summary").textContent = `cannot load the federation: ${err.message}`;
  renderFreshness();
  setTimeout(() => window.location.reload(), 5000);
});
