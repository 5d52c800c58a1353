// Discriminator rejection sampling in JavaScript: the twin of gan_core/theory/rejection.py (see its doc).
// The same stream (sampler.js: the seed's latents and acceptance uniforms, row by row), the same envelope M
// (numpy's linear percentile, operation by operation) and the same rule (keep row i iff u_i < exp(min(logit_i
// − M, 0))), so the share page keeps exactly the rows `python -m gan_core generate` keeps. The algorithm's
// constants come from Python (gan_core.theory.rejection.params) with its name.
(function (root) {
  "use strict";
  const S = typeof module === "object" && module.exports ? require("./sampler.js") : root.ganSampler;
  const NAME = "dr-sampling v2";

  // M: the quantile-th percentile of the logits (rejection.envelope_logit).
  function envelopeLogit(logits, quantile) {
    const a = Float64Array.from(logits).sort(), n = a.length;
    if (!n) throw new Error("no logits to set the rejection envelope from");
    const h = (n - 1) * (quantile / 100);
    const lo = Math.min(Math.floor(h), n - 1), hi = Math.min(lo + 1, n - 1), t = h - lo;
    const below = a[lo], above = a[hi], diff = above - below;
    return t >= 0.5 ? above - diff * (1 - t) : below + diff * t;
  }

  // P(accept x) = exp(min(logit(x) − M, 0)), in doubles as numpy's float64.
  function acceptance(logit, m) {
    return Math.exp(Math.min(logit - m, 0));
  }

  // The first n kept rows of the seed's stream, as one Float32Array of n * size values.
  // runWithLogit(z, k) gives a Promise of { x: Float32Array(k * size), logit: Float32Array(k) }: G(z) and
  // D's logit at G(z). params: { name, burn_in, quantile, block, max_draws_per_sample } from Python.
  async function rejectionSample(runWithLogit, n, latentDim, prior, seed, size, params) {
    if (params.name !== NAME) throw new Error(`this page does ${NAME}, the model asks for ${params.name}`);
    if (!(Number.isInteger(n) && n >= 1)) throw new Error(`the number of samples must be at least 1, got ${n}`);
    const burnIn = params.burn_in;
    const burn = await runWithLogit(S.sampleLatents(burnIn, latentDim, prior, seed), burnIn);
    if (!burn.logit.every(Number.isFinite))
      throw new Error("the model's discriminator gives non-finite logits; rejection sampling is impossible");
    const m = envelopeLogit(burn.logit, params.quantile);
    // Rows 0 … burn_in − 1 were just run: reuse them. Each row's verdict depends on that row alone.
    async function rows(start, k) {
      const cached = Math.max(0, Math.min(k, burnIn - start));
      if (cached === k) return { x: burn.x.subarray(start * size, (start + k) * size), logit: burn.logit.subarray(start, start + k) };
      const fresh = await runWithLogit(S.sampleLatents(k - cached, latentDim, prior, seed, start + cached), k - cached);
      if (!cached) return fresh;
      const x = new Float32Array(k * size), logit = new Float32Array(k);
      x.set(burn.x.subarray(start * size, burnIn * size)); x.set(fresh.x, cached * size);
      logit.set(burn.logit.subarray(start, burnIn)); logit.set(fresh.logit, cached);
      return { x, logit };
    }
    const out = new Float32Array(n * size), limit = n * params.max_draws_per_sample + burnIn;
    let count = 0, start = 0;
    while (count < n) {
      if (start >= limit)
        throw new Error(`rejection sampling kept only ${count} of ${start.toLocaleString("en-US")} samples (the ` +
                        "discriminator rejects nearly everything); generate without rejection instead");
      const k = Math.min(params.block, limit - start), got = await rows(start, k), u = S.uniforms(start, k, seed);
      for (let i = 0; i < k; i++) {
        if (!(u[i] < acceptance(got.logit[i], m))) continue;
        if (count < n) out.set(got.x.subarray(i * size, (i + 1) * size), count * size);
        count++;   // every kept row of the block, as Python counts them (the reported acceptance)
      }
      start += k;
    }
    return { x: out, envelopeLogit: m, drawn: start, acceptance: count / start };
  }

  const api = { NAME, envelopeLogit, acceptance, rejectionSample };
  if (typeof module === "object" && module.exports) module.exports = api;
  else root.ganRejection = api;
})(typeof globalThis !== "undefined" ? globalThis : this);
