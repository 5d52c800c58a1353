"""Runs page (/runs): every run under the runs root, live charts with a verdict, snapshots, run actions.

Refresh model (each part does little per refresh, so a click never waits behind a slow redraw):
- the run table is a fragment re-reading the small status files every 0.5 s while anything runs
  (10 s otherwise, to notice runs started from the command line);
- the run controls are a fragment without a timer: a click reruns only them;
- the charts fragment refreshes every 3 s while a selected run is running (every 0.5 s, Ṽ alone, for the
  first 3 s after a Start: the first points come first); its MetricsTail readers live in session_state
  (a refresh parses only the rows appended since the last one), and the figures are rebuilt only when
  rows arrived, at most every 3 s. While a run trains the charts are live charts (ui_live_chart), which
  the browser updates in place (Plotly.react) — see chart() for the first seconds after a Start; the
  browser's cost, measured in bench/page_responsiveness.py and bench/steer_latency.py, sets these intervals;
- the snapshot fragment ticks every second: a new snapshot is drawn at most every 8 s while the run
  trains, and at once when the run is paused (the snapshot a Pause or a Step takes).
Lines are SVG (go.Scatter); WebGL only for clouds over plotting.GL_POINTS points (browsers keep 8–16
WebGL contexts per page). The selected runs are in the address (?run=a&run=b), so a link reopens them.
"""
import dataclasses
import time

import streamlit as st

from gan_core.errors import GanError
from gan_core.files import open_regular
from gan_core.jobs import launch
from gan_core.runs import comparisons, control, paths, store, transfer
from gan_core.share.page import share_page_bytes, share_unavailable
from gan_core.theory import mode_history, verdict
from gan_core.views import class_counts, curves, series
from gan_core.views.captions import CAPTIONS
from gan_core.views.image_grid import image_figure
from gan_core.views.plotting import PALETTE
from gan_core.views.run_table import runs_table
from gan_core.views.samples import mixture_of, real_sample, samples_figure
from gan_core.views.snapshot_choice import LAYERS, LAYERS_ON, snapshot_figures
from ui.common import TRAIN, PageTrace, keep, link, query_list, restore, set_query, timed
from ui.controls import extend_controls, live_controls
from ui.live_chart import live_chart
from ui.nav import page_setup

page_setup()

ss = st.session_state
root = paths.runs_root()
VERDICT_ICON = {"converging": ":material/check_circle:", "d_winning": ":material/warning:",
                "collapsed": ":material/warning:", "diverged": ":material/error:"}


def all_runs() -> tuple[list, list]:
    """(every run, comparisons): a comparison's members are listed as COMPARISON/MEMBER after the runs."""
    infos, groups = store.list_runs(root), comparisons.list_groups(root)
    for g in groups:
        if g["root"] != root:
            infos += [dataclasses.replace(m, name=f"{g['name']}/{m.name}") for m in g["members"]]
    return infos, [g for g in groups if g["root"] != root]


def signature(infos) -> tuple:
    # paused and running are one kind here: a Pause or Continue redraws the controls' fragment, not the page
    return tuple((r.name, "live" if r.state in store.LIVE_STATES else r.state) for r in infos)


@st.cache_data(show_spinner=False, max_entries=128)
def snapshot(run_dir: str, iteration: int, mtime: float) -> dict:
    return store.load_snapshot(run_dir, iteration)  # mtime in the key: a resumed run may rewrite it


@st.cache_data(show_spinner=False, max_entries=16)
def mixture(run_dir: str, mtime: float):
    return mixture_of(run_dir)


@st.cache_data(show_spinner=False, max_entries=4096)
def snapshot_modes(run_dir: str, iteration: int, mtime: float, cfg_mtime: float):
    """One snapshot's samples near each mode and D there (a few numbers: each snapshot is read once)."""
    return mode_history.snapshot_modes(store.load_snapshot(run_dir, iteration), *mixture(run_dir, cfg_mtime))


