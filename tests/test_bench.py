"""The benchmarks run end to end at a tiny size and print a ratio on their last line.

No timing thresholds here: speed claims live in bench/RESULTS.md, measured as ratios in one run.
Each benchmark runs in-process (its main() with --quick and test-only smaller sizes).
"""
import math
import re

import pytest

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


def test_train_throughput(capsys):
    from bench import train_throughput
    # one thread for both datasets: on a busy 2-core machine two OpenMP threads can be 10x slower
    train_throughput.main(["--quick", "--iterations", "20", "--repeats", "1", "--threads", "1"])
    _last_ratio(capsys)


def test_generate_latency(capsys):
    from bench import generate_latency
    generate_latency.main(["--quick", "--repeats", "1"])
    _last_ratio(capsys)


def test_dashboard_refresh(capsys):
    from bench import dashboard_refresh
    dashboard_refresh.main(["--quick", "--sizes", "2000,5000", "--repeats", "1"])
    _last_ratio(capsys)


@pytest.mark.parametrize("argv", [["--iterations", "5"], ["--datasets", "mnist"]])
def test_train_throughput_refuses_bad_arguments(argv):
    from bench import train_throughput
    with pytest.raises(SystemExit):
        train_throughput.main(argv)


def test_snapshot_cost(capsys):
    from bench import snapshot_cost
    snapshot_cost.main(["--quick", "--repeats", "1", "--samples", "300"])
    _last_ratio(capsys)


@pytest.mark.slow
@pytest.mark.parametrize("start", [[], ["--fresh"]])  # forked by a warm worker (the dashboard's way), or new interpreters
def test_experiments(capsys, start):
    from bench import experiments
    experiments.main(["--quick", "--iterations", "20", "--repeats", "1", "--members", "2", *start])
    out = capsys.readouterr()
    assert ("new interpreters" if start else "forked by a warm worker") in out.out
    # the limit beside the ratio: the queued runs' own training work over the cores
    limit = re.search(r"limit: the runs' own training work alone on a core \(([\d.]+) CPU-s.* = ([\d.]+) s, (\d+) "
                      r"member-iterations/s: the comparison reaches (\d+)%", out.out)
    assert limit, out.out
    assert float(limit[1]) > 0 and 0 < int(limit[4]) < 1000
    print(out.out)
    _last_ratio(capsys)


@pytest.mark.slow  # trains two tiny grid25 runs in child processes and exports them
def test_mode_coverage_last_line(capsys, tmp_path):
    from bench import mode_coverage
    mode_coverage.main(["--quick", "--seeds", "1", "--datasets", "grid25", "--root", str(tmp_path),
                        "--extra", "--iterations 20 --snapshot-samples 200"])
    out = capsys.readouterr().out
    assert "PacGAN4" in out and "original GAN (--pack 1), no rejection" in out and "CPU per run" in out
    last = [line for line in out.splitlines() if line.strip()][-1]
    assert re.fullmatch(r"grid25 modes \d+\.\d/25, high quality \d+\.\d%", last), last


def test_mode_coverage_reverse_kl():
    from bench.mode_coverage import reverse_kl
    assert reverse_kl([5, 5, 5, 5]) == pytest.approx(0.0)
    assert reverse_kl([10, 0, 0, 0]) == pytest.approx(math.log(4))   # all mass on 1 of 4 modes
    assert reverse_kl([0, 0]) == float("inf")


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
