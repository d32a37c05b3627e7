// Latent sliders: decodes z in the browser on every slider / pad move (Streamlit components v2).
//
// ui/live_decoder.py prepends ui/live_decoder_math.js (LiveDecoderMath) and
// ui/decoder_loader.js (loadDecoder, el) to this module. Weights
// are fetched once per decoder hash from Streamlit's static serving and kept in a window-level
// Map, so reruns and remounts never download them again. Dragging redraws at most once per
// animation frame; on release the code goes back to Python at once (setStateValue "z"), which
// shows the exact PyTorch decode. The DOM is built once per (model, start point) and reused
// across reruns, so a rerun that lands mid-drag does not interrupt the drag.

const STATES = new WeakMap(); // root element -> live state
const SEND_GAP_MS = 40; // at most one report per 40 ms: held arrow keys fire a change each
const SCALE = 10; // 28 px -> 280 px on screen
const SERVER_SCALE = 4; // the server's decode, beside its status line: 112 px

const fmt = (v) => (v >= 0 ? "+" : "") + v.toFixed(2);
const fmt4 = (v) => (v >= 0 ? "+" : "") + v.toFixed(4);

function buildSliders(s, box) {
  const { dims } = s.data;
  s.sliders = [];
  s.readouts = [];
  for (const d of dims) {
    const row = el("div", { class: d.collapsed ? "vll-row vll-collapsed" : "vll-row" }, box);
    const label = el("label", { for: `vll-z-${d.index}`, class: "vll-label" }, row);
    el("span", { class: "vll-name", text: `z${d.index}` }, label);
    el("span", { class: "vll-score", text: d.score }, label);
    if (d.collapsed) el("span", { class: "vll-badge", text: "collapsed", title: d.tip }, label);
    // Track and value wrap together below the label when the row is too narrow for both.
    const control = el("div", { class: "vll-control" }, row);
    const input = el("input", {
      type: "range",
      id: `vll-z-${d.index}`,
      min: d.lo,
      max: d.hi,
      step: 0.01,
      "data-testid": `z-slider-${d.index}`,
      "aria-label": `latent dim ${d.index}`,
    }, control);
    input.value = s.z[d.index];
    const out = el("output", { class: "vll-value", text: fmt(s.z[d.index]) }, control);
    input.addEventListener("input", () => {
      s.z[d.index] = parseFloat(input.value);
      out.textContent = fmt(s.z[d.index]);
      drawPad(s);
      schedule(s);
    });
    input.addEventListener("change", () => sendSoon(s));
    s.sliders[d.index] = input;
    s.readouts[d.index] = out;
  }
}

function setDim(s, j, value) {
  const d = s.byIndex[j];
  const v = Math.min(d.hi, Math.max(d.lo, value));
  s.z[j] = v;
  s.sliders[j].value = v;
  s.readouts[j].textContent = fmt(v);
}

function buildPad(s, box) {
  const { dims, pad } = s.data;
  if (dims.length < 2) return;
  s.pad = pad.slice();
  const head = el("div", { class: "vll-pad-head" }, box);
  el("span", { text: "2-D pad: x =" }, head);
  const selects = [0, 1].map((axis) => {
    const sel = el("select", { "data-testid": `z-pad-dim-${axis}` }, head);
    for (const d of dims) el("option", { value: d.index, text: `z${d.index}` }, sel);
    sel.value = s.pad[axis];
    sel.addEventListener("change", () => {
      s.pad[axis] = parseInt(sel.value, 10);
      drawPad(s);
    });
    if (axis === 0) el("span", { text: "y =" }, head);
    return sel;
  });
  s.padSelects = selects;
  s.padCanvas = el("canvas", { width: 200, height: 200, class: "vll-pad", "data-testid": "z-pad" }, box);
  const move = (ev) => {
    const r = s.padCanvas.getBoundingClientRect();
    const fx = Math.min(1, Math.max(0, (ev.clientX - r.left) / r.width));
    const fy = Math.min(1, Math.max(0, (ev.clientY - r.top) / r.height));
    const [dx, dy] = s.pad.map((j) => s.byIndex[j]);
    setDim(s, dx.index, dx.lo + fx * (dx.hi - dx.lo));
    setDim(s, dy.index, dy.hi - fy * (dy.hi - dy.lo)); // up is positive
    drawPad(s);
    schedule(s);
  };
  s.padCanvas.addEventListener("pointerdown", (ev) => {
    s.padCanvas.setPointerCapture(ev.pointerId);
    s.padDragging = true;
    move(ev);
  });
  s.padCanvas.addEventListener("pointermove", (ev) => s.padDragging && move(ev));
  const end = () => {
    if (!s.padDragging) return;
    s.padDragging = false;
    sendSoon(s);
  };
  s.padCanvas.addEventListener("pointerup", end);
  s.padCanvas.addEventListener("pointercancel", end);
}

