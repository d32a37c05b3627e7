// A 280x280 black canvas drawn on in white with a thick round brush (mouse, pen or touch).
// On every stroke end it sends the canvas as a PNG data URL to Python (state value "png");
// Python applies the MNIST preprocessing (vae_core.io.uploads). "Clear" sends null.
export default function (component) {
  const { data, setStateValue, parentElement } = component;
  const canvas = parentElement.querySelector('canvas[data-testid="draw-canvas"]');
  const clear = parentElement.querySelector('button[data-testid="draw-canvas-clear"]');
  if (!canvas || !clear) return;
  const ctx = canvas.getContext("2d");
  const brush = (data && data.brush) || 22;

  const blank = () => {
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
  };

  // The function runs again on every Streamlit rerun with the same DOM: set up only once.
  if (canvas.dataset.ready !== "1") {
    canvas.dataset.ready = "1";
    blank();
    // Re-mounted after a page switch: show what Python still holds.
    if (data && typeof data.png === "string" && data.png.startsWith("data:image/png")) {
      const img = new Image();
      img.onload = () => ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
      img.src = data.png;
    }
  }

  let drawing = false;
  let last = null;
  const point = (e) => {
    const r = canvas.getBoundingClientRect();
    return {
      x: ((e.clientX - r.left) * canvas.width) / r.width,
      y: ((e.clientY - r.top) * canvas.height) / r.height,
    };
  };
  const dot = (p) => {
    ctx.fillStyle = "#fff";
    ctx.beginPath();
    ctx.arc(p.x, p.y, brush / 2, 0, 2 * Math.PI);
    ctx.fill();
  };
  const line = (a, b) => {
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = brush;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.beginPath();
    ctx.moveTo(a.x, a.y);
    ctx.lineTo(b.x, b.y);
    ctx.stroke();
  };

  canvas.onpointerdown = (e) => {
    e.preventDefault();
    canvas.setPointerCapture(e.pointerId);
    drawing = true;
    last = point(e);
    dot(last);
  };
  canvas.onpointermove = (e) => {
    if (!drawing) return;
    e.preventDefault();
    const p = point(e);
    line(last, p);
    last = p;
  };
  const end = (e) => {
    if (!drawing) return;
    drawing = false;
    last = null;
    if (e && canvas.hasPointerCapture(e.pointerId)) canvas.releasePointerCapture(e.pointerId);
    setStateValue("png", canvas.toDataURL("image/png"));
  };
  canvas.onpointerup = end;
  canvas.onpointercancel = end;
  clear.onclick = () => {
    blank();
    setStateValue("png", null);
  };
}