def dropped_modes(run_dir) -> list | None:
    """The modes G has dropped, from the run's snapshots; None when the data has no known modes or the
    snapshots cannot be read (the verdict then goes by metrics.csv)."""
    cfg_mtime = _mtime(run_dir / "config.json")
    mix = mixture(str(run_dir), cfg_mtime)
    if mix is None:
        return None
    try:
        its = store.list_snapshots(run_dir)[-mode_history.MAX_HISTORY:]
        hist = [snapshot_modes(str(run_dir), it, _mtime(paths.snapshot_path(run_dir, it)), cfg_mtime)
                for it in its]
    except (GanError, OSError, KeyError, ValueError):
        return None
    return mode_history.dropped_modes(hist, mix[0])


def _mtime(p) -> float:
    try:
        return p.stat().st_mtime
    except OSError:
        return 0.0


def run_real_points(run_dir):
    return real_points(str(run_dir), _mtime(run_dir / "config.json"))


@st.cache_data(show_spinner=False, max_entries=16)
def real_points(run_dir: str, mtime: float):
    return real_sample(run_dir, 1000)


@st.cache_data(show_spinner=False, max_entries=256)
def config_of(run_dir: str, mtime: float) -> dict:
    return store.read_json(f"{run_dir}/config.json") or {}


def configs(names) -> dict:
    out = {}
    for n in names:
        f = root / n / "config.json"
        try:
            out[n] = config_of(str(root / n), f.stat().st_mtime)
        except OSError:
            out[n] = {}
    return out


st.title("Runs")
_trace = PageTrace("page runs")
flash = ss.get("_start_flash")  # the Train page's Start brought us here: say so for a few seconds
if flash and time.time() - flash[1] < 8:
    st.success(flash[0], icon=":material/rocket_launch:")
infos, groups = all_runs()
if not infos:
    @st.fragment(run_every=0.5)
    def wait_for_runs() -> None:  # a run still starting, or one started from a terminal, shows up by itself
        if all_runs()[0]:
            st.rerun()

    if flash and time.time() - flash[1] < 8:
        st.caption("Starting… its first points appear here in a moment.")
    else:
        st.info(f"No runs yet under {root}. Start one on the Train page, or with "
                "`python -m gan_core train --dataset ring8`.")
        link(TRAIN, "Train a GAN", ":material/model_training:")
    wait_for_runs()
    st.stop()
ss["_sig"] = signature(infos)
ss["_listed"] = infos  # the run table's first drawing in this page run uses this listing: one per refresh
by_name = {r.name: r for r in infos}
names = list(by_name)

# --- selection (in the address, so a link reopens the same view) ---------------------------------------
pending = ss.pop("runs_selected", None)  # set by the Train page after a start
asked = query_list("run")
if pending:
    ss["sel"] = [n for n in pending if n in by_name] or names[:1]
elif asked and asked != ss.get("_sel_url"):  # a link opened (or the address edited): it wins
    ss["sel"] = [n for n in asked if n in by_name] or names[:1]
else:
    restore("sel")  # back from another page: the user's choice, not the default
    ss["sel"] = [n for n in ss.get("sel", []) if n in by_name] or names[:1]


@st.fragment(run_every=0.5 if any(r.state in store.LIVE_STATES for r in infos) else 10.0)
@timed("run_table")
def run_table() -> None:
    now = ss.pop("_listed", None) or all_runs()[0]  # listed with the page, or by this fragment's own timer
    sel = [n for n in ss.get("sel", []) if n in {r.name for r in now}]
    st.dataframe(runs_table(now, {r.name: r.config for r in now}, sel), hide_index=True, key="runs_table",
                 column_config={"progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0,
                                                                            format="percent")})
    if signature(now) != ss.get("_sig"):  # a run appeared, ended or vanished: redraw everything
        st.rerun()


run_table()


