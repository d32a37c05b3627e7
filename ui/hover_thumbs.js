// Hover thumbnails on the latent map (ui/hover_thumbs.py): the image of the point under the
// cursor, cut from one sprite that is fetched once per image set, drawn beside the cursor.
//
// The component has no area of its own. It finds the plotly chart whose element container has
// the class ``data.chart`` (Streamlit's st-key-<key>) and listens to mouse moves over it. It
// finds the nearest point itself, from a grid index over the points' data coordinates (read
// from the chart's own traces; each point's dataset row rides in ``customdata``): plotly's
// plotly_hover event is throttled to one per 50 ms, too slow to follow the cursor. The lookup
// runs at most once per animation frame. It only listens (never preventDefault, no pointer
// events on the thumbnail), so panning, zooming and selection stay plotly's own; while a mouse
// button is down (a pan or a box select) no thumbnail is shown. A rerun that replaces the
// chart's graph div binds the new one.

const SCALE = 3; // 28 px thumbnails shown at 84 px
const OFFSET = 16; // px between the cursor and the thumbnail

function sprites() {
  if (!window.__vaeLabSprites) window.__vaeLabSprites = new Map();
  return window.__vaeLabSprites;
}

function loadSprite(url) {
  const cache = sprites();
  if (!cache.has(url)) {
    const img = new Image();
    const ready = new Promise((resolve, reject) => {
      img.onload = () => resolve(img);
      img.onerror = () => reject(new Error(`could not load ${url}`));
    });
    img.src = url;
    ready.catch(() => cache.delete(url));
    cache.set(url, ready);
  }
  return cache.get(url);
}

function thumbBox() {
  let box = document.querySelector('[data-testid="hover-thumb"]');
  if (box) return box;
  box = document.createElement("div");
  box.dataset.testid = "hover-thumb";
  box.setAttribute("data-testid", "hover-thumb");
  Object.assign(box.style, {
    position: "fixed",
    zIndex: 1000,
    pointerEvents: "none", // never steals the hover or a drag from the chart
    display: "none",
    background: "#fff",
    border: "1px solid #bbb",
    borderRadius: "4px",
    padding: "4px",
    boxShadow: "0 2px 6px rgba(0,0,0,.2)",
    font: "12px sans-serif",
    color: "#222",
    textAlign: "center",
  });
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = 28 * SCALE;
  canvas.style.display = "block";
  canvas.style.imageRendering = "pixelated";
  const text = document.createElement("div");
  box.append(canvas, text);
  document.body.append(box);
  return box;
}

const RADIUS = 10; // px: a point counts as hovered within this distance of the cursor
const BINS = 64;

function buildIndex(gd) {
  const xs = [], ys = [], rows = [], traces = [];
  gd._fullData.forEach((t, ti) => {
    if (t.type !== "scattergl" || !t.customdata) return;
    for (let i = 0; i < t.x.length; i++) {
      const cd = t.customdata[i]; // [row], as a typed array or a list
      xs.push(t.x[i]);
      ys.push(t.y[i]);
      rows.push(Number(cd !== null && typeof cd === "object" ? cd[0] : cd));
      traces.push(t.index ?? ti);
    }
  });
  if (!xs.length) return null;
  const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  const sx = (x1 - x0 || 1) / BINS, sy = (y1 - y0 || 1) / BINS;
  const cells = new Map();
  for (let i = 0; i < xs.length; i++) {
    const key = Math.min(BINS - 1, Math.floor((xs[i] - x0) / sx)) * BINS
      + Math.min(BINS - 1, Math.floor((ys[i] - y0) / sy));
    if (!cells.has(key)) cells.set(key, []);
    cells.get(key).push(i);
  }
  return { xs, ys, rows, traces, x0, y0, sx, sy, cells };
}

