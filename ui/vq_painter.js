// The VQ-VAE code painter (Streamlit components v2): a 7x7 grid of code indices and its image.
//
// ui/vq_codes.py prepends ui/live_decoder_math.js (LiveDecoderMath) and ui/decoder_loader.js
// (loadDecoder, el) to this module. Click a cell
// (data-testid code-cell-R-C), then a code in the palette (code-choice-K): the grid is decoded
// in the page at once (canvas data-testid live-image; the decoder and codebook are fetched once
// per model from Streamlit's static serving), and the new grid goes back to Python
// (setStateValue "grid"), whose fragment decodes it with PyTorch: that image (server-image)
// and its largest gap to the browser's pixels follow. Until the in-page decoder has loaded, or
// if it cannot, the main canvas shows the server's image. The DOM is built once per start grid
// (token) and updated in place on each rerun, so the selected cell survives it.

const STATES = new WeakMap(); // root element -> painter state
const SCALE = 10; // 28 px -> 280 px on screen
const SERVER_SCALE = 3; // the server's decode, small, beside its status line

function draw(canvas, small, img) {
  const pixels = new ImageData(28, 28);
  for (let p = 0; p < 784; p++) {
    const v = Math.floor(Math.min(1, Math.max(0, img[p])) * 255 + 0.5);
    pixels.data.set([v, v, v, 255], 4 * p);
  }
  small.getContext("2d").putImageData(pixels, 0, 0);
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(small, 0, 0, canvas.width, canvas.height);
  canvas.dataset.frames = String(+(canvas.dataset.frames || 0) + 1);
  canvas.dataset.sum = img.reduce((a, b) => a + b, 0).toFixed(3);
  return ctx;
}

function paint(s, img) {
  const ctx = draw(s.canvas, s.small, img);
  // Faint lines over the 4x4-pixel patch of each of the 49 cells: which pixels a cell drives most.
  ctx.strokeStyle = "rgba(255, 120, 0, 0.35)";
  ctx.lineWidth = 1;
  for (let i = 1; i < 7; i++) {
    const t = (i * s.canvas.width) / 7 + 0.5;
    ctx.beginPath(); ctx.moveTo(t, 0); ctx.lineTo(t, s.canvas.height); ctx.stroke();
    ctx.beginPath(); ctx.moveTo(0, t); ctx.lineTo(s.canvas.width, t); ctx.stroke();
  }
}

// The server's image of its grid, and (once the in-page decoder runs) the largest difference
// between it and the browser's decode of the same grid.
function showServer(s, data) {
  draw(s.serverCanvas, s.small, data.image);
  s.serverCanvas.dataset.grid = data.grid.join(",");
  if (!s.decoder) {
    s.status.textContent = `PyTorch decode on the server · ${data.edited} cell(s) changed`;
    return;
  }
  const browser = s.decoder.decodeCodes(data.grid);
  let gap = 0;
  for (let p = 0; p < 784; p++) gap = Math.max(gap, Math.abs(browser[p] - data.image[p]));
  s.serverCanvas.dataset.gap = String(gap);
  s.status.textContent =
    `Decoded in the browser · ${data.edited} cell(s) changed · PyTorch on the server (small, ` +
    `left) differs by at most ${gap.toExponential(1)} per pixel`;
}

function select(s, r, c) {
  s.selected = [r, c];
  for (const [key, cell] of Object.entries(s.cells)) {
    cell.classList.toggle("vqp-selected", key === `${r}-${c}`);
  }
  const code = s.grid[r * 7 + c];
  s.hint.textContent = `Cell (${r}, ${c}) uses code ${code}: pick its new code below.`;
  for (let k = 0; k < s.choices.length; k++) s.choices[k].classList.toggle("vqp-current", k === code);
}

