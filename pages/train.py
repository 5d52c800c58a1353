"""Train page (/train): choose data, set Algorithm 1's hyper-parameters, start a run in its own process.

Settings and the upload survive leaving the page (kept in session_state and handed back to the widgets)
and a reload (the data and every setting that differs from the dataset's default are in the address).
The Start button's outcome is one message in one place: a new start replaces the last one's message.
"""

import time

import streamlit as st

import ui.draw as ui_draw
from gan_core.config import BUILTIN_DATASETS, DEVICES, MAX_VALUES, POINT_DATASETS, TrainConfig, help_text
from gan_core.data.datasets import builtin
from gan_core.data.uploads import load_file
from gan_core.errors import ConfigError, GanError
from gan_core.jobs import estimate, launch
from gan_core.runs import comparisons, paths, store, transfer
from gan_core.views.run_table import format_duration
from gan_core.views.samples import dataset_preview_figure, samples_figure
from ui.common import RUNS, PageTrace, keep, restore, set_query, traced
from ui.nav import page_setup

page_setup()
_trace = PageTrace("page train")

ss = st.session_state
root = paths.runs_root()

DATASET_TEXT = {"gaussian1d": "gaussian1d — 1-D N(4, 0.5²), the paper's Figure 1",
                "ring8": "ring8 — 8 Gaussians on a circle", "grid25": "grid25 — 25 Gaussians on a 5×5 grid",
                "fashion": "fashion — Fashion-MNIST: 60,000 pictures of clothes, 28×28",
                "mnist": "mnist — MNIST: handwritten digits, 28×28",
                "digits": "digits — 1,797 handwritten 8×8 digits (scikit-learn's)"}
# The list as the page offers it: the toy densities, then pictures (Fashion-MNIST first: what people recognise).
DATASET_ORDER = [n for n in ("gaussian1d", "ring8", "grid25", "fashion", "mnist", "digits") if n in BUILTIN_DATASETS] \
    + [n for n in BUILTIN_DATASETS if n not in ("gaussian1d", "ring8", "grid25", "fashion", "mnist", "digits")]
G_LOSS_TEXT = {"nonsaturating": "non-saturating: ascend log D(G(z)) (eq. 3)",
               "minimax": "minimax: descend log(1 − D(G(z))) (eq. 4)"}
SOURCES = ["Built-in dataset", "Upload your own", "Draw your own"]
DRAWN = "drawn_data.csv"  # the drawn data's name until Start writes it under the run
# widget key (before "@dataset") → (TrainConfig field, type): the settings kept in the address
SETTINGS = {"iterations": ("iterations", int), "k": ("k", int), "batch": ("batch_size", int),
            "g_loss": ("g_loss", str), "lr_d": ("lr_d", float), "lr_g": ("lr_g", float), "prior": ("prior", str),
            "latent": ("latent_dim", int), "hidden": ("hidden", int), "depth": ("depth", int), "seed": ("seed", int),
            "device": ("device", str), "log_every": ("log_every", int), "snap": ("snapshot_every", int),
            "ckpt": ("checkpoint_every", int), "export": ("export_onnx", bool), "tb": ("tensorboard", bool),
            "refit": ("refit_d", int), "noise": ("instance_noise", float),
            "gp": ("gradient_penalty", float)}
SHARED = ("source", "dataset", "image_size", "draw_std", "draw_mode")


@st.cache_resource(show_spinner=False)
def gpu_count() -> int:
    from gan_core.engine.device import gpu_count as count  # imports torch: once per server
    return count()


@st.cache_resource(show_spinner="Looking for a GPU…")
def device_text() -> str:
    from gan_core.engine.device import describe_auto  # imports torch: once per server, not per rerun
    kind, name = describe_auto()
    return f"{kind} — {name}"


@st.cache_data(show_spinner=False, max_entries=8)
def preview(name: str):
    ds = builtin(name)
    return ds.description, ds.size, dataset_preview_figure(ds)


def parse(value: str, typ):
    if typ is bool:
        return value.lower() in ("1", "true", "yes", "on")
    return typ(value)