function drawPad(s) {
  if (!s.padCanvas) return;
  const c = s.padCanvas.getContext("2d");
  const { width: w, height: h } = s.padCanvas;
  const [dx, dy] = s.pad.map((j) => s.byIndex[j]);
  c.fillStyle = "#f4f5f7";
  c.fillRect(0, 0, w, h);
  c.strokeStyle = "#d5d8de";
  for (let k = 1; k < 7; k++) {
    c.beginPath();
    c.moveTo((k * w) / 7, 0);
    c.lineTo((k * w) / 7, h);
    c.moveTo(0, (k * h) / 7);
    c.lineTo(w, (k * h) / 7);
    c.stroke();
  }
  const px = ((s.z[dx.index] - dx.lo) / (dx.hi - dx.lo)) * w;
  const py = (1 - (s.z[dy.index] - dy.lo) / (dy.hi - dy.lo)) * h;
  c.fillStyle = "#ff4b4b";
  c.beginPath();
  c.arc(px, py, 6, 0, 2 * Math.PI);
  c.fill();
}

// A canvas for one 28 x 28 image drawn ``scale`` times larger (see ``paint``).
function imageCanvas(parent, scale, attrs) {
  return el("canvas", { width: 28 * scale, height: 28 * scale, ...attrs }, parent);
}

function build(root, data) {
  root.replaceChildren();
  root.dataset.hash = data.hash;
  const s = {
    data,
    hash: data.hash,
    token: data.token,
    z: Float64Array.from(data.z),
    y: data.y,
    byIndex: {},
    decoder: null,
    dirty: true,
    raf: 0,
    frames: 0,
    decodeMs: 0,
    recent: [],
    sendTimer: 0,
    lastSend: -Infinity,
    sendSeq: 0, // sends so far: only the latest one reports its z
  };
  for (const d of data.dims) s.byIndex[d.index] = d;
  // The root is the CSS container whose width picks the layout (ui/live_decoder.css); a
  // container query styles the root's descendants, so the grid is one level down.
  const layout = el("div", { class: "vll-layout" }, root);
  const sliders = el("div", { class: "vll-sliders" }, layout);
  const view = el("div", { class: "vll-view" }, layout);
  s.canvas = imageCanvas(view, SCALE, { class: "vll-image", "data-testid": "live-image" });
  s.small = document.createElement("canvas");
  s.small.width = 28;
  s.small.height = 28;
  s.status = el("div", { class: "vll-status", "data-testid": "live-status" }, view);
  s.status.textContent = `Loading the decoder (${(data.nbytes / 2 ** 20).toFixed(1)} MiB, once)…`;
  const server = el("div", { class: "vll-server" }, view);
  s.serverCanvas = imageCanvas(server, SERVER_SCALE, {
    class: "vll-server-image",
    "data-testid": "server-image",
    "data-frames": "0",
  });
  s.serverStatus = el("div", { class: "vll-status", "data-testid": "server-status" }, server);
  s.serverStatus.textContent = "PyTorch decode on the server: after the first release…";
  s.serverSeq = 0;
  const side = el("div", { class: "vll-side" }, layout);
  const reset = el("button", { class: "vll-reset", type: "button", text: "Reset to start" }, side);
  reset.addEventListener("click", () => {
    for (const d of data.dims) setDim(s, d.index, data.z0[d.index]);
    drawPad(s);
    schedule(s);
    sendSoon(s);
  });
  buildSliders(s, sliders);
  buildPad(s, el("div", { class: "vll-pad-box" }, side));
  drawPad(s);
  buildZText(s, el("div", { class: "vll-zbox" }, layout));
  const save = el("button", { class: "vll-reset", type: "button", text: "Download PNG" }, side);
  save.addEventListener("click", () => downloadPng(s.canvas, "latent-sliders.png"));
  return s;
}

// The decoded image as a PNG file (the canvas: 28 px upscaled without smoothing).
function downloadPng(canvas, name) {
  canvas.toBlob((blob) => {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = name;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  }, "image/png");
}

