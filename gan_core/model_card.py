"""The model card and the one-download share package (generator.onnx + MODEL_CARD.md).

Like generation.py, this never imports torch: a person who was sent a model file needs neither.
"""
from __future__ import annotations

import io
import zipfile


_G_LOSS_TEXT = {"nonsaturating": "non-saturating, maximise log D(G(z)) (eq. 3)",
                "minimax": "minimax, minimise log(1 − D(G(z))) (eq. 4)"}


def model_card(metadata: dict) -> str:
    """A markdown card that tells a non-coder what the model is and how to use the file."""
    m = {k: str(v) for k, v in (metadata or {}).items()}
    get = lambda k, default="unknown": m.get(k, "").strip() or default   # noqa: E731
    prior = get("prior", "normal")
    d = get("latent_dim", "LATENT_DIM")
    kind = get("output_kind")
    shape = get("output_shape", "")
    out_text = {"points": f"points with shape {shape} per sample, in the data's units",
                "image": f"images with shape {shape} (channels, height, width), values in [0, 1]"}
    rows = [("Trained on", get("dataset")), ("Training iterations", get("iterations")),
            ("Generator objective", _G_LOSS_TEXT.get(get("g_loss"), get("g_loss"))),
            ("Discriminator steps per iteration (k)", get("k"))]
    if m.get("final_value_estimate", "").strip():
        rows.append(("Final value estimate Ṽ", f"{get('final_value_estimate')} (the theoretical "
                     "optimum, reached when p_g = p_data, is −2 log 2 ≈ −1.3863)"))
    rows += [("Noise prior p_z", "standard normal N(0, I)" if prior == "normal" else "uniform on [−1, 1]"),
             ("Latent size", d), ("Output", out_text.get(kind, kind)), ("Created", get("created"))]
    draw = (f"rng.standard_normal((16, {d}))" if prior == "normal" else f"rng.uniform(-1, 1, (16, {d}))")
    out_file = "samples.png" if kind == "image" else "samples.csv"
    lines = [f"# GAN generator — {get('dataset')}", ""]
    if m.get("description", "").strip():
        lines += [m["description"].strip(), ""]
    lines += ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows]
    lines += ["", "## Use it with onnxruntime", "", "```python",
              "import numpy as np, onnxruntime as ort",
              'session = ort.InferenceSession("generator.onnx")',
              "rng = np.random.default_rng(0)   # the seed",
              f"z = {draw}.astype(np.float32)",
              'x = session.run(["x"], {"z": z})[0]   # 16 samples',
              "print(x.shape)", "```", "",
              "## Or with the command line", "", "```",
              f"python -m gan_core generate generator.onnx --n 64 --seed 0 --out {out_file}", "```", "",
              "Both ways draw the same latents for the same seed, so they give the same samples.", ""]
    return "\n".join(lines)


def share_package(model_path) -> bytes:
    """A zip with generator.onnx and MODEL_CARD.md, ready to hand to someone else."""
    from .generation import _read_source, _unwrap_zip, load_model  # lazy: generation imports this module
    data, _ = _read_source(model_path)
    model = load_model(data)   # refuse to package a file that would not work
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("generator.onnx", data if data[:2] != b"PK" else _unwrap_zip(data, "model"))
        zf.writestr("MODEL_CARD.md", model_card(model.metadata))
    return buf.getvalue()
