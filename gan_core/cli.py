"""Command line: python -m gan_core train|export|generate|share|runs|stop|control|replay|classifier.

Imports are lazy so that `generate` works where torch is not installed. Every user error ends in one
line on stderr and a non-zero exit, never a traceback.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import typing
from pathlib import Path

from gan_core.config import TrainConfig, help_text
from gan_core.errors import GanError, OutOfMemory, is_out_of_memory


class OneLineParser(argparse.ArgumentParser):
    """argparse prints usage plus a message; a user needs only the message."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"error: {message} (see --help)\n")


def _field_type(f: dataclasses.Field):
    t = f.type if not isinstance(f.type, str) else f.type.replace("Optional[", "").rstrip("]")
    return {"int": int, "float": float, "str": str}.get(t if isinstance(t, str) else getattr(t, "__name__", ""), str)


def _help(name: str, prefix: str = "") -> str:
    """A setting's help text (gan_core.config.help_text) as argparse takes it: % is argparse's format sign."""
    return (prefix + help_text(name)).replace("%", "%%")


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    """A flag for every TrainConfig field, with the help text kept with the field."""
    for f in dataclasses.fields(TrainConfig):
        if f.name in ("dataset_params", "export_onnx", "world_size"):  # world_size: torchrun's, recorded
            continue
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool", bool):
            p.add_argument(flag, dest=f.name, action="store_true", default=argparse.SUPPRESS, help=_help(f.name))
            continue
        p.add_argument(flag, dest=f.name, type=_field_type(f), default=argparse.SUPPRESS, help=_help(f.name))
    p.add_argument("--dataset-param", dest="dataset_param", action="append", default=argparse.SUPPRESS,
                   metavar="KEY=VALUE", help=_help("dataset_params"))
    p.add_argument("--no-export", dest="export_onnx", action="store_false", default=argparse.SUPPRESS,
                   help=_help("export_onnx", prefix="do not "))


def _train_command(sub) -> None:
    t = sub.add_parser("train", help="train a GAN (Algorithm 1) into a run directory")
    _add_config_flags(t)
    t.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its last checkpoint; "
                   "--lr-d, --lr-g, --k, --g-loss, --batch-size and the --lr-decay settings given with it take "
                   "effect from there (recorded as a change)")
    t.add_argument("--restart-schedule", action="store_true",
                   help="with --resume: the learning-rate decay starts again at the resumed iteration and ends at "
                        "--iterations (for extending a run whose rate has decayed)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")


def _model_commands(sub) -> None:
    """export, generate, share: what is done with a trained generator."""
    e = sub.add_parser("export", help="write the ONNX generator of a run")
    e.add_argument("run_dir")
    e.add_argument("--out", default=None, help="output file (default RUN_DIR/generator.onnx)")
    g = sub.add_parser("generate", help="sample a .onnx generator (needs onnxruntime only)")
    g.add_argument("model")
    g.add_argument("--n", type=int, default=64)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--out", required=True, help="a .csv (points) or .png (images) file")
    g.add_argument("--rejection", action=argparse.BooleanOptionalAction, default=None,
                   help="discriminator rejection sampling: keep each sample with probability exp(logit − max logit) "
                        "of the D inside the model (default: as the model's metadata says)")
    sh = sub.add_parser("share", help="write one self-contained web page that samples the generator offline")
    sh.add_argument("source", help="a run directory, a .onnx model, or a .zip shared from the dashboard")
    sh.add_argument("--out", required=True, help="the .html file to write")


def _run_commands(sub) -> None:
    """runs, stop, control: the runs there are, and steering one."""
    r = sub.add_parser("runs", help="list runs with dataset, state and iteration")
    r.add_argument("--root", default="runs")
    s = sub.add_parser("stop", help="ask a running run to stop after its current step")
    s.add_argument("run_dir")
    c = sub.add_parser("control", help="steer a running run: pause, continue, step, slow, set, stop")
    c.add_argument("run_dir")
    c.add_argument("action", choices=["pause", "continue", "step", "slow", "set", "stop"])
    c.add_argument("settings", nargs="*", metavar="KEY=VALUE", help="for set: e.g. lr_d=1e-4 g_loss=minimax k=2")
    c.add_argument("--what", choices=["d", "g", "iteration"], default="iteration",
                   help="for step: one D step, one G step, or one whole iteration (k D-steps + one G-step)")
    c.add_argument("--count", type=int, default=1, help="for step: how many")
    c.add_argument("--ips", type=float, default=None,
                   help="for slow: at most this many iterations per second (0: full speed)")
    c.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the run's answer")