// The current z as a Python list, kept in step with every drawn frame, with a copy button;
// and a link to this page at this z (the form ui/links.py reads), with its own copy button.
function buildZText(s, box) {
  s.zText = el("code", { class: "vll-z", "data-testid": "live-z" }, box);
  copyButton(box, "Copy z", () => s.zText.textContent, s.zText);
  if (s.data.linkModel) {
    s.link = el("a", { class: "vll-link", "data-testid": "live-link", text: "Link to this code" });
    copyButton(box, "Copy link", () => s.link.href, s.link);
    box.appendChild(s.link);
  }
  showZ(s);
}

function copyButton(box, name, text, fallback) {
  const copy = el("button", { class: "vll-reset", type: "button", text: name }, box);
  copy.addEventListener("click", () => {
    const done = () => (copy.textContent = "Copied");
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text()).then(done, () => selectText(fallback));
    } else {
      selectText(fallback); // no clipboard API on plain http: select it for Ctrl+C
    }
    setTimeout(() => (copy.textContent = name), 1500);
  });
}

// This page's address with the model, the z as the sliders report it (4 decimals) and the class.
function linkHref(s) {
  const query = new URLSearchParams({ model: s.data.linkModel });
  query.set("z", Array.from(s.z, (v) => String(Math.round(v * 1e4) / 1e4 + 0)).join(","));
  if (s.y !== null && s.y !== undefined) query.set("y", String(s.y));
  return `${window.location.origin}${window.location.pathname}?${query}`;
}

function selectText(node) {
  const range = document.createRange();
  range.selectNodeContents(node);
  const sel = node.getRootNode().getSelection ? node.getRootNode().getSelection() : getSelection();
  sel.removeAllRanges();
  sel.addRange(range);
}

// Every value is written with its sign, so each one is as wide as the next (monospace) and the
// wrapped readout keeps its line breaks while z changes: a drag never reflows the page below.
// "+0.5000" is still a Python (and numpy / torch) literal, so the copied list pastes as code.
function showZ(s) {
  s.zText.textContent = `z = [${Array.from(s.z, (v) => fmt4(v)).join(", ")}]`;
  if (s.link) s.link.href = linkHref(s);
}

function schedule(s) {
  s.dirty = true;
  if (!s.raf) s.raf = requestAnimationFrame(() => frame(s));
}

// 784 pixel means in [0, 1] onto a canvas, upscaled without smoothing (via a 28x28 canvas).
function paint(canvas, small, img) {
  const pixels = new ImageData(28, 28);
  for (let p = 0; p < 784; p++) {
    const v = Math.floor(Math.min(1, Math.max(0, img[p])) * 255 + 0.5);
    pixels.data[4 * p] = v;
    pixels.data[4 * p + 1] = v;
    pixels.data[4 * p + 2] = v;
    pixels.data[4 * p + 3] = 255;
  }
  small.getContext("2d").putImageData(pixels, 0, 0);
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(small, 0, 0, canvas.width, canvas.height);
}

function render(s) {
  const t0 = performance.now();
  const img = s.decoder.decode(s.z, s.y);
  paint(s.canvas, s.small, img);
  s.shown = img;
  const t1 = performance.now();
  s.frames += 1;
  s.decodeMs += t1 - t0;
  s.recent.push(t1);
  while (s.recent.length && s.recent[0] < t1 - 1000) s.recent.shift();
  s.canvas.dataset.frames = String(s.frames);
  s.canvas.dataset.decodeMs = (s.decodeMs / s.frames).toFixed(3);
  s.canvas.dataset.ready = "1";
  showZ(s);
  const fps = s.recent.length > 1 ? ` · ${s.recent.length} frames in the last second` : "";
  s.status.textContent = `Decoded in your browser in ${(t1 - t0).toFixed(1)} ms${fps}`;
  return img;
}

function frame(s) {
  s.raf = 0;
  if (!s.decoder || !s.dirty) return;
  s.dirty = false;
  render(s);
}

// A release is reported at once (no debounce on the latency path); a burst of changes (held
// arrow keys) is throttled to one report per SEND_GAP_MS, the last one carrying the latest z.
function sendSoon(s) {
  if (s.sendTimer) return; // a trailing report is already due and will read the latest z
  const wait = s.lastSend + SEND_GAP_MS - performance.now();
  if (wait <= 0) {
    send(s);
    return;
  }
  s.sendTimer = setTimeout(() => {
    s.sendTimer = 0;
    send(s);
  }, wait);
}