@st.fragment
@timed("comparisons")
def comparison_groups() -> None:
    """Each comparison: what varies, its state, a button to overlay all its members, and Stop."""
    with st.expander(f"Comparisons ({len(groups)})", icon=":material/compare_arrows:", expanded=True):
        for g in groups:
            now = comparisons.list_groups(g["root"])
            g = now[0] if now else g
            vary = "; ".join(f"{k} = {', '.join(map(str, v))}" for k, v in g["vary"].items())
            seeds = f"{g['seeds']} seeds" if g["seeds"] > 1 else ""
            c1, c2, c3 = st.columns([3, 1.3, 1], vertical_alignment="center")
            c1.markdown(f"**{g['name']}** · {g['dataset']} · {' · '.join(x for x in (vary, seeds) if x)} · "
                        f"{len(g['members'])} members · *{g['state']}*")
            if c2.button("Show all members", key=f"grp_show@{g['name']}", icon=":material/stacked_line_chart:",
                         help="Select every member: they overlay on the charts; seeds of one setting get their "
                              "mean with a band on the Ṽ chart."):
                ss["runs_selected"] = sorted(f"{g['name']}/{m.name}" for m in g["members"])
                st.rerun()
            if c3.button("Stop", key=f"grp_stop@{g['name']}", icon=":material/stop:",
                         disabled=g["state"] != "running", help="Every member stops after its current step and "
                         "keeps a checkpoint (`python -m gan_core compare --resume --root ...` continues)."):
                try:
                    comparisons.request_stop(g["root"])
                    st.success(f"Asked **{g['name']}** to stop.")
                except OSError as e:
                    st.error(f"could not ask {g['name']} to stop: {e}")


if groups:
    comparison_groups()
selected = st.multiselect("Runs to show (several overlay on the charts; the table then shows the settings "
                          "that differ)", names, key="sel")
keep("sel")
ss["_sel_url"] = selected
set_query(run=selected)
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
    elif r.state == store.BROKEN:
        st.error(f"**{n}** cannot be read: {r.message}")


# --- run controls -------------------------------------------------------------------------------------
# A fragment: a click reruns only these controls (and waits only for the trainer's answer, ~50 ms), never
# the charts. Pause, step, slow motion and live changes go through gan_core.runs.control (ui/controls.py).
@st.fragment
@timed("run_controls")
def run_controls() -> None:
    target = selected[0] if len(selected) == 1 else st.selectbox("Act on", selected, key="target")
    try:
        info = store.run_info(root / target)
    except GanError:
        info = by_name[target]  # broken: the reason is shown above; it can be downloaded or deleted, not resumed
    status = store.read_status(info.path)
    path, running = info.path, info.state in store.LIVE_STATES
    a1, a3, a4, a5 = st.columns([1, 1, 1.2, 1.4], vertical_alignment="bottom")
    msg = None
    if a1.button("Stop", disabled=not running, key="stop",
                 help="Stops after the current step, keeping a checkpoint."):
        msg = action(launch.stop_training, path, done=f"Asked **{target}** to stop after its current step.")
    if a3.button("Delete…", disabled=running, key="delete", help="Remove the run directory and everything in it."):
        ss["_confirm_delete"] = target
    a4.download_button("Download .zip", data=lambda p=path: transfer.run_zip_bytes(p),
                       file_name=f"{target.replace('/', '_')}.zip", mime="application/zip", on_click="ignore",
                       key="download",
                       help="The run directory without checkpoints, with generator.onnx if exported.")
    if info.state == "completed" and (path / "generator.onnx").is_file():
        a5.download_button("Download web page", data=lambda p=path: share_page_bytes(p),
                           file_name=f"{target.replace('/', '_')}.html", mime="text/html", on_click="ignore",
                           key="download_page",
                           disabled=bool(share_unavailable()),
                           help=share_unavailable() or "One .html file that samples this run's generator in any "
                                                       "browser, offline.")
    if (status.get("world_size") or 1) > 1:
        st.caption(f"Trained by {status['world_size']} processes under torchrun.")
    if running:
        live_controls(path, status, target)
    elif info.state != store.BROKEN:
        with st.expander("Resume or extend this run", icon=":material/play_arrow:",
                         expanded=info.state in ("stopped", "interrupted")):
            if extend_controls(path, status, target, info.iterations):
                ss.get("tails", {}).pop(str(path / "metrics.csv"), None)
                ss["_run_msg"] = (target, "success", f"Resumed **{target}**.")
                st.rerun()  # the whole page: its timers follow the new state
    if ss.get("_confirm_delete") == target:
        st.warning(f"Delete **{target}** and all its files? This cannot be undone.")
        y, n, _ = st.columns([1, 1, 4])
        if y.button("Yes, delete", type="primary", key="confirm_delete"):
            msg = action(store.delete_run, path, done=f"Deleted **{target}**.")
            if not store.is_run_dir(path):
                ss.pop("_confirm_delete", None)
                ss.get("tails", {}).pop(str(path / "metrics.csv"), None)
                ss["_run_msg"] = (target, *msg)
                st.rerun()
        if n.button("Cancel", key="cancel_delete"):
            ss.pop("_confirm_delete", None)
            st.rerun(scope="fragment")
    if msg:
        ss["_run_msg"] = (target, *msg)
    last = ss.get("_run_msg")
    if last and (last[0] == target or last[2].startswith("Deleted")):  # a message stays with its action's run
        getattr(st, last[1])(last[2])
    if running != (store.read_status(path).get("state") in store.LIVE_STATES):
        st.rerun()  # the run ended (or came to life): the whole page follows