def _compare_command(sub) -> None:
    cp = sub.add_parser("compare", help="train several runs that differ in seed, objective, k, learning rates or "
                                        "prior by one command, small networks stacked (each member an ordinary run "
                                        "under --root; on a CPU --threads lanes, a process each, default the cores, "
                                        "at most 2)")
    _add_config_flags(cp)
    cp.add_argument("--vary", action="append", default=[], metavar="KEY=V1,V2,...",
                    help="a setting that varies: seed, lr_d, lr_g, g_loss, k, prior, beta1, beta2, instance_noise, "
                         "gradient_penalty "
                         "(repeatable: every combination)")
    cp.add_argument("--seeds", type=int, default=1, help="seeds per combination (--seed, --seed+1, ...)")
    cp.add_argument("--root", required=True, help="the comparison's folder; one run directory per member inside")
    cp.add_argument("--resume", action="store_true",
                    help="continue the comparison in --root (--iterations: a new total)")
    cp.add_argument("--quiet", action="store_true", help="no per-member messages")


def _replay_and_classifier_commands(sub) -> None:
    rp = sub.add_parser("replay", help="re-train a run from its config, applying its recorded changes at the same "
                                       "iterations")
    rp.add_argument("run", help="the run to replay")
    rp.add_argument("--run-dir", required=True, help="the new run directory")
    rp.add_argument("--iterations", type=int, default=None, help="default: as far as the run got")
    rp.add_argument("--quiet", action="store_true", help="no progress bar")
    cl = sub.add_parser("classifier", help="train and cache the classifier whose features score fashion / mnist "
                                           "samples (FID, precision/recall, classes)")
    cl.add_argument("--dataset", required=True, choices=("fashion", "mnist"))
    cl.add_argument("--epochs", type=int, default=None, help="passes over the 60,000 training images (default 12)")
    cl.add_argument("--seed", type=int, default=0)
    cl.add_argument("--retrain", action="store_true", help="train again even if a classifier is cached")
    cl.add_argument("--floor", action="store_true", help="also print the scores of real training images (the "
                                                         "floor) and their Parzen log-likelihood of the test images")


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="python -m gan_core", description="Train, export and sample the original GAN.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for add in (_train_command, _model_commands, _run_commands, _compare_command, _replay_and_classifier_commands):
        add(sub)
    return p


def _parse_params(items) -> dict:
    out = {}
    for item in items or []:
        if "=" not in item:
            raise GanError(f"--dataset-param expects KEY=VALUE, got {item!r}")
        k, v = (part.strip() for part in item.split("=", 1))
        try:
            out[k] = int(v) if v.lstrip("-").isdigit() else float(v)
        except (ValueError, OverflowError):
            raise GanError(f"--dataset-param {k}: {v!r} is not a number") from None
    return out   # names and ranges are checked by TrainConfig.validate


# What a new run's folder may already hold: the dashboard creates it with its log before `train` starts.
_NEW_RUN_LEFTOVERS = {"train.log", ".lock", ".starting",  # what launching a run puts there first,
                      "drawn_data.csv", "drawing.json"}  # and drawn data (gan_core.data.drawn) the run trains on


def _check_new_run_dir(run_dir: str) -> None:
    """A new run goes into a new or empty folder, never among a user's own files."""
    p = Path(run_dir)
    if p.exists() and not p.is_dir():
        raise GanError(f"--run-dir {run_dir} is a file; give a folder for the run")
    if p.is_dir():
        try:
            others = sorted(c.name for c in p.iterdir()
                            if c.name not in _NEW_RUN_LEFTOVERS and not c.name.startswith("..starting."))
        except OSError as e:
            raise GanError(f"--run-dir {run_dir} cannot be read ({e.strerror or e})") from None
        if others and not (p / "config.json").exists():
            raise GanError(f"--run-dir {run_dir} already holds other files ({', '.join(others[:3])}"
                           f"{', …' if len(others) > 3 else ''}); choose a new or empty folder")


