// The project's latent sampler in JavaScript (the twin of gan_core/share/latent.py; see its doc):
// Philox4x32-10 on the counter (row lo, row hi, column, 0) with the key (seed lo, seed hi), then
// Box–Muller (normal prior) or a 24-bit uniform on [-1, 1) (uniform prior); float32 output. The acceptance
// uniforms of rejection sampling: the counter (row lo, row hi, 0, 1), 53 bits, float64.
(function (root) {
  "use strict";
  const NAME = "philox4x32-10", VERSION = "1";
  const M0 = 0xD2511F53, M1 = 0xCD9E8D57, W0 = 0x9E3779B9, W1 = 0xBB67AE85;
  const TWO32 = 4294967296, TWO26 = 67108864, TWO53 = 9007199254740992;

  // High 32 bits of the 64-bit product of two uint32 (the low half is Math.imul).
  function mulhi(a, b) {
    const a0 = a & 0xffff, a1 = a >>> 16, b0 = b & 0xffff, b1 = b >>> 16;
    const t = a1 * b0 + ((a0 * b0) >>> 16);   // < 2^32: exact
    const w1 = (t & 0xffff) + a0 * b1;         // < 2^32: exact
    return (a1 * b1 + (t >>> 16) + (w1 >>> 16)) >>> 0;
  }

  // Philox4x32-10 of one counter; writes the four uint32 words into out.
  function philox(c0, c1, c2, c3, k0, k1, out) {
    for (let r = 0; r < 10; r++) {
      if (r) { k0 = (k0 + W0) >>> 0; k1 = (k1 + W1) >>> 0; }
      const hi0 = mulhi(c0, M0), lo0 = Math.imul(c0, M0) >>> 0;
      const hi1 = mulhi(c2, M1), lo1 = Math.imul(c2, M1) >>> 0;
      c0 = (hi1 ^ c1 ^ k0) >>> 0; c1 = lo1; c2 = (hi0 ^ c3 ^ k1) >>> 0; c3 = lo0;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
  }

  function checkSeed(seed) {
    if (!(Number.isSafeInteger(seed) && seed >= 0)) throw new Error("the seed must be a whole number from 0 to 2^53 - 1");
  }

  function checkRows(start, n) {
    if (!(Number.isSafeInteger(start) && start >= 0 && Number.isSafeInteger(start + n)))
      throw new Error("stream rows must lie in 0 … 2^53 - 1");
  }

  // z as a Float32Array of n * latentDim values, row after row: rows start … start + n − 1 of the stream.
  function sampleLatents(n, latentDim, prior, seed, start = 0) {
    checkSeed(seed); checkRows(start, n);
    if (prior !== "normal" && prior !== "uniform") throw new Error("unknown prior " + prior);
    const z = new Float32Array(n * latentDim), w = new Uint32Array(4);
    const k0 = seed % TWO32 >>> 0, k1 = Math.floor(seed / TWO32) >>> 0;
    for (let i = 0; i < n; i++) {
      const row = start + i, r0 = row % TWO32 >>> 0, r1 = Math.floor(row / TWO32) >>> 0;
      for (let j = 0; j < latentDim; j++) {
        philox(r0, r1, j, 0, k0, k1, w);
        let v;
        if (prior === "uniform") {
          v = (w[0] >>> 8) * (2 / 16777216) - 1;
        } else {
          const u1 = ((w[0] >>> 5) * TWO26 + (w[1] >>> 6) + 1) / TWO53;
          const u2 = ((w[2] >>> 5) * TWO26 + (w[3] >>> 6)) / TWO53;
          v = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
        }
        z[i * latentDim + j] = v;   // Float32Array rounds to nearest, as numpy's astype(float32)
      }
    }
    return z;
  }

  // The acceptance uniforms u_i in [0, 1) of stream rows start … start + n − 1 (latent.uniforms).
  function uniforms(start, n, seed) {
    checkSeed(seed); checkRows(start, n);
    const u = new Float64Array(n), w = new Uint32Array(4);
    const k0 = seed % TWO32 >>> 0, k1 = Math.floor(seed / TWO32) >>> 0;
    for (let i = 0; i < n; i++) {
      const row = start + i;
      philox(row % TWO32 >>> 0, Math.floor(row / TWO32) >>> 0, 0, 1, k0, k1, w);
      u[i] = ((w[0] >>> 5) * TWO26 + (w[1] >>> 6)) / TWO53;
    }
    return u;
  }

  // Latents on the walk from seed a's latent to seed b's (gan_core.share.generation.interpolation_latents):
  // slerp under a normal prior, a straight line in the uniform box; exact endpoints.
  function walkLatents(latentDim, prior, seedA, seedB, steps) {
    const a = Float64Array.from(sampleLatents(1, latentDim, prior, seedA));
    const b = Float64Array.from(sampleLatents(1, latentDim, prior, seedB));
    let dot = 0, na = 0, nb = 0;
    for (let j = 0; j < latentDim; j++) { dot += a[j] * b[j]; na += a[j] * a[j]; nb += b[j] * b[j]; }
    na = Math.sqrt(na); nb = Math.sqrt(nb);
    const omega = na > 0 && nb > 0 ? Math.acos(Math.min(1, Math.max(-1, dot / (na * nb)))) : 0;
    const slerp = prior === "normal" && Math.sin(omega) > 1e-6;
    const z = new Float32Array(steps * latentDim);
    for (let s = 0; s < steps; s++) {
      const t = steps > 1 ? s / (steps - 1) : 0;
      for (let j = 0; j < latentDim; j++) {
        let v = slerp ? (Math.sin((1 - t) * omega) * a[j] + Math.sin(t * omega) * b[j]) / Math.sin(omega)
                      : (1 - t) * a[j] + t * b[j];
        if (s === 0) v = a[j];
        if (s === steps - 1) v = b[j];
        z[s * latentDim + j] = v;
      }
    }
    return z;
  }

  const api = { NAME, VERSION, mulhi, philox, sampleLatents, uniforms, walkLatents };
  if (typeof module === "object" && module.exports) module.exports = api;
  else root.ganSampler = api;
})(typeof globalThis !== "undefined" ? globalThis : this);