def action(fn, *args, done: str = "") -> tuple:
    """Run a page action: ("success", done) or ("error", the one-line reason) — never a traceback."""
    try:
        fn(*args)
        return "success", done
    except GanError as e:
        return "error", str(e)
    except OSError as e:
        return "error", f"file system error: {e}"


run_controls()

# --- live charts and the verdict ------------------------------------------------------------------------
live = any(by_name[n].state in store.LIVE_STATES for n in selected)


def chart(fig, key: str, where=st) -> None:
    # While a run trains, its charts stay mounted and each refresh updates them in place (ui_live_chart:
    # st.plotly_chart builds a changed chart anew, twice, on every refresh — the browser's main load).
    # For PLAIN_AFTER_START_S after a Start from the Train page they are plain st.plotly_charts: the Train
    # page has loaded st.plotly_chart's plotly.js already, while the live charts must load and run their
    # own first (a noticeable share of the browser's main thread), which the first point should not wait for and
    # which would land just when the user first acts on the new run (Pause, Step). A new tab has neither
    # loaded: there every chart is a live one from the start.
    # Once the run ends, charts that were live stay live charts in this view (interactive all the same): a
    # switch to st.plotly_chart would blank them while it loads and draws (seen in tests/test_browser.py).
    in_place = not _started_here(PLAIN_AFTER_START_S) if live else ss.get("_live_view") == selected
    if in_place:
        if live:
            ss["_live_view"] = list(selected)
        live_chart(fig, key, where, lead=key == "value_fig")  # Ṽ first, the other charts after it
    else:
        where.plotly_chart(fig, key=key, config={"displaylogo": False, "staticPlot": live})


def _has_rows(n: str) -> bool:
    try:
        with open_regular(root / n / "metrics.csv") as f:
            return f.read(65536).count(b"\n") >= 2  # a header and a row
    except OSError:
        return False


# The first points come first. Right after a Start (or while a live run has no rows yet) the charts look
# every 0.5 s and draw only the Ṽ chart, and the snapshot heat maps wait: drawing every figure at once
# costs the browser seconds on a small machine, and the first point would wait behind them. After
# FIRST_POINTS_S everything is drawn; figures are still rebuilt at most every CHARTS_REDRAW_S (between
# rebuilds the same figures are re-sent, which costs the browser nothing).
FIRST_POINTS_S = 3.0
PLAIN_AFTER_START_S = 12.0  # see chart()
CHARTS_REDRAW_S = 3.0


def _started_here(seconds: float) -> bool:
    """Whether this page came from a Start on the Train page less than `seconds` ago."""
    return bool(flash) and time.time() - flash[1] < seconds


def _just_started() -> bool:
    return _started_here(FIRST_POINTS_S)


def _paused() -> bool:
    """A selected run is paused: nothing churns, and its views show its state at once (a Pause or a Step
    right after a Start must not wait for the first seconds' throttles)."""
    return live and any(store.read_status(root / n).get("state") == "paused" for n in selected)