def _check_resumable(run_dir: str, iterations: int) -> None:
    """Refuse a resume with nothing left to train, saying what will help (export, or more iterations)."""
    from gan_core.runs.runlock import ensure_free
    ensure_free(run_dir)   # before torch is imported: a refusal is immediate
    from gan_core.engine.checkpoint import load_checkpoint
    done = load_checkpoint(run_dir).get("iteration")
    if isinstance(done, int) and not isinstance(done, bool) and done >= iterations:
        tip = "" if (Path(run_dir) / "generator.onnx").exists() else \
            f"; if generator.onnx is missing, `python -m gan_core export {run_dir}` writes it"
        raise GanError(f"{run_dir} has done all its {done} iterations: give --iterations larger than {done} "
                       f"to continue{tip}")


def cmd_train(a: argparse.Namespace) -> int:
    from gan_core.runs import store
    given = {k: v for k, v in vars(a).items()
             if k not in ("command", "resume", "quiet", "dataset_param", "restart_schedule")}
    extend = None
    if a.restart_schedule and not a.resume:
        raise GanError("--restart-schedule only applies with --resume")
    if a.resume:
        if "run_dir" not in given:
            raise GanError("--resume needs --run-dir")
        if Path(given["run_dir"]).is_file():
            raise GanError(f"--run-dir {given['run_dir']} is a file, not a run folder")
        cfg = _on_main(_resume_config, Path(given["run_dir"]))
        allowed = {"iterations", "device", "run_dir", "checkpoint_every", "export_onnx", "tensorboard", "threads"}
        from gan_core.runs.control import LIVE_SETTINGS
        ignored = set(given) - allowed - set(LIVE_SETTINGS)
        if ignored and _rank() == 0:
            print(f"note: --resume keeps the run's settings; ignoring {', '.join(sorted(ignored))}", file=sys.stderr)
        cfg = dataclasses.replace(cfg, **{k: v for k, v in given.items() if k in allowed})
        extend = {"set": {k: v for k, v in given.items() if k in LIVE_SETTINGS},
                  "restart_schedule": a.restart_schedule}
        cfg.resolved().validate()
        if _rank() == 0:  # the other ranks may run where the run directory is not
            _check_resumable(cfg.run_dir, cfg.resolved().iterations)
    else:
        cfg = TrainConfig(**given)
        cfg.dataset_params.update(_parse_params(getattr(a, "dataset_param", None)))
        if not cfg.run_dir:
            cfg.run_dir = str(Path(store.DEFAULT_ROOT) / store.new_run_name(cfg.dataset))
        if _rank() == 0:
            _check_new_run_dir(cfg.run_dir)
    cfg.resolved().validate()  # refuse before anything starts (imports torch only after this)
    from gan_core.engine.training import train
    main = _rank() == 0  # under torchrun rank 0 speaks for the run
    st = train(cfg, resume=a.resume, progress=None if not a.quiet and main else False,
               log=(lambda s: print(s, file=sys.stderr)) if main else (lambda s: None), extend=extend)
    if main:
        print(f"{st['state']}: {cfg.run_dir} at iteration {st['iteration']} — {st['message']}")
    return 0 if st["state"] in ("completed", "stopped") else 1


def cmd_compare(a: argparse.Namespace) -> int:
    from gan_core.engine.compare import compare
    from gan_core.runs.comparisons import parse_vary
    given = {k: v for k, v in vars(a).items()
             if k not in ("command", "resume", "quiet", "dataset_param", "vary", "seeds", "root")}
    if given.pop("run_dir", ""):  # an empty one is what gan_core.jobs.launch.comparison_command passes
        raise GanError("compare takes --root (one run directory per member inside it), not --run-dir")
    vary = parse_vary(a.vary)
    if a.resume:
        ignored = set(given) - {"iterations", "threads"}
        if ignored or vary:
            raise GanError("--resume keeps the comparison's settings; only --iterations may be given with it")
        base = TrainConfig()
    else:
        if "dataset" not in given:
            raise GanError("compare needs --dataset")
        base = TrainConfig(**given)
        base.dataset_params.update(_parse_params(getattr(a, "dataset_param", None)))
        base.resolved().validate()
    if a.seeds < 1:
        raise GanError(f"--seeds must be at least 1, got {a.seeds}")
    log = (lambda s: None) if a.quiet else (lambda s: print(s, file=sys.stderr))
    final = compare(base, a.root, vary, a.seeds, resume=a.resume, iterations=given.get("iterations"),
                    threads=given.get("threads", 0), log=log)
    for name, st in final.items():
        print(f"{st['state']}: {Path(a.root) / name} at iteration {st['iteration']} — {st['message']}")
    return 0 if all(st["state"] in ("completed", "stopped") for st in final.values()) else 1


