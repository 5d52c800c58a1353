"""What a shared model is, in a few labelled facts: one list for the model card, the zip and the page.

The facts come from the ONNX model's metadata_props (written by gan_core.share.export); a run directory can
add the quality figures of its metrics.csv for models exported before they were recorded.
"""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from gan_core.files import open_regular

# metrics.csv columns worth telling a reader, in the order shown.
QUALITY_KEYS = ("modes_covered", "high_quality_fraction", "jsd", "fid", "precision", "recall", "classes_covered",
                "inception_score", "frechet_distance")
N_MODES = {"ring8": 8, "grid25": 25}
G_LOSS_TEXT = {"nonsaturating": "non-saturating, maximise log D(G(z)) (eq. 3)",
               "minimax": "minimax, minimise log(1 − D(G(z))) (eq. 4)"}


def _number(text):
    try:
        v = float(str(text).strip())
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def latest_quality(run_dir) -> dict:
    """The last measured value of each quality column of RUN/metrics.csv, with its iteration
    (quality is measured every few logged rows, so the last row may not carry it)."""
    out = {}
    try:
        with io.TextIOWrapper(open_regular(Path(run_dir) / "metrics.csv"), errors="replace", newline="") as fh:
            for row in csv.DictReader(fh):
                for key in QUALITY_KEYS:
                    if _number(row.get(key)) is not None:
                        out[key] = row[key].strip()
                        out["quality_iteration"] = row.get("iteration", "").strip()
    except (OSError, csv.Error, UnicodeDecodeError):
        return {}
    return out


def _fmt(value, digits: int = 4) -> str:
    v = _number(value)
    return str(value).strip() if v is None else f"{v:.{digits}g}"


def quality_facts(meta: dict) -> list[tuple[str, str]]:
    """(label, value) for each quality figure present in the metadata."""
    m = {k: str(v).strip() for k, v in (meta or {}).items()}
    rows = []
    if _number(m.get("modes_covered")) is not None:
        total = N_MODES.get(m.get("dataset", ""))
        rows.append(("Modes covered", f"{int(float(m['modes_covered']))}" + (f" of {total}" if total else "")))
    if _number(m.get("high_quality_fraction")) is not None:
        rows.append(("High-quality samples", f"{100 * float(m['high_quality_fraction']):.1f} %"))
    if _number(m.get("jsd")) is not None:
        rows.append(("JSD(p_data ‖ p_g)", f"{_fmt(m['jsd'])} (0 is a perfect match, log 2 ≈ 0.693 none)"))
    if _number(m.get("fid")) is not None:
        rows.append(("FID to the test pictures", f"{_fmt(m['fid'], 3)} (lower is better; real pictures score "
                                                  "near 0)"))
    if _number(m.get("precision")) is not None and _number(m.get("recall")) is not None:
        rows.append(("Precision / recall", f"{_fmt(m['precision'], 3)} / {_fmt(m['recall'], 3)} (1 is best)"))
    if _number(m.get("classes_covered")) is not None:
        rows.append(("Classes covered", f"{int(float(m['classes_covered']))} of 10"))
    if _number(m.get("inception_score")) is not None:
        rows.append(("Digits score (inception score, 1 … 10)", _fmt(m["inception_score"], 3)))
    if _number(m.get("frechet_distance")) is not None:
        rows.append(("Fréchet distance to real digits", _fmt(m["frechet_distance"], 3)))
    if rows and m.get("quality_iteration"):
        rows.append(("Quality measured at iteration", m["quality_iteration"]))
    return rows


def model_facts(meta: dict) -> list[tuple[str, str]]:
    """Every fact a reader needs, as (label, value) pairs of plain text (escape before rendering)."""
    m = {k: str(v).strip() for k, v in (meta or {}).items()}
    get = lambda k, default="unknown": m.get(k) or default   # noqa: E731
    kind, shape = get("output_kind"), get("output_shape", "")
    out_text = {"points": f"points with shape {shape} per sample, in the data's units",
                "image": f"images with shape {shape} (channels, height, width), values in [0, 1]"}
    rows = [("Trained on", get("dataset")), ("Training iterations", get("iterations")),
            ("Generator objective", G_LOSS_TEXT.get(get("g_loss"), get("g_loss"))),
            ("Discriminator steps per iteration (k)", get("k"))]
    if m.get("final_value_estimate"):
        rows.append(("Final value estimate Ṽ", f"{get('final_value_estimate')} (the theoretical optimum, "
                     "reached when p_g = p_data, is −2 log 2 ≈ −1.3863)"))
    rows += quality_facts(meta)
    rows += [("Noise prior p_z", "standard normal N(0, I)" if get("prior", "normal") == "normal"
              else "uniform on [−1, 1]"),
             ("Latent size", get("latent_dim", "LATENT_DIM")), ("Output", out_text.get(kind, kind)),
             ("Latent sampler", f"{get('latent_sampler', 'philox4x32-10')} "
                                f"version {get('latent_sampler_version', '1')}"),
             ("Created", get("created"))]
    return rows
