// What the in-page decoders share (the Latent sliders' ui/live_decoder.js and the VQ code
// painter's ui/vq_painter.js; each bundle is live_decoder_math.js + this file + its own module).
// A decoder's weights are fetched once per content hash from Streamlit's static serving and
// kept in a window-level Map, so reruns and remounts never download them again; a failed fetch
// is forgotten so that a later render may retry.

function loadDecoder(info) {
  if (!window.__vaeLabDecoders) window.__vaeLabDecoders = new Map();
  if (!window.__vaeLabStats) window.__vaeLabStats = { fetches: 0 };
  const cache = window.__vaeLabDecoders;
  if (!cache.has(info.hash)) {
    window.__vaeLabStats.fetches += 1;
    const promise = fetch(info.url)
      .then((r) => {
        if (!r.ok) throw new Error(`HTTP ${r.status} fetching the decoder weights`);
        return r.arrayBuffer();
      })
      .then((buf) => LiveDecoderMath.compile(info.spec, buf));
    promise.catch(() => cache.delete(info.hash));
    cache.set(info.hash, promise);
  }
  return cache.get(info.hash);
}

function el(tag, attrs = {}, parent = null) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  if (parent) parent.appendChild(node);
  return node;
}