# --- state: back from another page (session) or from the address (a reload, a shared link) ----------------
restore(*SHARED, *ss.get("_kept", {}).keys())
if not ss.get("_train_url_read"):
    ss["_train_url_read"] = True
    q = st.query_params
    data = q.get("data")
    if data in BUILTIN_DATASETS:
        ss["source"], ss["dataset"] = SOURCES[0], data
    elif data == "drawn":
        ss["source"] = SOURCES[2]
    elif data and "_upload" not in ss:
        try:
            ss["image_size"] = int(q.get("image_size", 32))
            path = root / transfer.UPLOADS / data.split("/")[-1]
            ss["_upload"] = {"key": ("url", str(path)), "ds": load_file(str(path), image_size=ss["image_size"]),
                             "path": str(path), "error": None, "name": path.name}
            ss["source"] = SOURCES[1]
        except (GanError, OSError, ValueError):
            pass  # the saved upload is gone: the page asks for a file again
    ds_key = {SOURCES[1]: "user", SOURCES[2]: "drawn"}.get(ss.get("source"), ss.get("dataset", BUILTIN_DATASETS[0]))
    for short, (_field, typ) in SETTINGS.items():
        if short in q:
            try:
                ss[f"{short}@{ds_key}"] = parse(q[short], typ)
            except ValueError:
                pass

st.title("Train a GAN")

# --- data -----------------------------------------------------------------------------------------
st.subheader("1 · Data")
ss.setdefault("source", SOURCES[0])
source = st.radio("Data", SOURCES, horizontal=True, label_visibility="collapsed", key="source")
dataset, ds_key, n_examples, sample_shape = None, None, None, None
unavailable = ""  # why the chosen built-in dataset cannot be had here
ss.setdefault("image_size", 32)
image_size = ss["image_size"]
if source == SOURCES[0]:
    ss.setdefault("dataset", BUILTIN_DATASETS[0])
    name = st.selectbox("Dataset", DATASET_ORDER, format_func=lambda n: DATASET_TEXT.get(n, n), key="dataset",
                        help=help_text("dataset"))
    try:
        description, n_examples, fig = preview(name)
        st.plotly_chart(fig, key="preview")
        st.caption(description)
    except GanError as e:  # a picture set not on this machine: say how to get it; nothing to start
        unavailable = str(e)
        st.warning(unavailable)
    dataset, ds_key, image_size = name, name, 0
elif source == SOURCES[2]:
    st.caption("Click (or drag) on the canvas to place data in the square [−4, 4]²; the run trains on "
               f"{ui_draw.N_POINTS:,} points drawn around your marks with the spread below, saved under the run "
               "(drawn_data.csv and drawing.json), so it can be repeated.")
    left, right = st.columns(2)
    with left:
        ui_draw.canvas()
    ss.setdefault("draw_std", 0.15)
    std = right.slider("Spread (std) around each mark", 0.02, 1.0, step=0.01, key="draw_std",
                       help="Each mark becomes a Gaussian with this standard deviation; all marks weigh the same.")
    try:
        pts = ui_draw.preview_points(ui_draw.drawing(), std, seed=int(ss.get("seed@drawn", 0)))
        right.plotly_chart(samples_figure(pts, title="the data you drew (preview)"), key="draw_preview")
        dataset, ds_key, image_size, n_examples = DRAWN, "drawn", 0, ui_draw.N_POINTS
    except GanError as e:
        right.info(str(e).capitalize())
