"""Monitor page ("Runs"): every run under the runs root, live charts, snapshots, and run actions.

Refresh model: three fragments. The run table re-reads the small status files every 2 s while anything
runs (10 s otherwise, to notice runs started from the command line). The charts fragment refreshes
every 1.5 s only while a selected run is running; its MetricsTail readers live in session_state, so a
refresh parses only the rows appended since the last one. The snapshot views refresh every 4 s while
running. When the set of runs or a state changes, a fragment asks for a full rerun so that actions and
refresh rates follow; with nothing running, the charts are drawn once and never re-sent.
"""
import streamlit as st

from gan_core import launch, monitor, runs
from gan_core.errors import GanError
from ui_common import link, use_app_navigation

use_app_navigation()
ss = st.session_state
root = launch.runs_root()
CAPTIONS = {
    "value": "Ṽ is the minibatch estimate of V(D, G) = E[log D(x)] + E[log(1 − D(G(z)))] (eq. (1)), "
             "which D ascends. With the best D, V(G, D*) = −2 log 2 + 2·JSD(p_data ‖ p_g) (eqs. (8)–(21)), "
             "so −2 log 2 ≈ −1.386 is the value of the game once p_g = p_data.",
    "discriminator": "Mean D(x) on real data and D(G(z)) on generated data. At the game's equilibrium "
                     "p_g = p_data and D* ≡ 1/2 (eq. (7)): the discriminator can no longer tell them apart.",
    "loss": "D descends −Ṽ (eq. (2)); G descends log(1 − D(G(z))) (minimax, eq. (4)) or −log D(G(z)) "
            "(non-saturating, eq. (3)).",
    "figure1": "The paper's Figure 1: p_data (black, dotted), p_g (green), the learned D (blue, dashed) and "
               "D* = p_data/(p_data + p_g) (orange, eq. (7)). Where p_g matches p_data, D* is 1/2 everywhere.",
    "d_map": "The learned D(x) over the plane (green: judged real, purple: judged generated), with real "
             "points (green) and generated points (purple). G moves its points up D's slope.",
    "d_star": "D*(x) = p_data/(p_data + p_g), eq. (7), from the same generator: the discriminator the theorem "
              "says is best for this G. Where p_g matches p_data it is 1/2 (white).",
    "jsd": "JSD(p_data ‖ p_g) from a kernel estimate of p_g; V(G, D*) = −2 log 2 + 2·JSD (eqs. (8)–(21)) "
           "reaches its minimum −2 log 2 exactly when JSD = 0.",
    "samples": "Generated samples from the same fixed latents at every snapshot, so you watch the same z "
               "move as G learns.",
}



def act(fn, *args, done: str = ""):
    """Run a page action; a user-fixable problem becomes st.error, never a traceback."""
    try:
        out = fn(*args)
        if done:
            st.success(done)
        return out
    except GanError as e:
        st.error(str(e))
    except OSError as e:
        st.error(f"file system error: {e}")


def signature(infos) -> tuple:
    return tuple((r.name, r.state) for r in infos)


@st.cache_data(show_spinner=False, max_entries=128)
def snapshot(run_dir: str, iteration: int, mtime: float) -> dict:
    return runs.load_snapshot(run_dir, iteration)  # mtime in the key: a resumed run may rewrite it


@st.cache_data(show_spinner=False, max_entries=16)
def real_points(run_dir: str, mtime: float):
    return monitor.real_sample(run_dir, 1000)


st.title("Runs")
infos = runs.list_runs(root)
if not infos:
    st.info(f"No runs yet under {root}. Start one on the Train page, or with "
            "`python -m gan_core train --dataset ring8`.")
    link("pages/1_Train.py", "Train a GAN", ":material/model_training:")
    st.stop()
ss["_sig"] = signature(infos)
by_name = {r.name: r for r in infos}
names = list(by_name)