def _first_points() -> bool:
    return live and (_just_started() or not any(_has_rows(n) for n in selected)) and not _paused()


CHARTS_EVERY = 0.5 if _first_points() else CHARTS_REDRAW_S  # a fragment's timer is set when the page runs


def value_place() -> tuple:
    """(where the Ṽ chart goes, where its verdict goes): one run, its verdict beside the chart; several, the
    chart full width and their verdicts side by side beneath it (a column of them beside it grew taller than
    the chart, seen with three seeds)."""
    if len(selected) == 1:
        return tuple(st.columns([3, 1]))
    return st.container(), None


def verdicts(judged: dict, beside) -> None:
    """Each selected run's verdict: beside the chart (one run) or up to four a row beneath it."""
    def show(n, v):
        box = getattr(st, v.level)
        box(f"**{v.title}**" + (f" · {n}" if len(judged) > 1 else "") + f"  \n{v.reason}  \n"
            f"*Try:* {v.suggestion}", icon=VERDICT_ICON.get(v.kind, ":material/info:"))
    if beside is not None:
        with beside:
            st.markdown("**Verdict**")
            for n, v in judged.items():
                show(n, v)
        return
    st.markdown("**Verdicts**")
    items = list(judged.items())
    for row in range(0, len(items), 4):
        for col, (n, v) in zip(st.columns(4), items[row:row + 4]):
            with col:
                show(n, v)


def _read_metrics() -> tuple[dict, list]:
    """Each selected run's rows (its MetricsTail, kept in the session, parses only the new bytes) and a
    stamp that changes when rows or recorded changes arrive."""
    tails = ss.setdefault("tails", {})
    frames, stamp = {}, []
    for n in selected:
        p = str(root / n / "metrics.csv")
        frames[n] = tails.setdefault(p, series.MetricsTail(p)).read()  # only the new bytes
        stamp.append((n, len(frames[n]), tails[p].offset, (root / n / control.CHANGES).stat().st_size
                      if (root / n / control.CHANGES).exists() else 0))
    return frames, stamp


def _build_charts(cache: dict, frames: dict, stamp: list) -> None:
    """The figures and the verdicts for these rows, into cache (emptied first)."""
    cf = curves.chart_frames(frames)  # one downsampling pass for all charts
    cache.clear()
    cache["stamp"], cache["at"] = stamp, time.time()
    cache["empty"] = all(df.empty for df in frames.values())
    if not cache["empty"]:
        cache["value"] = curves.add_change_markers(  # settings changed live / steps by hand, marked
            curves.value_figure(cf), {n: control.read_changes(root / n) for n in selected})
        for i, (label, dirs) in enumerate(seed_bands(selected).items()):
            curves.add_seed_band(cache["value"], comparisons.seed_band(dirs), label,
                                 PALETTE[(i + 3) % len(PALETTE)])
        cache["dynamics"] = curves.dynamics_figure(cf)  # D beside the losses: one figure, one redraw
        metrics = curves.quality_metrics(cf)
        cache["quality"] = curves.quality_panel(cf, metrics) if metrics else None
        cache["jsd"] = "jsd" in metrics
    cfgs = configs(selected)
    cache["verdicts"] = {n: verdict.judge(frames[n], dataset=str(cfgs[n].get("dataset", "")),
                                          g_loss=str(cfgs[n].get("g_loss", "")), state=by_name[n].state,
                                          message=by_name[n].message,
                                          iterations=int(cfgs[n].get("iterations") or 0),
                                          dropped=dropped_modes(root / n)) for n in selected}