else:
    u = ss.get("_upload")
    up = st.file_uploader("A .csv of points (one row per point), a .npy array, a .zip of images, or an IDX "
                          "file of pictures (MNIST's format: *-ubyte.gz)"
                          + (" — or another file to replace the one in use" if u and not u["error"] else ""),
                          type=["csv", "npy", "zip", "gz", "ubyte"], key="upload")
    image_size = st.select_slider("Image size (image data is resized to this)", [8, 16, 32, 64], key="image_size",
                                  help=help_text("image_size"))
    if up is not None:
        cache_key = (up.file_id, up.name, image_size)
        if (u or {}).get("key") != cache_key:  # parse each upload once, not on every rerun
            try:
                ds, path = transfer.load_upload(up, image_size=image_size, root=root)
                ss["_upload"] = {"key": cache_key, "ds": ds, "path": str(path), "error": None, "name": up.name}
            except GanError as e:
                ss["_upload"] = {"key": cache_key, "error": str(e)}
    elif u and not u["error"] and u["ds"].kind == "image" and u["ds"].sample_shape[-1] != image_size:
        try:  # the image size changed after the upload: resize from the saved file
            ss["_upload"] = {**u, "ds": load_file(u["path"], image_size=image_size)}
        except (GanError, OSError) as e:
            ss["_upload"] = {**u, "error": str(e)}
    u = ss.get("_upload")
    if u and u["error"]:
        st.error(u["error"])
    elif u:
        ds = u["ds"]
        st.success(f"{ds.description} — shape per example {list(ds.sample_shape)}; saved as {u['path']}"
                   + ("" if up is not None else " (the file uploaded earlier, kept while you browse)"))
        st.metric("Examples", f"{ds.size:,}")
        st.plotly_chart(dataset_preview_figure(ds), key="upload_preview")
        dataset, ds_key, n_examples = u["path"], "user", ds.size

if dataset is None:
    st.info("Choose a built-in dataset, upload a file or draw some data to continue.")
    keep(*SHARED)
    st.stop()

# --- hyper-parameters ----------------------------------------------------------------------------
# Keys carry the dataset, so switching data brings that dataset's defaults (config.DATASET_DEFAULTS).
d = TrainConfig(dataset=dataset, image_size=image_size).resolved()
batch_default = d.batch_size if n_examples is None else min(d.batch_size, n_examples)


def k(field: str) -> str:
    return f"{field}@{ds_key}"


defaults = {"iterations": d.iterations, "k": d.k, "batch": batch_default, "g_loss": d.g_loss,
            "lr_d": float(d.lr_d), "lr_g": float(d.lr_g), "prior": d.prior, "latent": d.latent_dim,
            "hidden": d.hidden, "depth": d.depth, "seed": 0, "device": "auto", "log_every": d.log_every,
            "snap": 0, "ckpt": d.checkpoint_every, "export": True, "tb": False, "refit": d.refit_d,
            "noise": float(d.instance_noise), "gp": float(d.gradient_penalty)}
for short, value in defaults.items():
    ss.setdefault(k(short), value)
if n_examples is not None and ss[k("batch")] > n_examples:  # e.g. a smaller file replaced the upload
    ss[k("batch")] = n_examples

st.subheader("2 · Settings")
c1, c2, c3 = st.columns(3)
with c1:
    iterations = st.number_input("Iterations", 1, 10_000_000, step=100, key=k("iterations"),
                                 help=help_text("iterations"))
    kk = st.number_input("k — discriminator steps per iteration", 1, 50, key=k("k"), help=help_text("k"))
    batch = st.number_input("Batch size m", 1, 65_536 if n_examples is None else int(n_examples), key=k("batch"),
                            help=help_text("batch_size")
                                 + ("" if n_examples is None else f"; at most the dataset's {n_examples:,} examples"))
    if n_examples is not None and batch_default < d.batch_size:
        st.caption(f"Batch size set to {batch_default}: the dataset has only {n_examples:,} examples "
                   f"(the usual default is {d.batch_size}).")
    g_loss = st.selectbox("Generator objective", list(G_LOSS_TEXT), format_func=G_LOSS_TEXT.get, key=k("g_loss"),
                          help=help_text("g_loss"))
