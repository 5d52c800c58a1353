"""Train page: choose data, set Algorithm 1's hyper-parameters, start a run in its own process."""
import streamlit as st

from gan_core import launch, monitor, runs
from gan_core.config import BUILTIN_DATASETS, DEVICES, TrainConfig
from gan_core.data import builtin
from gan_core.errors import GanError
from ui_common import link, use_app_navigation

use_app_navigation()
ss = st.session_state
root = launch.runs_root()

DATASET_TEXT = {"gaussian1d": "gaussian1d — 1-D N(4, 0.5²), the paper's Figure 1",
                "ring8": "ring8 — 8 Gaussians on a circle", "grid25": "grid25 — 25 Gaussians on a 5×5 grid",
                "digits": "digits — 1,797 handwritten 8×8 digits"}
G_LOSS_TEXT = {"nonsaturating": "non-saturating: ascend log D(G(z)) (eq. 3)",
               "minimax": "minimax: descend log(1 − D(G(z))) (eq. 4)"}



@st.cache_resource(show_spinner="Looking for a GPU…")
def device_text() -> str:
    from gan_core.device import describe_auto  # imports torch: once per server, not per rerun
    kind, name = describe_auto()
    return f"{kind} — {name}"


@st.cache_data(show_spinner=False, max_entries=8)
def preview(name: str):
    ds = builtin(name)
    return ds.description, monitor.dataset_preview_figure(ds)


st.title("Train a GAN")

# --- data -----------------------------------------------------------------------------------------
st.subheader("1 · Data")
source = st.radio("Data", ["Built-in dataset", "Upload your own"], horizontal=True, label_visibility="collapsed")
dataset, image_size, ds_key = None, 0, None
if source == "Built-in dataset":
    name = st.selectbox("Dataset", BUILTIN_DATASETS, format_func=DATASET_TEXT.get, key="dataset")
    description, fig = preview(name)
    st.plotly_chart(fig, key="preview")
    dataset, ds_key = name, name
else:
    up = st.file_uploader("A .csv of points (one row per point), a .npy array, or a .zip of images",
                          type=["csv", "npy", "zip"], key="upload")
    image_size = st.select_slider("Image size (image data is resized to this)", [8, 16, 32, 64], value=32,
                                  key="image_size")
    if up is not None:
        cache_key = (up.file_id, up.name, image_size)
        if ss.get("_upload", {}).get("key") != cache_key:  # parse each upload once, not on every rerun
            try:
                ds, path = launch.load_upload(up, image_size=image_size, root=root)
                ss["_upload"] = {"key": cache_key, "ds": ds, "path": str(path), "error": None}
            except GanError as e:
                ss["_upload"] = {"key": cache_key, "error": str(e)}
        u = ss["_upload"]
        if u["error"]:
            st.error(u["error"])
        else:
            ds = u["ds"]
            st.success(f"{ds.description} — shape per example {list(ds.sample_shape)}; saved as {u['path']}")
            st.metric("Examples", f"{ds.size:,}")
            st.plotly_chart(monitor.dataset_preview_figure(ds), key="upload_preview")
            dataset, ds_key = u["path"], "user"

if dataset is None:
    st.info("Choose a built-in dataset or upload a file to continue.")
    st.stop()

# --- hyper-parameters ----------------------------------------------------------------------------
# Keys carry the dataset, so switching data brings that dataset's defaults (config.DATASET_DEFAULTS).
d = TrainConfig(dataset=dataset, image_size=image_size).resolved()


def k(field: str) -> str:
    return f"{field}@{ds_key}"


st.subheader("2 · Settings")
c1, c2, c3 = st.columns(3)
with c1:
    iterations = st.number_input("Iterations", 1, 10_000_000, d.iterations, step=100, key=k("iterations"),
                                 help="Training iterations; each runs k discriminator steps and one generator step.")
    kk = st.number_input("k — discriminator steps per iteration", 1, 50, d.k, key=k("k"),
                         help="Algorithm 1's k: D is trained k times for every generator step.")
    batch = st.number_input("Batch size m", 1, 65_536, d.batch_size, key=k("batch"),
                            help="m real examples and m noise vectors per step.")
    g_loss = st.selectbox("Generator objective", list(G_LOSS_TEXT), format_func=G_LOSS_TEXT.get, key=k("g_loss"),
                          help="Minimax saturates early in training when D rejects G's samples confidently; "
                               "non-saturating gives strong gradients then (same fixed point).")