def _show_charts(cache: dict, frames: dict) -> bool:
    """Draw the charts in cache; False when only the Ṽ chart is drawn for now (a run that has just started)."""
    if cache["empty"] and live:
        # The Ṽ chart is drawn empty at once, in the same place as below: the same element, which then
        # only takes the first points.
        left, right = value_place()
        chart(curves.value_figure(curves.chart_frames(frames)), "value_fig", left)
        left.caption("Waiting for the first points: they arrive after the first logging interval.")
        if right is not None:
            right.markdown("**Verdict**")
    elif cache["empty"]:
        st.info("No metrics yet: the first row arrives after the first logging interval.")
    else:
        left, right = value_place()
        chart(cache["value"], "value_fig", left)
        left.caption(CAPTIONS["value"])
        verdicts(cache["verdicts"], right)
        if live and _just_started() and not _paused():
            st.caption("The other charts follow in a moment.")
            return False
        chart(cache["dynamics"], "dynamics_fig")
        c1, c2 = st.columns(2)
        c1.caption(CAPTIONS["discriminator"])
        c2.caption(CAPTIONS["loss"])
        if cache["quality"] is not None:
            st.subheader("Sample quality over time")
            chart(cache["quality"], "quality_fig")
            if cache["jsd"]:
                st.caption(CAPTIONS["jsd"])
    return True


@st.fragment(run_every=CHARTS_EVERY if live else None)
@timed("charts")
def charts() -> None:
    frames, stamp = _read_metrics()
    for n in selected:  # a metrics.csv the trainer did not write as it is (bad bytes, a folder): one line each
        problem = ss["tails"][str(root / n / "metrics.csv")].problem
        if problem:
            st.warning(f"**{n}**: {problem}", icon=":material/warning:")
    cache = ss.setdefault("_figs", {})
    old = cache.get("stamp")
    due = not old or [x[0] for x in old] != selected or cache.get("empty") or not live \
        or time.time() - cache.get("at", 0) >= CHARTS_REDRAW_S - 0.25 or _paused()
    if old != stamp and due:  # rows arrived (or the selection changed): rebuild, else re-send as is
        _build_charts(cache, frames, stamp)
    if not _show_charts(cache, frames):
        return
    if live and not any(store.read_status(root / n).get("state") in store.LIVE_STATES for n in selected):
        st.rerun()  # the run ended: a full rerun stops this timer and refreshes the actions
    elif live and CHARTS_EVERY < CHARTS_REDRAW_S and not _first_points() and not _paused():
        # The first points are in: the page once more, so this timer goes back to CHARTS_REDRAW_S (left at
        # 0.5 s, its refreshes would keep the browser's main thread busier for the rest of the run).
        # Not while paused: a user who paused at once is about to Step, and a page run would be in the way.
        st.rerun()


def seed_bands(names) -> dict:
    """{label: run dirs} for each setting of a seeds comparison with two or more of its seeds selected."""
    out = {}
    for g in groups:
        if g["seeds"] < 2:
            continue
        try:
            sets = comparisons.seed_groups(g)
        except GanError:
            continue
        for label, dirs in sets.items():
            chosen = [d for d in dirs if f"{g['name']}/{d.name}" in names]
            if len(chosen) >= 2:
                out[f"{g['name']}: {label}"] = chosen
    return out


# Snapshots arrive about 50 times per run and their heat maps are the heaviest thing to draw: while a run
# trains, a new snapshot is drawn at most every SNAPSHOT_REDRAW_S; a paused run's snapshot (taken by a Pause
# or a Step) at the next 1 s tick, so a step shows its new state at once. Between redraws the same figures
# are re-sent, which costs the browser nothing.
SNAPSHOT_REDRAW_S = 8.0
NEW_VIEW_S = 2.0  # a page (a new tab) watching a live run draws its snapshot views after this many seconds