with c2:
    lr_d = st.number_input("Learning rate of D", 1e-6, 1.0, step=1e-4, format="%.2e", key=k("lr_d"),
                           help=help_text("lr_d"))
    lr_g = st.number_input("Learning rate of G", 1e-6, 1.0, step=1e-4, format="%.2e", key=k("lr_g"),
                           help=help_text("lr_g"))
    prior = st.selectbox("Noise prior p_z", ["normal", "uniform"], key=k("prior"),
                         format_func={"normal": "normal N(0, I)", "uniform": "uniform on [−1, 1]"}.get,
                         help=help_text("prior"))
    latent = st.number_input("Latent size (dimension of z)", 1, 1024, key=k("latent"), help=help_text("latent_dim"))
    noise = st.number_input("Instance noise σ (falls to 0 by half the run)", 0.0, 100.0, step=0.1, format="%.2f",
                            key=k("noise"), help=help_text("instance_noise"))
with c3:
    hidden = st.number_input("Hidden width (MLP)", 4, 4096, key=k("hidden"), help=help_text("hidden"))
    depth = st.number_input("Hidden layers (MLP)", 1, 10, key=k("depth"), help=help_text("depth"))
    seed = st.number_input("Seed", 0, 2**31 - 1, key=k("seed"), help=help_text("seed"))
    device = st.selectbox("Device", DEVICES, key=k("device"), help=help_text("device"))
    points = dataset in POINT_DATASETS or ds_key == "drawn" or (ds_key == "user"
                                                                and ss["_upload"]["ds"].kind == "points")
    gp = st.number_input("Gradient penalty γ (point data)", 0.0, 1e6, step=0.5, format="%.2f", key=k("gp"),
                         disabled=not points, help=help_text("gradient_penalty"))
    st.caption(f"auto → {device_text()}")

with st.expander("Logging and saving"):
    e1, e2, e3 = st.columns(3)
    log_every = e1.number_input("Log every (iterations)", 1, 100_000, key=k("log_every"),
                                help=help_text("log_every"))
    snapshot_every = e2.number_input("Snapshot every (0 = about 50 per run)", 0, 1_000_000, key=k("snap"),
                                     help=help_text("snapshot_every"))
    checkpoint_every = e3.number_input("Checkpoint every", 1, 1_000_000, key=k("ckpt"),
                                       help=help_text("checkpoint_every"))
    export = st.checkbox("Export generator.onnx at the end", key=k("export"), help=help_text("export_onnx"))
    tensorboard = st.checkbox("TensorBoard event files (RUN/tb/)", key=k("tb"),
                              help=help_text("tensorboard") + f"; here `tensorboard --logdir {root}`")
    refit = st.columns(3)[0].number_input("Refit D to the final G before export (D steps)", 0, MAX_VALUES["refit_d"],
                                          step=1000, key=k("refit"), disabled=not export, help=help_text("refit_d"))

# the data and every changed setting go into the address, so a reload or a link brings them back
changed = {short: ss[k(short)] for short in SETTINGS if ss[k(short)] != defaults[short]}
set_query(data="drawn" if ds_key == "drawn" else dataset if ds_key != "user" else
          f"{transfer.UPLOADS}/{u['path'].rsplit('/', 1)[-1]}",
          image_size=image_size if ds_key == "user" else None,
          **{short: changed.get(short) for short in SETTINGS})
keep(*SHARED, *(k(short) for short in SETTINGS))


def current_config(run_dir: str = "", data: str = "") -> TrainConfig:
    return TrainConfig(
        dataset=data or dataset, run_dir=run_dir, iterations=int(iterations), seed=int(seed), device=device, k=int(kk),
        batch_size=int(batch), g_loss=g_loss, prior=prior, latent_dim=int(latent), hidden=int(hidden),
        depth=int(depth), image_size=int(image_size), lr_d=float(lr_d), lr_g=float(lr_g), log_every=int(log_every),
        snapshot_every=int(snapshot_every), checkpoint_every=int(checkpoint_every), export_onnx=bool(export),
        tensorboard=bool(tensorboard), refit_d=int(refit), instance_noise=float(noise),
        gradient_penalty=float(gp) if points else 0.0)


# --- how long? -------------------------------------------------------------------------------------
@st.cache_data(show_spinner=False, ttl=20)
def rate_guess(cfg: TrainConfig, root_dir: str):
    return estimate.estimate_rate(cfg, root_dir)


