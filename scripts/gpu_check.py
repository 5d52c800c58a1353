"""The CUDA path, checked on a machine with a GPU (run from the repository root: python3 scripts/gpu_check.py).

Prints one line per check and writes the figures to $OUT/gpu_check.json when $OUT is set. Needs torch with
CUDA, numpy, pandas, onnx, onnxruntime, scikit-learn and pillow (no streamlit, no plotly).
  1. training speed on CUDA vs the CPU of the same machine (ring8 and digits defaults, shortened);
  2. the control channel on CUDA: pause, exact steps, a live change, slow motion, stop; replay and resume;
  3. the exported model of a CUDA run, sampled with onnxruntime.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from gan_core.runs import control
from gan_core.runs import store  # noqa: E402
from gan_core.config import TrainConfig  # noqa: E402
from gan_core.engine.training import train  # noqa: E402

ROOT = Path(os.environ.get("GPU_CHECK_DIR", "/tmp/gpu_check"))
DEVICE = os.environ.get("GPU_CHECK_DEVICE", "cuda")
results: dict = {"torch": torch.__version__, "cuda": torch.cuda.is_available(),
                 "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def say(key: str, value) -> None:
    results[key] = value
    print(f"{key}: {value}", flush=True)


def timed_run(name: str, device: str, **kw) -> dict:
    cfg = TrainConfig(run_dir=str(ROOT / name), device=device, export_onnx=False, **kw)
    t = time.perf_counter()
    st = train(cfg)
    wall = time.perf_counter() - t
    return {"state": st["state"], "iterations": st["iteration"], "wall_s": round(wall, 2),
            "it_per_s": round(st["iteration"] / st["elapsed_s"], 1), "final_value_estimate": st.get("final_value_estimate")}


def wait_for(cond, timeout=60.0) -> bool:
    t = time.time()
    while time.time() - t < timeout:
        if cond():
            return True
        time.sleep(0.02)
    return False


def speed() -> None:
    for ds, n in (("ring8", 1500), ("digits", 600)):
        for dev in (DEVICE, "cpu"):
            say(f"speed_{ds}_{dev}", timed_run(f"{ds}_{dev}", dev, dataset=ds, iterations=n))


def steering() -> None:
    cfg = TrainConfig(dataset="ring8", run_dir=str(ROOT / "steer"), device=DEVICE, iterations=100_000,
                      export_onnx=False, checkpoint_every=100_000)
    th = threading.Thread(target=train, args=(cfg,), daemon=True)
    th.start()
    assert wait_for(lambda: store.read_status(cfg.run_dir).get("state") == "running")
    d = cfg.run_dir
    lat = {}
    t = time.perf_counter(); control.command(d, "pause"); lat["pause_ms"] = (time.perf_counter() - t) * 1e3
    at = store.read_status(d)["iteration"]
    t = time.perf_counter(); control.command(d, "step", what="iteration", count=5)
    lat["step5_ms"] = (time.perf_counter() - t) * 1e3
    exact = store.read_status(d)["iteration"] == at + 5
    control.command(d, "step", what="d")
    control.command(d, "set", changes={"g_loss": "minimax", "lr_d": 2e-4})
    control.command(d, "continue")
    wait_for(lambda: store.read_status(d)["iteration"] > at + 400)
    control.command(d, "slow", ips=20)
    i0, t0 = store.read_status(d)["iteration"], time.time()
    time.sleep(1.5)
    slow_rate = (store.read_status(d)["iteration"] - i0) / (time.time() - t0)
    control.command(d, "slow", ips=0)
    t = time.perf_counter(); control.command(d, "stop"); lat["stop_ms"] = (time.perf_counter() - t) * 1e3
    th.join(60)
    st = store.read_status(d)
    say("steering", {"exact_step": exact, "state": st["state"], "slow_rate_at_20": round(slow_rate, 1),
                     **{k: round(v, 1) for k, v in lat.items()}})
    r = subprocess.run([sys.executable, "-m", "gan_core", "replay", d, "--run-dir", str(ROOT / "steer_copy"),
                        "--quiet"], capture_output=True, text=True)
    a = pd.read_csv(f"{d}/metrics.csv").set_index("iteration").drop(columns=["elapsed_s"])
    b = pd.read_csv(ROOT / "steer_copy" / "metrics.csv").set_index("iteration").drop(columns=["elapsed_s"])
    common = a.index.intersection(b.index)
    diff = float(np.nanmax(np.abs(a.loc[common].to_numpy(float) - b.loc[common].to_numpy(float))))
    say("replay_on_gpu", {"rc": r.returncode, "rows": len(common), "max_abs_diff": diff})


def resume() -> None:
    base = dict(dataset="ring8", device=DEVICE, lr_decay=0.0, lr_decay_iterations=400, export_onnx=False,
                checkpoint_every=1000)
    train(TrainConfig(run_dir=str(ROOT / "straight"), iterations=400, **base))
    train(TrainConfig(run_dir=str(ROOT / "resumed"), iterations=200, **base))
    train(TrainConfig(run_dir=str(ROOT / "resumed"), iterations=400, **base), resume=True)
    a = pd.read_csv(ROOT / "straight" / "metrics.csv").drop(columns=["elapsed_s"]).to_numpy(float)
    b = pd.read_csv(ROOT / "resumed" / "metrics.csv").drop(columns=["elapsed_s"]).to_numpy(float)
    say("resume_on_gpu_max_abs_diff", float(np.nanmax(np.abs(a - b))))


def export() -> None:
    cfg = TrainConfig(dataset="ring8", run_dir=str(ROOT / "exp"), device=DEVICE, iterations=300)
    st = train(cfg)
    from gan_core.share.generation import load_model
    m = load_model(ROOT / "exp" / "generator.onnx")
    x = m.run(m.latents(1000, seed=1))
    say("export_from_gpu", {"message": st["message"], "samples": list(x.shape), "finite": bool(np.isfinite(x).all())})


if __name__ == "__main__":
    import shutil
    shutil.rmtree(ROOT, ignore_errors=True)
    ROOT.mkdir(parents=True)
    for part in (speed, steering, resume, export):
        try:
            part()
        except Exception as e:  # report and go on: one call of a lent machine must bring back every figure
            say(f"{part.__name__}_error", f"{type(e).__name__}: {e}")
    out = os.environ.get("OUT")
    if out:
        Path(out, "gpu_check.json").write_text(json.dumps(results, indent=2))