with c2:
    lr_d = st.number_input("Learning rate of D", 1e-6, 1.0, float(d.lr_d), step=1e-4, format="%.2e", key=k("lr_d"))
    lr_g = st.number_input("Learning rate of G", 1e-6, 1.0, float(d.lr_g), step=1e-4, format="%.2e", key=k("lr_g"))
    prior = st.selectbox("Noise prior p_z", ["normal", "uniform"], key=k("prior"),
                         format_func={"normal": "normal N(0, I)", "uniform": "uniform on [−1, 1]"}.get)
    latent = st.number_input("Latent size (dimension of z)", 1, 1024, d.latent_dim, key=k("latent"))
with c3:
    hidden = st.number_input("Hidden width (MLP)", 4, 4096, d.hidden, key=k("hidden"),
                             help="Units per hidden layer of both MLPs (points data). Images use DCGAN-style nets.")
    depth = st.number_input("Hidden layers (MLP)", 1, 10, d.depth, key=k("depth"))
    seed = st.number_input("Seed", 0, 2**31 - 1, 0, key=k("seed"), help="Same seed, same settings: the same run.")
    device = st.selectbox("Device", DEVICES, key=k("device"), help="auto uses CUDA, then Apple MPS, then the CPU.")
    st.caption(f"auto → {device_text()}")

with st.expander("Logging and saving"):
    e1, e2, e3 = st.columns(3)
    log_every = e1.number_input("Log every (iterations)", 1, 100_000, d.log_every, key=k("log_every"),
                                help="One row of metrics.csv per this many iterations.")
    snapshot_every = e2.number_input("Snapshot every (0 = about 50 per run)", 0, 1_000_000, 0, key=k("snap"),
                                     help="Sample snapshots, and for toy data D, D* and the JSD.")
    checkpoint_every = e3.number_input("Checkpoint every", 1, 1_000_000, d.checkpoint_every, key=k("ckpt"),
                                       help="A resumable checkpoint this often (and always at the end).")
    export = st.checkbox("Export generator.onnx at the end", value=True, key=k("export"))

# --- start -------------------------------------------------------------------------------------------
st.subheader("3 · Start")
if k("run_name") not in ss:
    ss[k("run_name")] = runs.new_run_name(dataset if ds_key != "user" else dataset, root)
run_name = st.text_input("Run name", key=k("run_name"), help="The run's folder under " + str(root))

if st.button("Start training", type="primary", key="start"):
    try:
        cfg = TrainConfig(
            dataset=dataset, run_dir=str(launch.run_dir_for(run_name, root)), iterations=int(iterations),
            seed=int(seed), device=device, k=int(kk), batch_size=int(batch), g_loss=g_loss, prior=prior,
            latent_dim=int(latent), hidden=int(hidden), depth=int(depth), image_size=int(image_size),
            lr_d=float(lr_d), lr_g=float(lr_g), log_every=int(log_every), snapshot_every=int(snapshot_every),
            checkpoint_every=int(checkpoint_every), export_onnx=bool(export))
        proc = launch.start_training(cfg)
        with st.spinner("Starting the training process…"):
            status = launch.wait_started(proc, cfg.run_dir, timeout=6.0)
        ss["_started"] = {"name": run_name, "pid": proc.pid,
                          "state": (status or {}).get("state", "starting"), "message": (status or {}).get("message")}
        ss["monitor_selected"] = [run_name]  # the Monitor page opens on this run
        del ss[k("run_name")]  # the next run gets a fresh name
        st.rerun()
    except GanError as e:
        st.error(str(e))
    except OSError as e:
        st.error(f"could not start the training process: {e}")

started = ss.get("_started")
if started:
    if started["state"] == "failed":
        st.error(f"Run **{started['name']}** failed: {started['message']}")
    else:
        st.success(f"Run **{started['name']}** started (process {started['pid']}); it keeps training if you "
                   "close this page.")
    link("pages/2_Monitor.py", "Watch it on the Runs page", ":material/monitoring:")
