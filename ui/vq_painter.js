// The VQ-VAE code painter (Streamlit components v2): a 7x7 grid of code indices and the image
// the server decoded from it.
//
// Click a cell (data-testid code-cell-R-C), then a code in the palette (code-choice-K): the
// new grid goes back to Python at once (setStateValue "grid"), whose fragment decodes it with
// PyTorch and sends the image back (canvas data-testid live-image). The DOM is built once per
// start grid (token) and updated in place on each rerun, so the selected cell survives it.

const STATES = new WeakMap(); // root element -> painter state
const SCALE = 10; // 28 px -> 280 px on screen

function el(tag, attrs = {}, parent = null) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  if (parent) parent.appendChild(node);
  return node;
}

function paint(s, img) {
  const pixels = new ImageData(28, 28);
  for (let p = 0; p < 784; p++) {
    const v = Math.floor(Math.min(1, Math.max(0, img[p])) * 255 + 0.5);
    pixels.data.set([v, v, v, 255], 4 * p);
  }
  s.small.getContext("2d").putImageData(pixels, 0, 0);
  const ctx = s.canvas.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(s.small, 0, 0, s.canvas.width, s.canvas.height);
  // Faint lines over the 4x4-pixel patch of each of the 49 cells: which pixels a cell drives most.
  ctx.strokeStyle = "rgba(255, 120, 0, 0.35)";
  ctx.lineWidth = 1;
  for (let i = 1; i < 7; i++) {
    const t = (i * s.canvas.width) / 7 + 0.5;
    ctx.beginPath(); ctx.moveTo(t, 0); ctx.lineTo(t, s.canvas.height); ctx.stroke();
    ctx.beginPath(); ctx.moveTo(0, t); ctx.lineTo(s.canvas.width, t); ctx.stroke();
  }
  s.canvas.dataset.frames = String(+(s.canvas.dataset.frames || 0) + 1);
  s.canvas.dataset.sum = img.reduce((a, b) => a + b, 0).toFixed(3);
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
  s.status.textContent = "Decoding on the server…";
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
  s.status = el("div", { class: "vqp-status", "data-testid": "painter-status" }, right);
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
  paint(s, data.image);
  s.status.textContent = `PyTorch decode of this grid on the server · ${data.edited} cell(s) changed`;
  return undefined;
}