@st.fragment(run_every=2.0 if any(r.state == "running" for r in infos) else 10.0)
def run_table() -> None:
    now = runs.list_runs(root)
    st.dataframe(monitor.runs_table(now), hide_index=True, key="runs_table",
                 column_config={"progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0,
                                                                            format="percent")})
    if signature(now) != ss.get("_sig"):  # a run appeared, ended or vanished: redraw everything
        st.rerun()


run_table()

# --- selection and actions --------------------------------------------------------------------------
pending = ss.pop("monitor_selected", None)  # set by the Train page after a start
if not pending and "run" in st.query_params and "sel" not in ss:  # a shared link: ?run=a&run=b
    pending = st.query_params.get_all("run")
if pending:
    ss["sel"] = [n for n in pending if n in by_name] or names[:1]
elif "sel" in ss:
    ss["sel"] = [n for n in ss["sel"] if n in by_name]
else:  # the widget's state is dropped while another page is shown; keep the user's choice
    ss["sel"] = [n for n in ss.get("_sel_keep", []) if n in by_name] or names[:1]
selected = st.multiselect("Runs to show (several overlay on the charts)", names, key="sel")
ss["_sel_keep"] = selected
if not selected:
    st.info("Select one or more runs.")
    st.stop()

for n in selected:
    r = by_name[n]
    if r.state == "failed":
        st.error(f"**{n}** failed: {r.message}")
    elif r.state == "interrupted":
        st.warning(f"**{n}** was interrupted: {r.message}")
    elif r.state == "stopped":
        st.info(f"**{n}**: {r.message}")

target = selected[0] if len(selected) == 1 else st.selectbox("Act on", selected, key="target")
info = by_name[target]
path = info.path
running = info.state == "running"
a1, a2, a3, a4 = st.columns([1, 2, 1, 1], vertical_alignment="bottom")
if a1.button("Stop", disabled=not running, key="stop", help="Stops after the current step, keeping a checkpoint."):
    act(launch.stop_training, path, done=f"Asked {target} to stop after its current step.")
with a2:
    r1, r2 = st.columns([3, 2], vertical_alignment="bottom")
    total = r1.number_input("Resume to total iterations", 1, 100_000_000, key=f"resume_to@{target}",
                            value=max(info.iterations, 1) * (2 if info.state == "completed" else 1),
                            disabled=running)
    if r2.button("Resume", disabled=running, key="resume", help="Continue from the last checkpoint."):
        proc = act(launch.resume_training, path, int(total))
        if proc is not None:
            try:
                with st.spinner("Resuming…"):
                    launch.wait_started(proc, path, timeout=6.0)
                ss.get("tails", {}).pop(str(path / "metrics.csv"), None)
                st.rerun()
            except GanError as e:
                st.error(str(e))
if a3.button("Delete…", disabled=running, key="delete", help="Remove the run directory and everything in it."):
    ss["_confirm_delete"] = target
a4.download_button("Download .zip", data=lambda p=path: launch.run_zip_bytes(p), file_name=f"{target}.zip",
                   mime="application/zip", on_click="ignore", key="download",
                   help="The run directory without checkpoints, with generator.onnx if exported.")

if ss.get("_confirm_delete") == target:
    st.warning(f"Delete **{target}** and all its files? This cannot be undone.")
    y, n, _ = st.columns([1, 1, 4])
    if y.button("Yes, delete", type="primary", key="confirm_delete"):
        if act(runs.delete_run, path) is None and not runs.is_run_dir(path):
            ss.pop("_confirm_delete", None)
            ss.get("tails", {}).pop(str(path / "metrics.csv"), None)
            st.rerun()
    if n.button("Cancel", key="cancel_delete"):
        ss.pop("_confirm_delete", None)
        st.rerun()

# --- live charts --------------------------------------------------------------------------------------
live = any(by_name[n].state == "running" for n in selected)


