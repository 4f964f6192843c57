// Statechart drawing shared by the inspector (browser) and `statesync diagram` (Node):
// chart graph (statesync_server/chart.py) -> ELK graph -> elkjs layout -> SVG markup.
// No DOM: text widths are estimated for the monospace font the SVG uses, so Node and the
// browser lay a machine out identically.

export const FONT = 12;
export const CHAR = 7.3; // advance of one character at FONT px in the monospace stack below
const LINE = 16;
const HEADER = 26;
const PAD = 10;
const MARKER = 12;

/** Ids of the nodes whose ancestors are all expanded. */
function visibleIds(graph, collapsed) {
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const visible = new Set();
  for (const node of graph.nodes) {
    let parent = node.parent ? byId.get(node.parent) : null;
    let shown = true;
    while (parent) {
      if (collapsed.has(parent.id)) shown = false;
      parent = parent.parent ? byId.get(parent.parent) : null;
    }
    if (shown) visible.add(node.id);
  }
  return visible;
}

/** The visible node standing for `id`: itself, or its nearest collapsed ancestor. */
function standIn(byId, visible, id) {
  let node = byId.get(id);
  while (node && !visible.has(node.id)) node = byId.get(node.parent);
  return node ? node.id : id;
}

function textWidth(text) {
  return Math.ceil(String(text).length * CHAR);
}

/** Lines drawn inside a leaf (or collapsed) state under its name. */
function detailLines(node, hidden) {
  const lines = [];
  for (const tag of node.tags) lines.push(`#${tag}`);
  for (const src of node.invoke) lines.push(`invoke ${src}`);
  for (const label of node.internal) lines.push(`${label} ↺`);
  if (hidden) lines.push(`(${hidden} inside)`);
  return lines;
}

function title(node) {
  if (node.type === "history") return node.history === "deep" ? "H*" : "H";
  return node.key;
}

/**
 * The ELK graph of the visible part of `graph` with `collapsed` compound states folded
 * into single nodes (their transitions kept, re-attached to the folded node).
 * Returns {elkGraph, meta} where meta maps ELK ids back to chart nodes and edges.
 */
export function toElk(graph, collapsed = new Set(), direction = "RIGHT") {
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const visible = visibleIds(graph, collapsed);
  const kids = new Map();
  for (const node of graph.nodes) {
    if (!node.parent) continue;
    if (!kids.has(node.parent)) kids.set(node.parent, []);
    kids.get(node.parent).push(node);
  }
  const descendants = (id) => (kids.get(id) || []).reduce((n, k) => n + 1 + descendants(k.id), 0);
  const meta = { nodes: new Map(), edges: new Map(), root: graph.root };
  const edges = [];

  function build(node) {
    const children = kids.get(node.id) || [];
    const folded = collapsed.has(node.id) && children.length > 0;
    const open = children.length > 0 && !folded;
    const entry = { id: node.id, labels: [{ text: title(node) }] };
    const info = { node, open, folded, lines: [] };
    if (open) {
      entry.layoutOptions = { "elk.padding": `[top=${HEADER + 4},left=${PAD},bottom=${PAD},right=${PAD}]` };
      entry.children = children.map(build);
      if (node.initial && visible.has(node.initial)) {
        const marker = `${node.id}#initial`;
        entry.children.unshift({ id: marker, width: MARKER, height: MARKER });
        meta.nodes.set(marker, { marker: "initial", parent: node.id });
        edges.push({ id: `${marker}->`, sources: [marker], targets: [node.initial] });
        meta.edges.set(`${marker}->`, { initial: true });
      }
    } else if (node.type === "history") {
      entry.width = entry.height = 30;
    } else {
      info.lines = detailLines(node, folded ? descendants(node.id) : 0);
      const widest = Math.max(textWidth(title(node)) + (folded ? 24 : 0), ...info.lines.map(textWidth));
      entry.width = Math.max(70, widest + 2 * PAD);
      entry.height = HEADER + info.lines.length * LINE + (info.lines.length ? 6 : 4);
    }
    meta.nodes.set(node.id, info);
    return entry;
  }

  const root = byId.get(graph.root);
  const top = build(root);
  for (const edge of graph.edges) {
    const source = standIn(byId, visible, edge.source);
    const target = standIn(byId, visible, edge.target);
    const inside = source === target && edge.source !== edge.target; // folded away
    if (inside) continue;
    edges.push({
      id: edge.id, sources: [source], targets: [target],
      labels: [{ text: edge.label, width: textWidth(edge.label) + 8, height: LINE }],
    });
    meta.edges.set(edge.id, { edge, source, target });
  }
  const elkGraph = {
    id: "statechart",
    layoutOptions: {
      "elk.algorithm": "layered",
      "elk.direction": direction,
      "elk.hierarchyHandling": "INCLUDE_CHILDREN",
      "elk.json.edgeCoords": "ROOT",
      "elk.json.shapeCoords": "ROOT",
      "elk.edgeRouting": "ORTHOGONAL",
      "elk.edgeLabels.placement": "CENTER",
      "elk.layered.spacing.nodeNodeBetweenLayers": "40",
      "elk.spacing.nodeNode": "24",
      "elk.spacing.edgeLabel": "4",
      "elk.layered.nodePlacement.strategy": "NETWORK_SIMPLEX",
      "elk.padding": "[top=12,left=12,bottom=12,right=12]",
    },
    children: [top],
    edges,
  };
  return { elkGraph, meta };
}

