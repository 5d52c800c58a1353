// Runs a generator with onnxruntime-web (WASM backend) under Node, on the latents of the page's own
// sampler, so that `python -m gan_core share` can compare it with Python's onnxruntime before writing
// a page. Usage: node check.js ORT_WEB_DIR MODEL.onnx N SEED PRIOR LATENT_DIM OUT.bin [REJECTION_JSON]
// Writes z (n*latent_dim float32) then x (float32) to OUT.bin; with REJECTION_JSON (rejection.js's params)
// also the n samples the page's rejection sampling by D keeps (float32). Prints {"dims": [...]} on success,
// or one line starting with "error:" and exits 1.
"use strict";
const fs = require("fs");
const path = require("path");
const sampler = require(path.join(__dirname, "sampler.js"));
const rejection = require(path.join(__dirname, "rejection.js"));
const BATCH = 4096;   // as the page

// G(z) and D's logit for k latents, in batches (rejection.js's runWithLogit).
async function runWithLogit(ort, session, z, k, d, size) {
  const x = new Float32Array(k * size), logit = new Float32Array(k);
  for (let i = 0; i < k; i += BATCH) {
    const b = Math.min(BATCH, k - i);
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor("float32", z.subarray(i * d, (i + b) * d), [b, d]) });
    x.set(Float32Array.from(out.x.data, Number), i * size);
    logit.set(Float32Array.from(out.logit.data, Number), i);
  }
  return { x, logit };
}

async function main() {
  const [ortDir, modelPath, n, seed, prior, latentDim, outPath, rejectionJson] = process.argv.slice(2);
  const ort = require(ortDir);
  ort.env.wasm.numThreads = 1;   // as in the page, opened from file:// without SharedArrayBuffer
  ort.env.logLevel = "error";
  let session;
  try {
    session = await ort.InferenceSession.create(fs.readFileSync(modelPath), { executionProviders: ["wasm"] });
  } catch (e) {
    throw new Error("onnxruntime-web cannot load the model: " + e.message);
  }
  const d = Number(latentDim), count = Number(n);
  const z = sampler.sampleLatents(count, d, prior, Number(seed));
  const feeds = { [session.inputNames[0]]: new ort.Tensor("float32", z, [count, d]) };
  const outName = session.outputNames.includes("x") ? "x" : session.outputNames[0];
  let out;
  try {
    out = (await session.run(feeds))[outName];
  } catch (e) {
    throw new Error("onnxruntime-web cannot run the model: " + e.message);
  }
  const x = Float32Array.from(out.data, Number), parts = [Buffer.from(z.buffer), Buffer.from(x.buffer)];
  const report = { dims: out.dims.map(Number), version: ort.env.versions.web };
  if (rejectionJson) {
    const size = x.length / count;
    let kept;
    try {
      kept = await rejection.rejectionSample((zz, k) => runWithLogit(ort, session, zz, k, d, size), count, d, prior,
                                             Number(seed), size, JSON.parse(rejectionJson));
    } catch (e) {
      throw new Error("the page's rejection sampling by D fails: " + e.message);
    }
    parts.push(Buffer.from(kept.x.buffer));
    report.envelope_logit = kept.envelopeLogit;
    report.drawn = kept.drawn;
  }
  fs.writeFileSync(outPath, Buffer.concat(parts));
  process.stdout.write(JSON.stringify(report) + "\n");
}

main().then(() => process.exit(0), (e) => {
  process.stdout.write("error: " + String(e && e.message || e).split("\n").join(" ").slice(0, 300) + "\n");
  process.exit(1);
});