def _rank() -> int:
    return int(os.environ.get("RANK", "0") or 0)


def _resume_config(run_dir: Path) -> TrainConfig:
    path = run_dir / "config.json"
    if not path.exists():
        raise GanError(f"{run_dir}: nothing to resume (no config.json)")
    return TrainConfig.load(path)


def _on_main(fn, *args):
    """fn(*args) in one process; under torchrun only rank 0 reads the run directory (the others may run on
    machines without it) and every rank gets its answer."""
    if int(os.environ.get("WORLD_SIZE", "1") or 1) <= 1:
        return fn(*args)
    from gan_core.engine import distributed as d  # torch only under torchrun, where it is needed anyway
    from gan_core.engine.device import resolve_device
    return d.setup(resolve_device("cpu")).on_main(fn, *args)


def cmd_export(a) -> int:
    from gan_core.share.export import export_run
    try:
        rep = export_run(a.run_dir, a.out)
    except (GanError, OSError):
        raise
    except Exception as e:  # torch or onnx refusing this run's model: one line, as every error here
        if is_out_of_memory(e):
            raise
        why = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise GanError(f"cannot export {a.run_dir}: {why}") from None
    print(f"wrote {rep.path} ({rep.size_bytes / 1024:.0f} KiB; largest difference to torch {rep.max_abs_diff:.2e} "
          f"on {rep.n_check} latents)")
    return 0


