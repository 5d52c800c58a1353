import dataclasses
import json

import pytest
from conftest import run_cli

from gan_core.cli import build_parser
from gan_core.config import TrainConfig, help_text
from gan_core.errors import ConfigError


def test_config_round_trips_through_json(tmp_path):
    cfg = TrainConfig(dataset="ring8", run_dir=str(tmp_path), k=3, lr_d=1e-4, g_loss="minimax",
                      dataset_params={"std": 0.05}).resolved()
    cfg.save(tmp_path / "config.json")
    back = TrainConfig.load(tmp_path / "config.json")
    assert back == cfg
    assert json.loads((tmp_path / "config.json").read_text())["k"] == 3


def test_resolved_fills_dataset_defaults_and_explicit_values_win():
    c = TrainConfig(dataset="digits", lr_g=0.01).resolved()
    assert c.image_size == 8 and c.batch_size == 64 and c.lr_g == 0.01 and c.iterations == 3000
    assert c.snapshot_every > 0 and c.snapshot_every % c.log_every == 0
    # Adam's betas are per dataset too: grid25 trains without momentum (issue 12's sweep), the others keep
    # DCGAN's (0.5, 0.999); a value given explicitly wins, and the old default stays one flag away
    assert (c.beta1, c.beta2) == (0.5, 0.999)
    grid25 = TrainConfig(dataset="grid25").resolved()
    assert (grid25.beta1, grid25.beta2) == (0.0, 0.9)
    assert TrainConfig(dataset="grid25", beta1=0.5).resolved().beta1 == 0.5
    args = build_parser().parse_args(["train", "--dataset", "grid25", "--beta1", "0.5", "--beta2", "0.999"])
    assert (args.beta1, args.beta2) == (0.5, 0.999)
    # the noise prior too: grid25 draws z uniformly on the square, every other dataset from N(0, I); the
    # normal prior stays one flag away
    assert grid25.prior == "uniform" and c.prior == "normal"
    assert TrainConfig(dataset="ring8").resolved().prior == "normal"
    assert TrainConfig(dataset="grid25", prior="normal").resolved().prior == "normal"
    assert build_parser().parse_args(["train", "--dataset", "grid25", "--prior", "normal"]).prior == "normal"


def test_every_config_field_has_a_flag():
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    dests = {a.dest for a in train._actions}
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    assert fields - {"dataset_params", "world_size"} <= dests  # world_size: set by torchrun, recorded


def _option_entries(help_output: str) -> dict:
    """`--flag [METAVAR] help…` of each option in an argparse --help, whitespace collapsed, by its flag."""
    entries, current = {}, None
    for line in help_output.splitlines():
        if line.startswith("  -"):
            current = line.split()[0].rstrip(",")
            entries[current] = line
        elif current and line.startswith("   "):
            entries[current] += " " + line
        else:
            current = None
    return {flag: " ".join(text.split()) for flag, text in entries.items()}


def test_train_help_shows_each_settings_help_text(monkeypatch):
    """Every setting has one help text, kept with its TrainConfig field; `train --help` shows it for the
    setting's flag (the Train page's widgets show it too: tests/test_pages.py)."""
    fields = [f.name for f in dataclasses.fields(TrainConfig)]
    assert [f for f in fields if not help_text(f)] == []
    monkeypatch.setenv("COLUMNS", "10000")  # argparse wraps at the terminal's width (and breaks at hyphens)
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    entries = _option_entries(train.format_help())
    flags = {"--" + f.replace("_", "-"): f for f in fields if "--" + f.replace("_", "-") in entries}
    assert len(flags) >= len(fields) - 3  # all but dataset_params, export_onnx, world_size
    for flag, name in flags.items():
        shown = entries[flag].removeprefix(flag).removeprefix(" " + name.upper())  # the metavar, if it takes one
        assert shown == " " + " ".join(help_text(name).split()), flag
    assert entries["--dataset-param"] == "--dataset-param KEY=VALUE " + help_text("dataset_params")
    assert entries["--no-export"] == "--no-export do not " + help_text("export_onnx")


@pytest.mark.parametrize("changes, words", [
    (dict(k=0), "k must be at least 1"),
    (dict(batch_size=0), "batch_size"),
    (dict(lr_d=0.0), "learning rate"),
    (dict(lr_g=-1.0), "learning rate"),
    (dict(dataset="nope"), "unknown dataset"),
    (dict(device="tpu"), "unknown device"),
    (dict(g_loss="wasserstein"), "generator objective"),
])
def test_invalid_values_are_refused(changes, words):
    with pytest.raises(ConfigError, match=words):
        TrainConfig(**changes).resolved().validate()


@pytest.mark.parametrize("args, words", [
    (["--k", "0"], "k must be at least 1"),
    (["--k", "abc"], "invalid int value"),
    (["--lr-d", "0"], "learning rate"),
    (["--dataset", "cifar10"], "unknown dataset"),
    (["--device", "tpu"], "unknown device"),
    (["--batch-size", "5000", "--dataset", "digits"], "larger than the dataset"),
])
def test_cli_refuses_bad_values_in_one_line(tmp_path, args, words):
    run_dir = tmp_path / "run"
    r = run_cli("train", "--run-dir", run_dir, "--iterations", 10, *args)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], r.stderr
    assert "Traceback" not in r.stderr
    assert not (run_dir / "config.json").exists()  # nothing started
