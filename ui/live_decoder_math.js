// The in-browser decoder: runs the layer spec written by vae_core/io/decoder_export.py on Float32Arrays.
//
// Pure math, no DOM, so tests/test_js_decoder.py can run it under node and compare every pixel
// with PyTorch. Layer semantics follow torch.nn (Linear, ReLU, Unflatten, ConvTranspose2d,
// 1x1 Conv2d); the heads map raw outputs to the image mean E[x|z] like vae_core/models/likelihoods.py.
// Sums run in JS doubles and are stored as float32, so results match PyTorch to ~1e-6.
"use strict";

const LiveDecoderMath = (() => {
  const N_LEVELS = 256;
  const KNOWN = new Set(["linear", "relu", "unflatten", "conv_transpose2d", "conv1x1", "conv2d"]);
  const size = (shape) => shape.reduce((a, b) => a * b, 1);

  // Linear as a scatter over the non-zero inputs: after a ReLU about half of them are zero, so
  // skipping them halves the work. Weights are transposed once to (in, out) for a contiguous
  // inner loop; sums are kept in doubles.
  function compileLinear(layer, w) {
    const nIn = layer.in_shape[0];
    const nOut = layer.out_shape[0];
    const W = w.subarray(layer.weight, layer.weight + nIn * nOut); // (out, in)
    const T = new Float32Array(W.length);
    for (let o = 0; o < nOut; o++) for (let i = 0; i < nIn; i++) T[i * nOut + o] = W[o * nIn + i];
    const bias = layer.bias === null ? null : w.subarray(layer.bias, layer.bias + nOut);
    return { nIn, nOut, T, bias, acc: new Float64Array(nOut) };
  }

  function linear(c, x, out) {
    const { nIn, nOut, T, bias, acc } = c;
    if (bias === null) acc.fill(0);
    else for (let o = 0; o < nOut; o++) acc[o] = bias[o];
    for (let i = 0; i < nIn; i++) {
      const v = x[i];
      if (v === 0) continue;
      const row = i * nOut;
      for (let o = 0; o < nOut; o++) acc[o] += v * T[row + o];
    }
    for (let o = 0; o < nOut; o++) out[o] = acc[o];
  }

  function relu(x, out) {
    for (let i = 0; i < x.length; i++) out[i] = x[i] > 0 ? x[i] : 0;
  }

  // ConvTranspose2d as a gather: output (oy, ox) receives input (iy, ix) through tap (ky, kx)
  // when oy = iy * stride - padding + ky * dilation. The valid (k, i) pairs of every output row
  // and column are listed once at compile time; weights are re-laid out as [co][ky][kx][ci] and
  // the input as HWC, so the inner loop over ci is contiguous and branch-free.
  function taps(outSize, inSize, k, stride, pad, dil) {
    const start = new Int32Array(outSize + 1);
    const pairs = [];
    for (let o = 0; o < outSize; o++) {
      start[o] = pairs.length / 2;
      for (let t = 0; t < k; t++) {
        const n = o + pad - t * dil;
        if (n >= 0 && n % stride === 0 && n / stride < inSize) pairs.push(t, n / stride);
      }
    }
    start[outSize] = pairs.length / 2;
    return { start, pairs: Int32Array.from(pairs) };
  }

  function compileConvTranspose(layer, w) {
    const [cin, h, wd] = layer.in_shape;
    const [cout, oh, ow] = layer.out_shape;
    const [kh, kw] = layer.kernel;
    const W = w.subarray(layer.weight, layer.weight + cin * cout * kh * kw); // (ci, co, ky, kx)
    const G = new Float32Array(W.length);
    for (let ci = 0; ci < cin; ci++)
      for (let co = 0; co < cout; co++)
        for (let t = 0; t < kh * kw; t++)
          G[(co * kh * kw + t) * cin + ci] = W[(ci * cout + co) * kh * kw + t];
    const bias = layer.bias === null ? null : w.subarray(layer.bias, layer.bias + cout);
    const rows = taps(oh, h, kh, layer.stride[0], layer.padding[0], layer.dilation[0]);
    const cols = taps(ow, wd, kw, layer.stride[1], layer.padding[1], layer.dilation[1]);
    return { cin, h, wd, cout, oh, ow, kh, kw, G, bias, rows, cols, hwc: new Float32Array(cin * h * wd) };
  }

  function convTranspose(c, x, out) {
    const { cin, h, wd, cout, oh, ow, kh, kw, G, bias, rows, cols, hwc } = c;
    for (let ci = 0; ci < cin; ci++)
      for (let p = 0; p < h * wd; p++) hwc[p * cin + ci] = x[ci * h * wd + p];
    for (let co = 0; co < cout; co++) {
      const b0 = bias === null ? 0 : bias[co];
      for (let oy = 0; oy < oh; oy++) {
        const r0 = rows.start[oy];
        const r1 = rows.start[oy + 1];
        for (let ox = 0; ox < ow; ox++) {
          const c0 = cols.start[ox];
          const c1 = cols.start[ox + 1];
          let s = b0;
          for (let r = r0; r < r1; r++) {
            const ky = rows.pairs[2 * r];
            const iy = rows.pairs[2 * r + 1];
            for (let q = c0; q < c1; q++) {
              const kx = cols.pairs[2 * q];
              const ix = cols.pairs[2 * q + 1];
              const g = ((co * kh + ky) * kw + kx) * cin;
              const xi = (iy * wd + ix) * cin;
              for (let ci = 0; ci < cin; ci++) s += G[g + ci] * hwc[xi + ci];
            }
          }
          out[(co * oh + oy) * ow + ox] = s;
        }
      }
    }
  }

  // A 1x1 convolution pixel by pixel: the cin inputs of a pixel are read once and each one is
  // added to all output channels (weights stored (ci, co), so the long inner loop over co is
  // contiguous). ``each(p, logits)`` lets the categorical head consume a pixel's 256 logits at
  // once instead of writing them out.
  function compileConv1x1(layer, w) {
    const [cin, h, wd] = layer.in_shape;
    const cout = layer.out_shape[0];
    const W = w.subarray(layer.weight, layer.weight + cout * cin); // (co, ci)
    const T = new Float32Array(W.length);
    for (let co = 0; co < cout; co++) for (let ci = 0; ci < cin; ci++) T[ci * cout + co] = W[co * cin + ci];
    const bias = layer.bias === null ? null : w.subarray(layer.bias, layer.bias + cout);
    return { cin, cout, n: h * wd, T, bias, logits: new Float64Array(cout) };
  }

  function conv1x1(c, x, each) {
    const { cin, cout, n, T, bias, logits } = c;
    for (let p = 0; p < n; p++) {
      if (bias === null) logits.fill(0);
      else for (let co = 0; co < cout; co++) logits[co] = bias[co];
      for (let ci = 0; ci < cin; ci++) {
        const v = x[ci * n + p];
        if (v === 0) continue;
        const row = ci * cout;
        for (let co = 0; co < cout; co++) logits[co] += v * T[row + co];
      }
      each(p, logits);
    }
  }

  // E[level] / 255 under a softmax over the 256 levels (max subtracted for stability). Levels
  // more than 40 nats below the best one weigh < 1e-17 and are skipped: it saves most exp()s
  // once a model is trained and changes the mean by far less than float32 resolution.
  function categoricalMean(logits, channels) {
    let m = -Infinity;
    for (let k = 0; k < channels; k++) if (logits[k] > m) m = logits[k];
    let z = 0;
    let e = 0;
    for (let k = 0; k < channels; k++) {
      const d = logits[k] - m;
      if (d < -40) continue;
      const q = Math.exp(d);
      z += q;
      e += q * k;
    }
    return e / z / (N_LEVELS - 1);
  }

  // E[x] of the continuous Bernoulli with natural parameter eta: 1 / (1 - e^-eta) - 1 / eta,
  // its Taylor series 1/2 + eta/12 near 0 (cb_mean in vae_core/models/likelihoods.py).
  function cbMean(eta) {
    if (Math.abs(eta) < 1e-3) return 0.5 + eta / 12;
    return 1 / -Math.expm1(-eta) - 1 / eta;
  }

  function head(spec, x, img) {
    const [channels, h, wd] = spec.head.in_shape;
    const n = h * wd;
    if (spec.head.type === "categorical") {
      const logits = new Float64Array(channels);
      for (let p = 0; p < n; p++) {
        for (let k = 0; k < channels; k++) logits[k] = x[k * n + p];
        img[p] = categoricalMean(logits, channels);
      }
    } else if (spec.head.type === "continuous-bernoulli") {
      for (let p = 0; p < n; p++) img[p] = cbMean(x[p]);
    } else {
      // bernoulli: sigmoid(logits); gaussian: sigmoid of channel 0 (channel 1 is log sigma^2).
      for (let p = 0; p < n; p++) img[p] = 1 / (1 + Math.exp(-x[p]));
    }
  }

  // Conv2d, stride 1, zero padding (the VQ-VAE decoder's 3x3 layer): for each output channel,
  // every (input channel, tap) weight is added over the valid output window, summed in doubles.
  function compileConv2d(layer, w) {
    const [cin, h, wd] = layer.in_shape;
    const [cout, oh, ow] = layer.out_shape;
    const [kh, kw] = layer.kernel;
    const [ph, pw] = layer.padding;
    const W = w.subarray(layer.weight, layer.weight + cout * cin * kh * kw); // (co, ci, ky, kx)
    const bias = layer.bias === null ? null : w.subarray(layer.bias, layer.bias + cout);
    return { cin, h, wd, cout, oh, ow, kh, kw, ph, pw, W, bias, acc: new Float64Array(oh * ow) };
  }

  function conv2d(c, x, out) {
    const { cin, h, wd, cout, oh, ow, kh, kw, ph, pw, W, bias, acc } = c;
    for (let co = 0; co < cout; co++) {
      acc.fill(bias === null ? 0 : bias[co]);
      for (let ci = 0; ci < cin; ci++) {
        for (let ky = 0; ky < kh; ky++) {
          const oy0 = Math.max(0, ph - ky);
          const oy1 = Math.min(oh, h + ph - ky);
          for (let kx = 0; kx < kw; kx++) {
            const v = W[((co * cin + ci) * kh + ky) * kw + kx];
            if (v === 0) continue;
            const ox0 = Math.max(0, pw - kx);
            const ox1 = Math.min(ow, wd + pw - kx);
            for (let oy = oy0; oy < oy1; oy++) {
              const row = (ci * h + oy + ky - ph) * wd + kx - pw;
              const o = oy * ow;
              for (let ox = ox0; ox < ox1; ox++) acc[o + ox] += v * x[row + ox];
            }
          }
        }
      }
      const base = co * oh * ow;
      for (let p = 0; p < oh * ow; p++) out[base + p] = acc[p];
    }
  }

  /** Build a decoder from a spec and its weights (ArrayBuffer or Float32Array). */
  function compile(spec, weights) {
    const w = weights instanceof Float32Array ? weights : new Float32Array(weights);
    if (w.length !== spec.n_floats) {
      throw new Error(`weights hold ${w.length} floats, the spec needs ${spec.n_floats}`);
    }
    const inDim = spec.latent_dim + spec.n_classes;
    const last = spec.layers.length - 1;
    const fuseHead = spec.head.type === "categorical" && spec.layers[last].type === "conv1x1";
    const compilers = {
      linear: compileLinear,
      conv_transpose2d: compileConvTranspose,
      conv1x1: compileConv1x1,
      conv2d: compileConv2d,
    };
    const steps = spec.layers.map((layer, i) => {
      if (!KNOWN.has(layer.type)) throw new Error(`unsupported layer type ${layer.type}`);
      const fused = fuseHead && i === last;
      const out = fused ? null : new Float32Array(size(layer.out_shape));
      const compiled = compilers[layer.type] ? compilers[layer.type](layer, w) : null;
      return { layer, out, compiled, fused };
    });
    const input = new Float32Array(inDim);
    const image = new Float32Array(size(spec.image_shape));
    const channels = spec.head.in_shape[0];
    const toImage = (p, logits) => {
      image[p] = categoricalMean(logits, channels);
    };

    /** z: latent values (length latent_dim); y: class index or null. Returns the image. */
    function decode(z, y) {
      for (let i = 0; i < spec.latent_dim; i++) input[i] = z[i];
      for (let k = 0; k < spec.n_classes; k++) input[spec.latent_dim + k] = k === y ? 1 : 0;
      let x = input;
      for (const { layer, out, compiled, fused } of steps) {
        switch (layer.type) {
          case "linear":
            linear(compiled, x, out);
            break;
          case "relu":
            relu(x, out);
            break;
          case "unflatten":
            out.set(x);
            break;
          case "conv_transpose2d":
            convTranspose(compiled, x, out);
            break;
          case "conv2d":
            conv2d(compiled, x, out);
            break;
          case "conv1x1":
            if (fused) {
              conv1x1(compiled, x, toImage);
              return image;
            }
            conv1x1(compiled, x, (p, logits) => {
              for (let co = 0; co < compiled.cout; co++) out[co * compiled.n + p] = logits[co];
            });
            break;
        }
        x = out;
      }
      head(spec, x, image);
      return image;
    }
    /** A VQ-VAE's spec: codes (one codebook index per cell) -> the image, through the grid of
     *  code vectors (channel-major, as PyTorch's (D, 7, 7)). */
    const book = spec.codebook || null;
    const grid = book ? new Float32Array(book.dim * book.cells) : null;
    function decodeCodes(codes) {
      if (!book) throw new Error("this decoder has no codebook");
      for (let cell = 0; cell < book.cells; cell++) {
        const at = book.offset + codes[cell] * book.dim;
        for (let d = 0; d < book.dim; d++) grid[d * book.cells + cell] = w[at + d];
      }
      return decode(grid, null);
    }
    return {
      decode,
      decodeCodes,
      spec,
      inDim,
      imageSize: [spec.image_shape[1], spec.image_shape[2]],
    };
  }

  return { compile };
})();

if (typeof module !== "undefined" && module.exports) module.exports = LiveDecoderMath;