// The point nearest the page pixel (cx, cy) within RADIUS px, among visible traces, or -1.
function nearest(gd, index, cx, cy) {
  // A rerun or a page change can purge the chart between the mouse move and this frame
  // (plotly empties _fullLayout): then there is no point under the cursor.
  const layout = gd.isConnected ? gd._fullLayout : null;
  const xa = layout && layout.xaxis, ya = layout && layout.yaxis;
  if (!xa || !ya || !xa.p2l || !ya.p2l) return -1;
  const box = gd.getBoundingClientRect();
  const px = cx - box.left - xa._offset, py = cy - box.top - ya._offset;
  if (px < 0 || py < 0 || px > xa._length || py > ya._length) return -1;
  const dx = Math.abs(xa.p2l(px + RADIUS) - xa.p2l(px)), dy = Math.abs(ya.p2l(py + RADIUS) - ya.p2l(py));
  const lx = xa.p2l(px), ly = ya.p2l(py);
  const i0 = Math.floor((lx - dx - index.x0) / index.sx), i1 = Math.floor((lx + dx - index.x0) / index.sx);
  const j0 = Math.floor((ly - dy - index.y0) / index.sy), j1 = Math.floor((ly + dy - index.y0) / index.sy);
  let best = -1, bestD = RADIUS * RADIUS;
  for (let i = Math.max(0, i0); i <= Math.min(BINS - 1, i1); i++) {
    for (let j = Math.max(0, j0); j <= Math.min(BINS - 1, j1); j++) {
      for (const k of index.cells.get(i * BINS + j) || []) {
        const trace = gd._fullData[index.traces[k]];
        if (trace && trace.visible !== true) continue; // hidden from the legend
        const ex = xa.l2p(index.xs[k]) - px, ey = ya.l2p(index.ys[k]) - py;
        const d = ex * ex + ey * ey;
        if (d <= bestD) { bestD = d; best = k; }
      }
    }
  }
  return best < 0 ? -1 : index.rows[best];
}

function show(state, row, cx, cy) {
  const d = state.data;
  if (!state.sprite || !Number.isInteger(row) || row < 0 || row >= d.labels.length) return hide();
  const box = thumbBox();
  if (box.dataset.row !== String(row) || box.style.display === "none") {
    const canvas = box.firstChild;
    const ctx = canvas.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    const sx = (row % d.perRow) * d.thumb;
    const sy = Math.floor(row / d.perRow) * d.thumb;
    ctx.drawImage(state.sprite, sx, sy, d.thumb, d.thumb, 0, 0, canvas.width, canvas.height);
    const label = d.labels[row];
    box.lastChild.textContent = `${d.names[label] ?? label} · ${d.noun} #${row}`;
    box.dataset.row = String(row);
  }
  const w = box.firstChild.width + 10;
  box.style.left = `${Math.min(cx + OFFSET, window.innerWidth - w - 4)}px`;
  box.style.top = `${Math.min(cy + OFFSET, window.innerHeight - w - 24)}px`;
  box.style.display = "block";
}

function hide() {
  const box = document.querySelector('[data-testid="hover-thumb"]');
  if (box) box.style.display = "none";
}

function bind(state) {
  const gd = document.querySelector(`.${state.data.chart} .js-plotly-plot`);
  if (!gd || !gd._fullData || gd === state.gd) return;
  state.gd = gd;
  state.index = buildIndex(gd);
  gd.on("plotly_afterplot", () => {
    if (state.gd === gd) state.index = buildIndex(gd); // new data after a rerun's react()
  });
  let pending = null;
  gd.addEventListener("mousemove", (e) => {
    if (e.buttons) return hide(); // panning or selecting: keep the view clear
    const first = pending === null;
    pending = [e.clientX, e.clientY];
    if (!first) return;
    requestAnimationFrame(() => {
      const [cx, cy] = pending;
      pending = null;
      const row = state.index ? nearest(gd, state.index, cx, cy) : -1;
      if (row < 0) hide();
      else show(state, row, cx, cy);
    });
  });
  gd.addEventListener("mouseleave", hide);
}

export default function (component) {
  const { data } = component;
  if (!data) return undefined;
  if (!window.__vaeLabHover) window.__vaeLabHover = { data: null, sprite: null, gd: null };
  const state = window.__vaeLabHover;
  if (state.url !== data.sprite) {
    state.url = data.sprite;
    state.sprite = null; // another image set: never show the last one's thumbnails
  }
  state.data = data;
  loadSprite(data.sprite).then(
    (img) => {
      if (state.data === data) state.sprite = img;
    },
    () => {},
  );
  bind(state);
  // The chart may be drawn after this element, and a rerun may replace its graph div.
  const timer = window.setInterval(() => bind(state), 250);
  return () => {
    window.clearInterval(timer);
    hide();
  };
}
