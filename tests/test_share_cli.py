"""The sharing path end to end: train → export (CLI) → generate (CLI) where torch cannot be imported."""
import subprocess
import sys

import numpy as np
import onnx
import pandas as pd
import pytest
from conftest import ROOT, run_cli
from PIL import Image

NO_TORCH = ("import sys; sys.modules['torch'] = None; sys.argv = ['gan_core'] + sys.argv[1:]; "
            "from gan_core.cli import main; rc = main(); "
            "assert 'torch' not in sys.modules or sys.modules['torch'] is None; sys.exit(rc)")


def _generate_without_torch(*args):
    return subprocess.run([sys.executable, "-c", NO_TORCH, "generate", *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT, timeout=120, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


@pytest.mark.parametrize("dataset, extra, out_name", [
    ("ring8", ["--hidden", "16", "--depth", "2"], "s.csv"),
    ("digits", ["--base-channels", "8", "--batch-size", "16"], "s.png"),
])
def test_train_export_generate_without_torch(tmp_path, dataset, extra, out_name):
    run = tmp_path / "run"
    r = run_cli("train", "--dataset", dataset, "--run-dir", run, "--iterations", 30, "--quiet", "--no-export", *extra)
    assert r.returncode == 0, r.stderr
    assert not (run / "generator.onnx").exists()
    r = run_cli("export", run, "--out", tmp_path / "g.onnx")
    assert r.returncode == 0, r.stderr
    diff = float(r.stdout.split("largest difference to torch ")[1].split()[0])
    assert diff <= 1e-4
    meta = {p.key: p.value for p in onnx.load(tmp_path / "g.onnx").metadata_props}
    assert meta["dataset"] == dataset and meta["iterations"] == "30" and meta["prior"] == "normal"
    assert meta["output_kind"] == ("points" if dataset == "ring8" else "image")
    r = _generate_without_torch(tmp_path / "g.onnx", "--n", 40, "--seed", 5, "--out", tmp_path / out_name)
    assert r.returncode == 0, r.stderr
    if out_name.endswith(".csv"):
        pts = pd.read_csv(tmp_path / out_name)
        assert pts.shape == (40, 2) and np.isfinite(pts.to_numpy()).all()
    else:
        im = Image.open(tmp_path / out_name)
        assert im.size[0] >= 6 * 32  # 40 tiles in rows of 7, each upscaled from 8 px to be viewable


def test_generate_refuses_a_bad_model_in_one_line(tmp_path):
    (tmp_path / "bad.onnx").write_bytes(b"this is not a model")
    r = _generate_without_torch(tmp_path / "bad.onnx", "--n", 4, "--out", tmp_path / "x.csv")
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "ONNX" in r.stderr
    assert not (tmp_path / "x.csv").exists()