st.subheader("3 · Start")
cfg_now = current_config()
speed_key = repr(dict(sorted((f, v) for f, v in vars(cfg_now).items()
                             if f not in ("iterations", "seed", "refit_d"))))  # what the training speed depends on
measured = ss.setdefault("_measured", {}).get(speed_key)
est = (measured, "a short measurement on this machine just now") if measured else rate_guess(cfg_now, str(root))
refit_s = estimate.refit_seconds(cfg_now)
if est:
    rate, basis = est
    st.markdown(f":material/schedule: **About {format_duration(int(iterations) / rate + refit_s)}** for "
                f"{int(iterations):,} iterations at {rate:,.0f} it/s"
                + (f" and about {format_duration(refit_s)} to refit D before export" if refit_s else "")
                + f" (from {basis}; other work on the machine slows it).")
else:
    st.caption("No earlier run on this data to estimate the duration from"
               + (f"; refitting D before export adds about {format_duration(refit_s)}." if refit_s else "."))
if st.button("Measure the speed (a 200-iteration trial, about 10 s)" if not measured else "Measure again",
             key="measure", help="Trains these settings for 200 iterations in a temporary folder and times them."):
    try:
        with st.spinner("Timing 200 iterations…"):
            ss["_measured"][speed_key] = estimate.measure_rate(cfg_now)
        st.rerun()
    except GanError as e:
        st.error(str(e))

if k("run_name") not in ss:
    ss[k("run_name")] = store.new_run_name(dataset, root)
run_name = st.text_input("Run name", key=k("run_name"), help="The run's folder under " + str(root))
gpus = gpu_count()
nproc = st.number_input("Processes on this machine", 1, max(1, gpus), 1, key="nproc", disabled=gpus < 2,
                        help=f"{gpus} GPU(s) here. More than 1: torchrun, one process per GPU, each with m / N of "
                             "the batch (the README shows several machines).")

if st.button("Start training", type="primary", key="start", disabled=bool(unavailable)):
    ss.pop("_start_msg", None)  # this start's outcome replaces the last one's
    run_dir = None
    try:
        run_dir = launch.run_dir_for(run_name, root)
        data = str(ui_draw.save(run_dir, ui_draw.drawing(), std, seed)) if ds_key == "drawn" else ""
        cfg = current_config(str(run_dir), data)
        with st.spinner("Starting the training process…"), traced("start_and_wait"):
            proc, status = launch.start_and_wait(cfg, timeout=6.0, dataset_size=n_examples, processes=int(nproc))
        state = (status or {}).get("state", "starting")
        if state == "failed":
            ss["_start_msg"] = ("error", f"Run **{run_name}** failed: {(status or {}).get('message')}", None)
        else:
            ss["_start_msg"] = ("success", f"Run **{run_name}** started (process {proc.pid}); it keeps training "
                                           "if you close this page.", run_name)
            ss["runs_selected"] = [run_name]  # the Runs page opens on this run
            del ss[k("run_name")]  # the next run gets a fresh name
            ss["_start_flash"] = (ss["_start_msg"][1], time.time())
            st.switch_page(RUNS, query_params={"run": run_name})  # straight to its first points
        st.rerun()
    except GanError as e:
        ss["_start_msg"] = ("error", str(e), None)
    except OSError as e:
        ss["_start_msg"] = ("error", f"could not start the training process: {e}", None)
    if ss["_start_msg"][0] == "error" and ds_key == "drawn" and run_dir is not None:
        ui_draw.discard(run_dir)  # a refused start leaves no folder behind, drawn data included

msg = ss.get("_start_msg")
if msg:
    getattr(st, msg[0])(msg[1])
    if msg[2]:
        st.page_link(RUNS, label="Watch it on the Runs page", icon=":material/monitoring:",
                     query_params={"run": msg[2]})


# --- Compare…: several runs of these settings by one command (comparisons, gan_core.engine.compare) -----------
VARY_TEXT = {"": "nothing (seeds only)", "g_loss": "generator objective (g_loss)", "k": "k (D steps)",
             "lr_d": "learning rate of D", "lr_g": "learning rate of G", "prior": "noise prior",
             "instance_noise": "instance noise σ", "gradient_penalty": "gradient penalty γ"}