@st.fragment(run_every=1.5 if live else None)
def charts() -> None:
    tails = ss.setdefault("tails", {})
    frames = {}
    for n in selected:
        p = str(root / n / "metrics.csv")
        frames[n] = tails.setdefault(p, monitor.MetricsTail(p)).read()  # only the new bytes
    frames = monitor.chart_frames(frames)  # one downsampling pass for all charts
    if all(df.empty for df in frames.values()):
        st.info("No metrics yet: the first row arrives after the first logging interval.")
    else:
        st.plotly_chart(monitor.value_figure(frames), key="value_fig")
        st.caption(CAPTIONS["value"])
        c1, c2 = st.columns(2)
        c1.plotly_chart(monitor.discriminator_figure(frames), key="d_fig")
        c1.caption(CAPTIONS["discriminator"])
        c2.plotly_chart(monitor.loss_figure(frames), key="loss_fig")
        c2.caption(CAPTIONS["loss"])
    metrics = monitor.quality_metrics(frames)
    if metrics:
        st.subheader("Sample quality over time")
        cols = st.columns(2)
        for i, m in enumerate(metrics):
            cols[i % 2].plotly_chart(monitor.quality_figure(frames, m), key=f"q_{m}")
            if m == "jsd":
                cols[i % 2].caption(CAPTIONS["jsd"])
    if live and not any(runs.read_status(root / n).get("state") == "running" for n in selected):
        st.rerun()  # the run ended: a full rerun stops this timer and refreshes the actions


# Snapshots arrive about 50 times per run and their heat maps are the heaviest thing to redraw: a slower timer.
@st.fragment(run_every=4.0 if live else None)
def snapshots_view() -> None:
    st.subheader("Samples and the theory, as training goes")
    who = selected[0] if len(selected) == 1 else st.selectbox("Snapshots of", selected, key="snap_run")
    run_dir = root / who
    its = runs.list_snapshots(run_dir)
    if not its:
        st.info("No snapshot yet.")
        return
    follow = len(its) == 1 or st.toggle("Follow the latest snapshot", value=True, key="follow")
    it = its[-1] if follow else st.select_slider("Snapshot at iteration", its, value=its[-1], key=f"snap_it@{who}")
    f = run_dir / "snapshots" / f"it_{it:08d}.npz"
    try:
        snap = snapshot(str(run_dir), it, f.stat().st_mtime)
    except (GanError, OSError) as e:
        st.warning(f"snapshot at iteration {it} is not readable yet ({e})")
        return
    try:
        draw_snapshot(snap, run_dir, it)
    except Exception as e:  # a snapshot from user data we did not foresee: say so, keep the page
        st.error(f"cannot draw the snapshot at iteration {it}: {type(e).__name__}: {e}")


def draw_snapshot(snap: dict, run_dir, it: int) -> None:
    kind = monitor.snapshot_kind(snap)
    cfg_file = run_dir / "config.json"
    real = None if kind in ("figure1", "images") else real_points(  # only the point views draw real data
        str(run_dir), cfg_file.stat().st_mtime if cfg_file.exists() else 0.0)
    jsd = snap.get("metric_jsd")
    where = f"iteration {it}" + (f" · JSD {float(jsd):.4f}" if jsd is not None else "")
    if kind == "figure1":
        st.plotly_chart(monitor.figure1(snap, title=f"p_data, p_g, D and D* — {where}"), key="fig1")
        st.caption(CAPTIONS["figure1"])
    elif kind == "heatmap":
        c1, c2 = st.columns(2)
        c1.plotly_chart(monitor.d_heatmap(snap, "d", real, title=f"learned D(x) — {where}"), key="d_map")
        c1.caption(CAPTIONS["d_map"])
        c2.plotly_chart(monitor.d_heatmap(snap, "d_star", real, title=f"D*(x), eq. (7) — {where}"), key="dstar_map")
        c2.caption(CAPTIONS["d_star"])
    elif kind == "images":
        st.plotly_chart(monitor.image_figure(snap["samples"].astype("float32"), title=f"samples — {where}"),
                        key="img_grid")
        st.caption(CAPTIONS["samples"])
    else:
        st.plotly_chart(monitor.samples_figure(snap["samples"], real, title=f"samples — {where}"), key="pts")
        st.caption(CAPTIONS["samples"])


charts()
snapshots_view()