def cmd_generate(a) -> int:
    from gan_core.share.outputs import generate_to_file
    if a.n < 1:
        raise GanError(f"--n must be at least 1, got {a.n}")
    if not 0 <= a.seed < 2 ** 64:
        raise GanError(f"--seed must lie in 0 … 2^64 − 1, got {a.seed}")
    if Path(a.out).is_dir():
        raise GanError(f"--out {a.out} is a folder; give a file name such as samples.csv or samples.png")
    parent = next((p for p in Path(a.out).absolute().parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise GanError(f"--out {a.out}: {parent} is a file, not a folder")
    out = generate_to_file(a.model, a.n, a.seed, a.out, rejection=a.rejection)
    print(f"wrote {out}")
    return 0


def cmd_share(a) -> int:
    from gan_core.share.page import write_page
    rep = write_page(a.source, a.out)
    print(f"wrote {rep.path} ({rep.size_bytes / 1e6:.1f} MB; onnxruntime-web matches onnxruntime to "
          f"{rep.max_abs_diff:.1e}) — open it in any browser, no network needed")
    return 0


def cmd_runs(a) -> int:
    from gan_core.runs.store import list_runs
    rs = list_runs(a.root)
    if not rs:
        print(f"no runs under {a.root}")
        return 0
    print(f"{'run':<32} {'dataset':<12} {'state':<12} {'iteration':>15}  message")
    for r in rs:
        print(f"{_one_line(r.name):<32} {_one_line(Path(r.dataset).name)[:12]:<12} {r.state:<12} "
              f"{r.iteration:>7}/{r.iterations:<7}  {_one_line(r.message)}")
    return 0


def _one_line(text: str) -> str:
    """text with its control characters (a newline in a folder's name, an escape sequence) as escapes: one row
    of the table per run, and nothing a terminal would act on."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def cmd_stop(a) -> int:
    from gan_core.runs.store import is_run_dir, request_stop
    if not is_run_dir(a.run_dir):
        raise GanError(f"{a.run_dir} is not a run directory")
    request_stop(a.run_dir)
    print(f"asked {a.run_dir} to stop after its current step")
    return 0


def cmd_control(a) -> int:
    from gan_core.runs import control
    args: dict = {}
    if a.action == "step":
        args = {"what": a.what, "count": a.count}
    elif a.action == "slow":
        if a.ips is None:
            raise GanError("slow needs --ips X (0: full speed)")
        args = {"ips": a.ips}
    elif a.action == "set":
        args = {"changes": dict(control.parse_setting(s) for s in a.settings)}
    if a.settings and a.action != "set":
        raise GanError(f"KEY=VALUE settings only go with set, not {a.action}")
    # a step of many iterations (or D / G steps) is answered when it is done: allow for it
    timeout = a.timeout + (a.count * (0.05 if a.what == "iteration" else 0.01) if a.action == "step" else 0)
    ans = control.command(a.run_dir, a.action, timeout=timeout, **args)
    print(ans.get("message", "done"))
    return 0


def cmd_replay(a) -> int:
    from gan_core.runs import control, store
    src = Path(a.run)
    if not store.is_run_dir(src):
        raise GanError(f"{a.run} is not a run directory")
    cfg = TrainConfig.load(src / "config.json")
    st = store.read_status(src)
    iterations = a.iterations or int(st.get("iteration") or 0) or cfg.iterations
    cfg = dataclasses.replace(cfg, run_dir=a.run_dir, iterations=iterations)
    cfg.resolved().validate()
    events = control.read_changes(src, strict=True)  # a record that is not a change is named, not applied
    from gan_core.engine.training import train
    st = train(cfg, progress=None if not a.quiet else False, log=lambda s: print(s, file=sys.stderr), replay=events)
    print(f"{st['state']}: {cfg.run_dir} replayed {a.run} with {len(events)} recorded change(s) to iteration "
          f"{st['iteration']} — {st['message']}")
    return 0 if st["state"] in ("completed", "stopped") else 1


def cmd_classifier(a) -> int:
    from gan_core.scores import classifier as C
    if a.epochs is not None and a.epochs < 1:
        raise GanError(f"--epochs must be at least 1, got {a.epochs}")
    path = C.classifier_path(a.dataset)
    if a.retrain or not path.exists():
        clf = C.train_classifier(a.dataset, epochs=a.epochs or C.EPOCHS, seed=a.seed,
                                 log=lambda s: print(s, file=sys.stderr))
    else:
        clf = C.load_classifier(a.dataset)
    m = clf.meta
    print(f"{path}: test accuracy {m['test_accuracy']:.4f} ({m['epochs']} epochs, seed {m['seed']}, "
          f"trained in {m['train_cpu_s']:.0f} CPU-s)")
    if a.floor:
        from gan_core.scores.images import floor, floor_images, parzen_images
        f = floor(a.dataset, classifier=clf)
        print(f"floor ({f['n']:,} training images against the test images): FID {f['fid']:.3f}, precision "
              f"{f['precision']:.3f}, recall {f['recall']:.3f}, classes {f['classes_covered']}/10, "
              f"class KL {f['class_kl']:.4f}")
        pz = parzen_images(floor_images(a.dataset), a.dataset)
        print(f"Parzen log-likelihood of the test images under {f['n']:,} training images: {pz['mean']:.1f} ± "
              f"{pz['se']:.1f} nats (σ = {pz['sigma']:.3f}, chosen on held-out training images)")
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return {"train": cmd_train, "export": cmd_export, "generate": cmd_generate,
                "share": cmd_share, "runs": cmd_runs, "stop": cmd_stop, "control": cmd_control,
                "replay": cmd_replay, "compare": cmd_compare, "classifier": cmd_classifier}[args.command](args)
    except GanError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a full disk, a read-only folder, a path that is not writable: one line
        where = f": {e.filename}" if e.filename else ""
        print(f"error: {e.strerror or type(e).__name__}{where}", file=sys.stderr)
        return 2
    except (MemoryError, RuntimeError) as e:  # torch's allocator raises RuntimeError when memory runs out
        if not is_out_of_memory(e):
            raise
        print(f"error: {OutOfMemory()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if "torch.distributed" in sys.modules:  # under torchrun: leave the process group cleanly
            from gan_core.engine.distributed import shutdown
            shutdown()