// The report carries the browser's pixels for this z. They are drawn here, in the release's own
// event, instead of at the next animation frame: one decode instead of two, and Streamlit's
// send (a zero-delay timer) no longer waits behind that frame's decode and paint.
function send(s) {
  if (!s.decoder) return;
  s.lastSend = performance.now();
  if (s.raf) cancelAnimationFrame(s.raf);
  s.raf = 0;
  s.dirty = false;
  for (let j = 0; j < s.z.length; j++) s.z[j] = Math.round(s.z[j] * 1e4) / 1e4; // as reported
  render(s);
  // The rerun (z kept, traversals redrawn) is asked for once the server image is painted: its
  // page updates would otherwise hold the browser's main thread while that image comes in.
  // Only the latest send reports: the decode route answers from a thread pool, so an earlier
  // z's answer can arrive after a later one's, and its report would then undo the later z.
  const report = { token: s.token, z: Array.from(s.z), y: s.y };
  const seq = ++s.sendSeq;
  const rerun = () => {
    if (seq === s.sendSeq) s.setStateValue("z", report);
  };
  fetchServerDecode(s).finally(() => requestAnimationFrame(() => setTimeout(rerun, 0)));
}

// The exact PyTorch decode of the current z from the app's decode route (ui/decode_route.py),
// drawn beside the browser's own with their largest pixel difference. Only the answer to the
// latest request is drawn (a quick second release overtakes the first). Never rejects.
function fetchServerDecode(s) {
  const seq = ++s.serverSeq;
  const z = Array.from(s.z);
  const browser = s.shown;
  const query = new URLSearchParams({ d: s.hash, z: z.join(",") });
  if (s.y !== null && s.y !== undefined) query.set("y", String(s.y));
  return fetch(`${s.data.decodeUrl}?${query}`, { cache: "no-store" })
    .then(async (r) => {
      if (!r.ok) throw new Error(`${r.status} ${(await r.text()).slice(0, 200)}`);
      return r.arrayBuffer();
    })
    .then((buf) => {
      if (seq !== s.serverSeq) return;
      const server = new Float32Array(buf);
      if (server.length !== 784) throw new Error(`expected 784 values, got ${server.length}`);
      paint(s.serverCanvas, s.small, server);
      let gap = 0;
      for (let p = 0; p < 784; p++) gap = Math.max(gap, Math.abs(server[p] - browser[p]));
      s.serverCanvas.dataset.frames = String(+s.serverCanvas.dataset.frames + 1);
      s.serverCanvas.dataset.gap = String(gap);
      s.serverStatus.classList.remove("vll-error");
      s.serverStatus.textContent =
        `PyTorch decode of z on the server (E[x|z]) · Browser vs PyTorch: max difference ` +
        `${gap.toExponential(1)} per pixel (values in [0, 1])`;
    })
    .catch((err) => {
      if (seq !== s.serverSeq) return;
      s.serverStatus.textContent = `The server decode is unavailable: ${err.message}`;
      s.serverStatus.classList.add("vll-error");
    });
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  const root = parentElement.querySelector(".vll-root");
  if (!root || !data) return undefined;
  let s = STATES.get(root);
  const dimsKey = JSON.stringify(data.dims.map((d) => [d.index, d.lo, d.hi]));
  if (!s || s.hash !== data.hash || s.token !== data.token || s.dimsKey !== dimsKey) {
    s = build(root, data);
    s.dimsKey = dimsKey;
    STATES.set(root, s);
  }
  s.setStateValue = setStateValue;
  root.dataset.serverZ = data.z.map((v) => v.toFixed(4)).join(","); // test hook: the server's z
  if (s.y !== data.y) {
    s.y = data.y;
    if (s.decoder) {
      render(s);
      fetchServerDecode(s);
    }
  }
  if (!s.decoder) {
    loadDecoder(data).then(
      (dec) => {
        s.decoder = dec;
        s.dirty = false;
        render(s);
        fetchServerDecode(s); // the start point's server decode, before any release
      },
      (err) => {
        s.status.textContent = `The in-browser decoder could not load: ${err.message}`;
        s.status.classList.add("vll-error");
        s.canvas.dataset.error = err.message;
      },
    );
  }
  return undefined; // listeners live on elements owned by this root; nothing to tear down
}