@st.fragment(run_every=1.0 if live else None)
@timed("snapshots_view")
def snapshots_view() -> None:
    st.subheader("Samples and the theory, as training goes")
    if _first_points():  # a run just started: its first points come first (the heat maps are heavy to draw)
        st.caption("The snapshot views appear with the first points.")
        return
    if live and time.time() - ss.setdefault("_runs_since", time.time()) < NEW_VIEW_S and not _paused():
        st.caption("The snapshot views follow in a moment.")  # a new tab: the charts of the run first
        return
    if len(selected) > 1 and st.toggle("Latest samples of every selected run, side by side", key="side_by_side"):
        side_by_side(selected[:4])
        return
    who = selected[0] if len(selected) == 1 else st.selectbox("Snapshots of", selected, key="snap_run")
    run_dir = root / who
    its = store.list_snapshots(run_dir)
    if not its:
        st.info("No snapshot yet.")
        return
    follow = len(its) == 1 or st.toggle("Follow the latest snapshot", value=True, key="follow")
    it = its[-1] if follow else st.select_slider("Snapshot at iteration", its, value=its[-1], key=f"snap_it@{who}")
    cache = ss.setdefault("_snapfigs", {})
    shown = cache.get("stamp")
    if follow and shown and shown[0] == str(run_dir) and shown[1] in its and it != shown[1] \
            and time.time() - cache.get("at", 0) < SNAPSHOT_REDRAW_S \
            and store.read_status(run_dir).get("state") == "running":
        it = shown[1]  # training: keep the one drawn until its time is up
    f = paths.snapshot_path(run_dir, it)
    restore("snap_layers")
    ss.setdefault("snap_layers", LAYERS_ON)
    layers = st.pills("Show (points data)", list(LAYERS), format_func=LAYERS.get, selection_mode="multi",
                      key="snap_layers", help="The layers of the snapshot figure (1-D and 2-D points data).")
    keep("snap_layers")
    try:
        stamp = (str(run_dir), it, f.stat().st_mtime, tuple(layers))
        if cache.get("stamp") != stamp:
            cache.clear()
            cache["figs"] = snapshot_figures(snapshot(str(run_dir), it, stamp[2]), it, lambda: run_real_points(run_dir),
                                             layers)
            cache["stamp"], cache["at"] = stamp, time.time()
    except (GanError, OSError) as e:
        st.warning(f"snapshot at iteration {it} is not readable yet ({e})")
        return
    except Exception as e:  # a snapshot from user data we did not foresee: say so, keep the page
        st.error(f"cannot draw the snapshot at iteration {it}: {type(e).__name__}: {e}")
        return
    figs = cache["figs"]
    cols = st.columns(len(figs)) if len(figs) > 1 else [st]
    for col, (key, fig, caption) in zip(cols, figs):
        chart(fig, key, col)
        col.caption(caption)
    counts_view(run_dir, it, stamp[2])


def counts_view(run_dir, it: int, mtime: float) -> None:
    """fashion/mnist runs: the classes of the snapshot's samples by the set's cached classifier (or how to get it)."""
    dataset = config_of(str(run_dir), (run_dir / "config.json").stat().st_mtime).get("dataset")
    if class_counts.picture_set_of(dataset) is None:
        return
    cache, key = ss.setdefault("_countfigs", {}), (str(run_dir), it, mtime)
    if key not in cache:
        samples = snapshot(str(run_dir), it, mtime)["samples"]
        counts = class_counts.class_counts(samples, dataset)
        if counts is None:
            why = class_counts.missing_caption(dataset)
            if why:
                st.caption(why)
            return
        cache.clear()
        cache[key] = class_counts.counts_figure(*counts,
                                                title=f"classes of the {len(samples)} samples — iteration {it}")
    chart(cache[key], "class_counts")


def side_by_side(names: list) -> None:
    """Each run's latest snapshot samples in its own column (points or an image grid), to compare runs."""
    cache = ss.setdefault("_sidefigs", {})
    for col, n in zip(st.columns(len(names)), names):
        its = store.list_snapshots(root / n)
        if not its:
            col.info(f"{n}: no snapshot yet.")
            continue
        stamp = (n, its[-1])
        if stamp not in cache:
            try:
                f = paths.snapshot_path(root / n, its[-1])
                snap = snapshot(str(root / n), its[-1], f.stat().st_mtime)
            except (GanError, OSError) as e:
                col.warning(f"{n}: snapshot not readable yet ({e})")
                continue
            title = f"{n} — iteration {its[-1]}"
            samples = snap["samples"]
            cache[stamp] = image_figure(samples, title=title, max_images=16, width_px=1100 // len(names)) \
                if samples.ndim == 4 else \
                samples_figure(samples, title=title, n_points=500)
        chart(cache[stamp], f"side_{n}", col)
    st.caption(CAPTIONS["samples"])


charts()
snapshots_view()
_trace.end()
