// Runs a generator with onnxruntime-web (WASM backend) under Node, on the latents of the page's own
// sampler, so that `python -m gan_core share` can compare it with Python's onnxruntime before writing
// a page. Usage: node check.js ORT_WEB_DIR MODEL.onnx N SEED PRIOR LATENT_DIM OUT.bin
// Writes z (n*latent_dim float32) then x (float32) to OUT.bin; prints {"dims": [...]} on success,
// or one line starting with "error:" and exits 1.
"use strict";
const fs = require("fs");
const path = require("path");
const sampler = require(path.join(__dirname, "sampler.js"));

async function main() {
  const [ortDir, modelPath, n, seed, prior, latentDim, outPath] = process.argv.slice(2);
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
  const x = Float32Array.from(out.data, Number);
  fs.writeFileSync(outPath, Buffer.concat([Buffer.from(z.buffer), Buffer.from(x.buffer)]));
  process.stdout.write(JSON.stringify({ dims: out.dims.map(Number), version: ort.env.versions.web }) + "\n");
}

main().then(() => process.exit(0), (e) => {
  process.stdout.write("error: " + String(e && e.message || e).split("\n").join(" ").slice(0, 300) + "\n");
  process.exit(1);
});
