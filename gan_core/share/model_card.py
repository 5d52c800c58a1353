"""The model card (Hugging Face style: YAML front matter, then Markdown) and the one-download share
package (generator.onnx + MODEL_CARD.md).

Like generation.py, this never imports torch: a person who was sent a model file needs neither.
"""
from __future__ import annotations

import io
import json
import re
import zipfile

from gan_core.share.facts import model_facts

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~#!])")


def md_escape(text) -> str:
    """Metadata text as literal Markdown: one line, no markup, no raw HTML, safe in a table cell."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def _yaml_str(text) -> str:
    # A JSON string is a valid YAML double-quoted scalar: any dataset name stays one safe value.
    return json.dumps(" ".join(str(text).split()), ensure_ascii=False)


def front_matter(metadata: dict) -> str:
    """YAML front matter that the Hugging Face Hub reads: library, tags, license, datasets."""
    m = {k: str(v).strip() for k, v in (metadata or {}).items()}
    dataset = m.get("dataset") or "unknown"
    kind = m.get("output_kind", "")
    tags = ["gan", "generative-adversarial-network", "onnx", "gan_core",
            "image-generation" if kind == "image" else "tabular-generation" if kind == "points" else None,
            dataset]
    lines = ["---", "library_name: onnx", "tags:"]
    lines += [f"- {_yaml_str(t)}" for t in dict.fromkeys(t for t in tags if t)]
    lines += [f"license: {_yaml_str(m.get('license') or 'unknown')}", "datasets:", f"- {_yaml_str(dataset)}",
              "---"]
    return "\n".join(lines)


def model_card(metadata: dict) -> str:
    """A card that tells a non-coder what the model is and how to use the file."""
    m = {k: str(v).strip() for k, v in (metadata or {}).items()}
    d = m.get("latent_dim") or "LATENT_DIM"
    kind = m.get("output_kind", "")
    out_file = "samples.png" if kind == "image" else "samples.csv"
    lines = [front_matter(metadata), "", f"# GAN generator — {md_escape(m.get('dataset') or 'unknown')}", ""]
    if m.get("description"):
        lines += [md_escape(m["description"]), ""]
    lines += ["| | |", "|---|---|"] + [f"| {md_escape(k)} | {md_escape(v)} |" for k, v in model_facts(metadata)]
    lines += ["", "## Open it in a browser", "",
              "`python -m gan_core share generator.onnx --out model.html` writes one web page file that draws "
              "samples in any browser, offline, with nothing to install.", "",
              "## Use it with onnxruntime", "", "```python",
              "import onnxruntime as ort",
              "from gan_core.share.generation import sample_latents   # any z from p_z works; this one is seeded",
              'session = ort.InferenceSession("generator.onnx")',
              f'z = sample_latents(16, {d}, "{m.get("prior") or "normal"}", seed=0)',
              'x = session.run(["x"], {"z": z})[0]   # 16 samples',
              "print(x.shape)", "```", "",
              "## Or with the command line", "", "```",
              f"python -m gan_core generate generator.onnx --n 64 --seed 0 --out {out_file}", "```", "",
              "The snippet, the command line, the dashboard and the web page draw the same latents for the same "
              "seed, so they give the same samples. The latents come from the project's latent sampler: "
              "Philox4x32-10 on the counter (row, column) keyed by the seed, then Box–Muller for a normal "
              "prior (a 24-bit uniform on [−1, 1) for a uniform one); see `gan_core/share/latent.py`.", ""]
    return "\n".join(lines)


def share_package(model_path) -> bytes:
    """A zip with generator.onnx and MODEL_CARD.md, ready to hand to someone else."""
    from gan_core.share.generation import _read_source, _unwrap_zip, load_model  # lazy: generation imports this module
    data, _ = _read_source(model_path)
    model = load_model(data)   # refuse to package a file that would not work
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("generator.onnx", data if data[:2] != b"PK" else _unwrap_zip(data, "model"))
        zf.writestr("MODEL_CARD.md", model_card(model.metadata))
    return buf.getvalue()