VARY_DEFAULT = {"": "", "g_loss": "minimax,nonsaturating", "k": "1,5", "lr_d": "1e-4,5e-4", "lr_g": "1e-4,1e-3",
                "prior": "normal,uniform", "instance_noise": "0,0.5",
                "gradient_penalty": "0,1"}


def vary_changed() -> None:
    ss["cmp_values"] = VARY_DEFAULT[ss["cmp_key"]]


with st.expander("Compare…", icon=":material/compare_arrows:", expanded=bool(ss.get("_cmp_msg"))):
    st.caption("Train several runs of the settings above by ONE command (on a CPU one process per core, at most 2; "
               "small networks stacked into batched matmuls; somewhat faster than the same runs started "
               "separately): one setting takes each of the values you give, and/or "
               "several seeds. Each member is an ordinary run; the Runs page groups them, overlays them and shows "
               "the seeds' mean with a band.")
    restore("cmp_key", "cmp_values", "cmp_seeds")
    ss.setdefault("cmp_key", "g_loss")
    ss.setdefault("cmp_values", VARY_DEFAULT[ss["cmp_key"]])
    ss.setdefault("cmp_seeds", 1)
    v1, v2, v3 = st.columns([1.2, 1.6, 0.8])
    vary_key = v1.selectbox("Setting that varies", list(VARY_TEXT), format_func=VARY_TEXT.get, key="cmp_key",
                            on_change=vary_changed, help="The one setting whose values differ between members.")
    values = v2.text_input("Its values (comma-separated)", key="cmp_values", disabled=not vary_key,
                           help="e.g. minimax,nonsaturating · 1,5 · 1e-4,5e-4 · normal,uniform")
    n_seeds = v3.number_input("Seeds per setting", 1, 16, key="cmp_seeds",
                              help="Seeds seed, seed+1, …: the Runs page shows their mean with a band.")
    keep("cmp_key", "cmp_values", "cmp_seeds")
    if "cmp_name" not in ss:
        ss["cmp_name"] = "compare-" + store.new_run_name(dataset if ds_key != "drawn" else "drawn", root)
    cmp_name = st.text_input("Comparison name", key="cmp_name", help="Its folder under " + str(root) +
                             "; each member is a run in it.")
    if st.button("Start comparison", key="cmp_start", icon=":material/play_arrow:"):
        ss.pop("_cmp_msg", None)
        try:
            vary = comparisons.parse_vary([f"{vary_key}={values}"] if vary_key else [])
            cmp_root = launch.run_dir_for(cmp_name, root)
            data = ""
            if ds_key == "drawn":  # the drawing beside the other uploads: the comparison's folder holds only runs
                data = str(ui_draw.save(root / transfer.UPLOADS / f"{cmp_name}-drawing", ui_draw.drawing(), std, seed))
            base = current_config("", data)
            if n_examples is not None and base.resolved().batch_size > n_examples:
                raise ConfigError(f"batch size {base.resolved().batch_size} is larger than the dataset "
                                          f"({n_examples} examples)")
            proc = launch.start_comparison(base, cmp_root, vary, seeds=int(n_seeds))
            members = len(comparisons.plan_members(base, vary, int(n_seeds)))
            ss["_cmp_msg"] = ("success", f"Comparison **{cmp_name}** started: {members} members, one command "
                                         f"(process {proc.pid}).", cmp_name)
            del ss["cmp_name"]
            st.rerun()
        except GanError as e:
            ss["_cmp_msg"] = ("error", str(e), None)
        except OSError as e:
            ss["_cmp_msg"] = ("error", f"could not start the comparison: {e}", None)
    cmsg = ss.get("_cmp_msg")
    if cmsg:
        getattr(st, cmsg[0])(cmsg[1])
        if cmsg[2]:
            st.page_link(RUNS, label="Watch it on the Runs page", icon=":material/monitoring:")
_trace.end()