/** Lay `graph` out with an `ELK` instance (elkjs): the positioned ELK graph and its meta. */
export async function layoutChart(elk, graph, { collapsed = new Set(), direction = "RIGHT" } = {}) {
  const { elkGraph, meta } = toElk(graph, collapsed, direction);
  const laid = await elk.layout(elkGraph);
  return { laid, meta };
}

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
export function esc(text) {
  return String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

function flatten(node, out = []) {
  for (const child of node.children || []) {
    out.push(child);
    flatten(child, out);
  }
  return out;
}

function pathOf(section) {
  const points = [section.startPoint, ...(section.bendPoints || []), section.endPoint];
  return points.map((p, i) => `${i ? "L" : "M"}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(" ");
}

export const STYLE = `
.sc-root{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace;font-size:${FONT}px}
.sc-state rect{fill:#fff;stroke:#5b6b7f;stroke-width:1.2}
.sc-state.sc-compound>rect,.sc-state.sc-parallel>rect{fill:#f6f8fb}
.sc-state.sc-region>rect{stroke-dasharray:5 3;fill:#fbfcfe}
.sc-state.sc-folded>rect{fill:#eef2f8;stroke-width:2}
.sc-state.sc-final>rect.sc-inner{fill:none}
.sc-state.sc-active>rect{fill:#fff4c2;stroke:#c27c00;stroke-width:2.5}
.sc-state.sc-compound.sc-active>rect,.sc-state.sc-parallel.sc-active>rect{fill:#fffbea}
.sc-title{font-weight:700;fill:#1d2733}
.sc-detail{fill:#4b5a6b}
.sc-kind{fill:#7a8797;font-size:10px}
.sc-toggle{cursor:pointer}
.sc-toggle rect{fill:#dfe6ef;stroke:#5b6b7f}
.sc-toggle text{font-weight:700;fill:#1d2733}
.sc-history circle{fill:#fff;stroke:#5b6b7f;stroke-width:1.2}
.sc-history.sc-active circle{fill:#fff4c2;stroke:#c27c00}
.sc-initial{fill:#1d2733}
.sc-edge path{fill:none;stroke:#44536a;stroke-width:1.2}
.sc-edge.sc-after path{stroke-dasharray:4 3}
.sc-edge.sc-error path{stroke:#b3261e}
.sc-edge-label rect{fill:#fff;opacity:.92}
.sc-edge-label text{fill:#1d2733}
.sc-edge.sc-error .sc-edge-label text{fill:#b3261e}
`;

/**
 * SVG markup of a laid-out chart. `active`: ids of the active states (highlighted);
 * `interactive`: draw collapse toggles on compound and parallel states.
 */
export function renderSvg({ laid, meta }, { active = new Set(), interactive = false, title: caption = "" } = {}) {
  const width = Math.ceil(laid.width);
  const height = Math.ceil(laid.height);
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" class="sc-root" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(caption || meta.root)}">`,
    `<defs><marker id="sc-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#44536a"/></marker></defs>`,
    `<style>${STYLE}</style>`,
  ];
  const all = flatten(laid);
  for (const shape of all) {
    const info = meta.nodes.get(shape.id);
    if (!info) continue;
    const { x, y, width: w, height: h } = shape;
    if (info.marker === "initial") {
      out.push(`<circle class="sc-initial" data-initial-of="${esc(info.parent)}" cx="${x + w / 2}" cy="${y + h / 2}" r="${w / 2 - 1}"/>`);
      continue;
    }
    const node = info.node;
    const isActive = active.has(node.id);
    const parent = node.parent ? meta.nodes.get(node.parent) : null;
    const region = parent && parent.node.type === "parallel";
    const classes = ["sc-state", `sc-${node.type}`];
    if (region) classes.push("sc-region");
    if (info.folded) classes.push("sc-folded");
    if (isActive) classes.push("sc-active");
    const data = `data-state-id="${esc(node.id)}" data-state-type="${node.type}"${info.folded ? ' data-collapsed="true"' : ""}${isActive ? ' data-active="true"' : ""}`;
    if (node.type === "history") {
      out.push(`<g class="sc-history sc-state${isActive ? " sc-active" : ""}" ${data}><circle cx="${x + w / 2}" cy="${y + h / 2}" r="${w / 2 - 1}"/><text class="sc-title" x="${x + w / 2}" y="${y + h / 2 + 4}" text-anchor="middle">${esc(title(node))}</text></g>`);
      continue;
    }
    out.push(`<g class="${classes.join(" ")}" ${data}>`);
    out.push(`<rect x="${x}" y="${y}" width="${w}" height="${h}" rx="${info.open ? 8 : 6}"/>`);
    if (node.type === "final") {
      out.push(`<rect class="sc-inner" x="${x + 3}" y="${y + 3}" width="${w - 6}" height="${h - 6}" rx="4"/>`);
    }
    const toggle = interactive && (info.open || info.folded);
    const textX = x + PAD + (toggle ? 20 : 0);
    out.push(`<text class="sc-title" x="${textX}" y="${y + 17}">${esc(title(node))}</text>`);
    if (info.open) {
      const kind = node.type === "parallel" ? "parallel" : "";
      const tags = node.tags.map((t) => `#${t}`).join(" ");
      const extra = [kind, tags, ...node.invoke.map((s) => `invoke ${s}`), ...node.internal.map((l) => `${l} ↺`)].filter(Boolean).join("  ");
      if (extra) out.push(`<text class="sc-kind" x="${textX + textWidth(title(node)) + 10}" y="${y + 17}">${esc(extra)}</text>`);
    }
    info.lines.forEach((line, i) => {
      out.push(`<text class="sc-detail" x="${x + PAD}" y="${y + HEADER + 10 + i * LINE}">${esc(line)}</text>`);
    });
    if (toggle) {
      out.push(`<g class="sc-toggle" data-toggle="${esc(node.id)}" role="button" aria-label="${info.folded ? "expand" : "collapse"} ${esc(node.key)}"><rect x="${x + 6}" y="${y + 5}" width="16" height="16" rx="3"/><text x="${x + 14}" y="${y + 17}" text-anchor="middle">${info.folded ? "+" : "−"}</text></g>`);
    }
    out.push("</g>");
  }
  for (const edge of laid.edges || []) {
    const info = meta.edges.get(edge.id);
    if (!info || !edge.sections) continue;
    if (info.initial) {
      out.push(`<g class="sc-edge sc-initial-edge">${edge.sections.map((s) => `<path d="${pathOf(s)}" marker-end="url(#sc-arrow)"/>`).join("")}</g>`);
      continue;
    }
    const chart = info.edge;
    out.push(`<g class="sc-edge sc-${chart.kind}" data-edge-id="${esc(chart.id)}" data-source="${esc(info.source)}" data-target="${esc(info.target)}" data-label="${esc(chart.label)}">`);
    for (const section of edge.sections) out.push(`<path d="${pathOf(section)}" marker-end="url(#sc-arrow)"/>`);
    for (const label of edge.labels || []) {
      out.push(`<g class="sc-edge-label"><rect x="${label.x}" y="${label.y}" width="${label.width}" height="${label.height}" rx="3"/><text x="${label.x + 4}" y="${label.y + label.height - 4}">${esc(label.text)}</text></g>`);
    }
    out.push("</g>");
  }
  out.push("</svg>");
  return out.join("\n");
}

/** Ids of the states active in a state value (`{"a": "b"}` -> a, a.b; the root, always
 * active, is left out), by path. */
export function activeIds(graph, value) {
  const byPath = new Map(graph.nodes.map((n) => [n.path, n.id]));
  const ids = new Set();
  const walk = (v, prefix) => {
    if (typeof v === "string") {
      const id = byPath.get(prefix + v);
      if (id) ids.add(id);
      return;
    }
    if (v && typeof v === "object") {
      for (const [key, child] of Object.entries(v)) {
        const id = byPath.get(prefix + key);
        if (id) ids.add(id);
        walk(child, `${prefix}${key}.`);
      }
    }
  };
  walk(value, "");
  return ids;
}
