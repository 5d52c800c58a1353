"""The benchmarks' own logic: one smoke run (the cheapest bench, --quick, its last line parsed) and the
helper functions whose results the benches' figures rest on.

No timing thresholds here: speed claims live in bench/RESULTS.md, measured as ratios in one run. Each bench
is run by hand (`python -m bench.NAME --quick`); the GPU figures by `python -m bench.gpu --quick`.
"""
import math
import re

import pytest
import torch
from conftest import ROOT

RATIO = re.compile(r"(\d+\.\d+)x$")


def _last_ratio(capsys) -> float:
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines, "the benchmark printed nothing"
    assert "cores" in out and "date" in out  # the machine and date are printed
    m = RATIO.search(lines[-1].rstrip())
    assert m, f"last line does not end with a ratio like 1.23x: {lines[-1]!r}"
    value = float(m.group(1))
    assert math.isfinite(value) and value > 0
    return value


@pytest.mark.parametrize("argv", [["--iterations", "5"], ["--datasets", "mnist"]])
def test_train_throughput_refuses_bad_arguments(argv):
    from bench import train_throughput
    with pytest.raises(SystemExit):
        train_throughput.main(argv)


def test_snapshot_cost_runs_end_to_end_and_ends_with_its_ratio(capsys):
    """The one smoke run: the cheapest bench, --quick, at a test-only smaller size."""
    from bench import snapshot_cost
    snapshot_cost.main(["--quick", "--repeats", "1", "--samples", "300"])
    _last_ratio(capsys)


def test_mode_coverage_reverse_kl():
    from bench.mode_coverage import reverse_kl
    assert reverse_kl([5, 5, 5, 5]) == pytest.approx(0.0)
    assert reverse_kl([10, 0, 0, 0]) == pytest.approx(math.log(4))   # all mass on 1 of 4 modes
    assert reverse_kl([0, 0]) == float("inf")


def test_mode_coverage_prints_the_distribution_over_seeds():
    """The held-out measurement's table: seeds per mode count, most modes first, and each seed's figures."""
    from bench.mode_coverage import distribution
    jobs = [{"seed": s, "drs": {"modes": m, "hq": 0.95}, "plain": {"modes": 10, "hq": 0.7}}
            for s, m in zip(range(100, 105), (25, 22, 25, 24, 25))]
    text = distribution(jobs, "grid25")   # grid25 generates with rejection by default: the drs figures
    assert text.splitlines()[0] == "grid25 over 5 seeds (rejection): 25 modes ×3, 24 ×1, 22 ×1"
    assert "s101 22/95.0%" in text.splitlines()[1]


def test_mode_coverage_first_seed_and_variants_choose_the_runs():
    from bench.mode_coverage import _variant_option, seeded_args, variants
    a, seeds, _ = seeded_args(["--seeds", "3", "--first-seed", "100", "--variants", "defaults"], "doc",
                              ("ring8", "grid25"), "quick", _variant_option)
    assert seeds == [100, 101, 102] and a.variants == "defaults"
    assert list(variants("grid25", {"defaults"})) == ["defaults"]
    assert "norefit" in variants("grid25")   # all of them by default


def test_defaults_over_seeds_reads_each_runs_final_figures(capsys, tmp_path):
    from bench import defaults_over_seeds
    summary = defaults_over_seeds.main(["--seeds", "2", "--root", str(tmp_path),
                                        "--extra", "--iterations 60 --snapshot-every 30 --snapshot-samples 200"])
    out = capsys.readouterr().out
    assert "cores" in out and "date" in out
    last = [line for line in out.splitlines() if line.strip()][-1]
    assert re.fullmatch(r"digits FID \d+\.\d\d ± \d+\.\d\d over 2 seeds", last), last
    # the table's figures are the runs' own last logged values (a seed's FID read back from its metrics.csv)
    fids = [defaults_over_seeds.final_figures(tmp_path / f"digits-s{s}", ["frechet_distance"])["frechet_distance"]
            for s in range(2)]
    m, sd, n = summary[("digits", "frechet_distance")]
    assert n == 2 and m == pytest.approx(sum(fids) / 2) and sd == pytest.approx(abs(fids[0] - fids[1]) / math.sqrt(2))
    assert fids[0] != fids[1]  # two seeds really trained two runs
    assert ("gaussian1d", "jsd") in summary