function choose(s, k) {
  if (!s.selected) {
    s.hint.textContent = "First click a cell of the grid, then a code.";
    return;
  }
  const [r, c] = s.selected;
  s.grid[r * 7 + c] = k;
  s.cells[`${r}-${c}`].textContent = String(k);
  s.cells[`${r}-${c}`].classList.add("vqp-edited");
  select(s, r, c);
  if (s.decoder) {
    paint(s, s.decoder.decodeCodes(s.grid)); // at once, in the page
    s.status.textContent = "Decoded in the browser; checking against PyTorch…";
  } else {
    s.status.textContent = "Decoding on the server…";
  }
  s.setStateValue("grid", { token: s.token, grid: Array.from(s.grid), nonce: Math.random() });
}

function build(root, data) {
  root.replaceChildren();
  const s = { token: data.token, grid: Int32Array.from(data.grid), cells: {}, choices: [], selected: null };
  const layout = el("div", { class: "vqp-layout" }, root);
  const left = el("div", { class: "vqp-left" }, layout);
  el("div", { class: "vqp-title", text: "Code grid (7×7 codebook indices)" }, left);
  const table = el("div", { class: "vqp-grid", "data-testid": "code-grid" }, left);
  for (let r = 0; r < 7; r++) {
    for (let c = 0; c < 7; c++) {
      const cell = el("button", { class: "vqp-cell", type: "button", "data-testid": `code-cell-${r}-${c}`, title: `cell (${r}, ${c})` }, table);
      cell.textContent = String(s.grid[r * 7 + c]);
      cell.addEventListener("click", () => select(s, r, c));
      s.cells[`${r}-${c}`] = cell;
    }
  }
  s.hint = el("div", { class: "vqp-hint", text: "Click a cell, then pick its new code below." }, left);
  const palette = el("div", { class: "vqp-palette", "data-testid": "code-palette" }, left);
  for (let k = 0; k < data.K; k++) {
    const b = el("button", { class: "vqp-choice", type: "button", "data-testid": `code-choice-${k}`, title: `code ${k}` }, palette);
    b.textContent = String(k);
    b.addEventListener("click", () => choose(s, k));
    s.choices.push(b);
  }
  const right = el("div", { class: "vqp-right" }, layout);
  el("div", { class: "vqp-title", text: "Decoded image E[x | z_q]" }, right);
  s.canvas = el("canvas", { width: 28 * SCALE, height: 28 * SCALE, class: "vqp-image", "data-testid": "live-image" }, right);
  s.small = el("canvas", { width: 28, height: 28 }, null);
  const server = el("div", { class: "vqp-server" }, right);
  s.serverCanvas = el("canvas", {
    width: 28 * SERVER_SCALE, height: 28 * SERVER_SCALE, class: "vqp-image", "data-testid": "server-image",
  }, server);
  s.status = el("div", { class: "vqp-status", "data-testid": "painter-status" }, server);
  return s;
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  const root = parentElement.querySelector(".vqp-root");
  if (!root || !data) return undefined;
  let s = STATES.get(root);
  if (!s || s.token !== data.token) {
    s = build(root, data);
    STATES.set(root, s);
  }
  s.setStateValue = setStateValue;
  // The server's grid is the truth (it may have been edited by number): show it.
  s.grid = Int32Array.from(data.grid);
  for (let r = 0; r < 7; r++)
    for (let c = 0; c < 7; c++) {
      const cell = s.cells[`${r}-${c}`];
      cell.textContent = String(s.grid[r * 7 + c]);
      cell.classList.toggle("vqp-edited", data.grid[r * 7 + c] !== data.start[r * 7 + c]);
    }
  if (s.selected) select(s, s.selected[0], s.selected[1]);
  root.dataset.serverGrid = data.grid.join(",");
  paint(s, s.decoder ? s.decoder.decodeCodes(s.grid) : data.image);
  showServer(s, data);
  s.lastData = data;
  if (!s.decoder && data.decoder && !s.loading) {
    s.loading = true;
    loadDecoder(data.decoder).then(
      (dec) => {
        s.decoder = dec;
        paint(s, dec.decodeCodes(s.grid));
        showServer(s, s.lastData);
      },
      (err) => {
        s.canvas.dataset.error = err.message; // the server's images stay
      },
    );
  }
  return undefined;
}