def test_mode_sweep_summary_and_best_per_dataset():
    from bench import mode_sweep
    rows = mode_sweep.read_rows(ROOT / "bench" / "data" / "sweep_device_1.jsonl")
    cands = {c["name"]: c for c in mode_sweep.summary(rows)}
    assert len(cands) == 22
    c = cands["grid25/m512lrd1"]   # two seeds: 20/95.12 % and 20/94.88 % with rejection, 131.6 and 113.8 CPU-s
    assert c["seeds"] == 2 and c["drs_modes"] == 20 and c["drs_hq"] == pytest.approx(0.95) and c["cpu_s"] == 131.6
    winners = mode_sweep.best(rows)
    assert list(winners) == ["ring8", "grid25"]   # fewest modes first: the last line is grid25's
    assert winners["grid25"]["name"] == "grid25/m512lrd1"
    assert all(w["drs_modes"] >= c["drs_modes"] for w in winners.values() for c in cands.values()
               if c["name"].split("/")[0] == w["name"].split("/")[0])


def test_mode_sweep_candidates_are_dataset_name_flags():
    from bench.mode_sweep import parse_candidates
    assert parse_candidates(["grid25/p2:--pack 2 --batch-size 128", "ring8/base:"]) == {
        "grid25/p2": "--pack 2 --batch-size 128", "ring8/base": ""}
    for bad in ["grid25/p2", "mnist/x:--pack 2", "ring8:--pack 2"]:
        with pytest.raises(ValueError, match="DATASET/NAME:FLAGS"):
            parse_candidates([bad])


def test_gpu_bench_window_and_process_counts(tmp_path):
    from bench import gpu
    (tmp_path / "metrics.csv").write_text("iteration,value_estimate,elapsed_s\n10,-1.2,0.5\n20,-1.3,0.9\n30,-1.3,1.5\n")
    # the window runs from the first row to the last: the set-up before row 10 is left out
    assert gpu.window_seconds_per_iteration(tmp_path) == pytest.approx((1.5 - 0.5) / 20)
    assert gpu.process_counts(2) == [1, 2] and gpu.process_counts(6) == [1, 2, 4] and gpu.process_counts(64)[-1] == 8


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_gpu_bench_refuses_its_gpu_parts_without_cuda(capsys):
    from bench import gpu
    with pytest.raises(SystemExit):
        gpu.main(["--quick"])
    assert "no CUDA GPU here" in capsys.readouterr().err


@pytest.mark.slow  # trains tiny fashion runs, a tutorial GAN and a classifier on a tiny IDX set, in child processes
def test_images_last_line(capsys, tmp_path, monkeypatch):
    from bench import images
    from gan_core.scores.classifier import train_classifier
    from tests.test_pictures import small_set
    small_set(tmp_path / "data" / "fashion", n_train=200, n_test=60)
    monkeypatch.setenv("GAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("GAN_NO_DOWNLOAD", "1")
    train_classifier("fashion", epochs=1)
    images.main(["--quick", "--samples", "100", "--extra", "--iterations 6 --base-channels 8"])
    out = capsys.readouterr().out
    assert "tutorial MLP GAN" in out and "--arch paper" in out and "Parzen" in out and "cores" in out
    last = [line for line in out.splitlines() if line.strip()][-1]
    pattern = r"fashion FID \d+\.\d\d \(tutorial MLP GAN \d+\.\d\d, floor \d+\.\d\d\) in \d+ CPU-s"
    assert re.fullmatch(pattern, last), last
