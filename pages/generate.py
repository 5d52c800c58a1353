"""Generate page (/generate): sample an exported ONNX generator with onnxruntime only.

This page must not import torch, nor any gan_core module that does (tests check it): a shared model
file is meant to work where only onnxruntime is installed. The samples and the walk are fragments: a new
seed or a step of the walk reruns only that part (1,000 points as one SVG scatter), and the CSV is made
only when it is downloaded. The chosen run is in the address (?run=NAME).
"""

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from gan_core.errors import GanError
from gan_core.runs import paths, store
from gan_core.share import generation, model_card, outputs
from gan_core.share.page import share_page_bytes, share_unavailable
from gan_core.views import class_counts, image_grid
from gan_core.views.samples import samples_figure
from ui.common import keep, query_list, restore, set_query
from ui.live_chart import live_chart
from ui.nav import page_setup

page_setup()

root = paths.runs_root()
ss = st.session_state
KEPT = ("model_source", "run", "seed", "n@points", "n@image", "seed_a", "seed_b", "steps")
restore(*KEPT)


@st.cache_resource(show_spinner=False, max_entries=8)
def model_from_path(path: str, mtime: float) -> generation.GeneratorModel:
    return generation.load_model(path)  # mtime in the key: a re-export replaces the file


@st.cache_resource(show_spinner=False, max_entries=4)
def model_from_bytes(data: bytes) -> generation.GeneratorModel:
    return generation.load_model(data)


st.title("Generate")
source = st.radio("Model", ["A run's generator", "Upload a model file"], horizontal=True,
                  label_visibility="collapsed", key="model_source")
model, model_source, model_name = None, None, "generator"
try:
    if source == "A run's generator":
        done = [r for r in store.list_runs(root) if (r.path / "generator.onnx").is_file()]
        if not done:
            st.info(f"No run under {root} has a generator.onnx yet (it is written when a run finishes). "
                    "You can also upload a model file.")
        else:
            options = [r.name for r in done]
            asked = query_list("run")
            if asked and asked[0] in options and asked != ss.get("_gen_url"):
                ss["run"] = asked[0]  # a link names the run
            if ss.get("run") not in options:
                ss["run"] = options[0]
            name = st.selectbox("Run", options, key="run")
            ss["_gen_url"] = [name]
            set_query(run=name)
            f = root / name / "generator.onnx"
            model, model_source, model_name = model_from_path(str(f), f.stat().st_mtime), str(f), name
    else:
        up = st.file_uploader("A generator .onnx (or a .zip shared from this dashboard)", type=["onnx", "zip"],
                              key="model_upload")
        if up is not None:
            data = up.getvalue()
            model, model_source, model_name = model_from_bytes(data), data, up.name.rsplit(".", 1)[0]
except GanError as e:  # ModelFileError's message says what is wrong with the file
    st.error(str(e))
except OSError as e:
    st.error(f"cannot read the model file: {e}")

if model is None:
    st.stop()

kind = model.output_kind
if kind == "image":   # st.image scales a grid wider than its column: keep the pixels square and crisp then too
    st.html("<style>[data-testid='stImage'] img { image-rendering: pixelated; }</style>")
st.caption(f"latent size {model.latent_dim} · prior {model.prior} · makes "
           f"{'images' if kind == 'image' else 'points'} of shape {list(model.output_shape)}")
with st.expander("Model metadata", expanded=True):
    st.dataframe(pd.DataFrame({"field": list(model.metadata), "value": [str(v) for v in model.metadata.values()]}),
                 hide_index=True, key="meta")

# --- samples ---------------------------------------------------------------------------------------
limit, default = (400, 64) if kind == "image" else (20_000, 1000)
for key, value in ((f"n@{kind}", default), ("seed", 0), ("seed_a", 1), ("seed_b", 2), ("steps", 9)):
    ss.setdefault(key, value)


@st.fragment
def samples_view() -> None:
    st.subheader("Samples")
    c1, c2 = st.columns(2)
    n = c1.number_input("Number of samples", 1, limit, key=f"n@{kind}",
                        help="How many samples to draw; the same seed and a larger number extend the same set.")
    seed = c2.number_input("Seed", 0, 2**31 - 1, key="seed", help="The same seed gives the same samples, "
                           "here and with `python -m gan_core generate`.")
    drs = st.checkbox("Rejection sampling by D", value=model.rejection_default, disabled=model.logit_name is None,
                      key="drs", help="Keep each sample with probability exp(logit − max logit) of the discriminator "
                      "inside the model (eq. (7): p_data/p_g = D/(1 − D)); models exported without D cannot."
                      + (f" This model's D: {model.metadata['final_discriminator']}."
                         if model.metadata.get("final_discriminator") else ""))
    keep(*KEPT)
    try:
        samples = model.generate(int(n), seed=int(seed), rejection=drs and model.logit_name is not None)
        ss["_samples"] = samples
        if kind == "image":
            grid = image_grid.grid_image(samples)   # each image ≥ 3× its size, whole pixels; PNG, never JPEG
            st.image(grid, output_format="PNG", caption=f"{len(samples)} samples, seed {seed} — each drawn "
                     f"{image_grid.scale_for(*samples.shape[2:])}× its size")
            st.download_button("Download PNG grid", lambda g=grid: image_grid.png_bytes(g),
                               file_name=f"{model_name}-seed{seed}.png", mime="image/png", on_click="ignore",
                               key="dl_png")
            show_class_counts(samples)
        else:
            # redrawn in place for each seed (Plotly.react): st.plotly_chart would build a new chart every time
            ss["_pts_live"] = live_chart(samples_figure(samples, title=f"{len(samples)} samples, seed {seed}",
                                                        n_points=len(samples)), "pts", lead=True)
            st.download_button("Download CSV", lambda s=samples: outputs.points_csv_bytes(s),
                               file_name=f"{model_name}-seed{seed}.csv", mime="text/csv", on_click="ignore",
                               key="dl_csv")
    except GanError as e:
        st.error(str(e))


def show_class_counts(samples) -> None:
    """fashion/mnist models: how many samples each class got, by the set's cached classifier (or how to get it)."""
    dataset = model.metadata.get("dataset")
    counts = class_counts.class_counts(samples, dataset)
    if counts is not None:
        st.plotly_chart(class_counts.counts_figure(*counts), key="class_counts", config={"displaylogo": False})
    elif class_counts.missing_caption(dataset):
        st.caption(class_counts.missing_caption(dataset))


# --- a walk in latent space ----------------------------------------------------------------------------
@st.fragment
def walk_view() -> None:
    st.subheader("Walk between two seeds")
    st.caption("The latent of seed A moves to the latent of seed B"
               + (" along a great circle (slerp), which stays where a normal prior puts its mass."
                  if model.prior == "normal" else " in a straight line inside the uniform prior's box."))
    w1, w2, w3 = st.columns(3)
    seed_a = w1.number_input("Seed A", 0, 2**31 - 1, key="seed_a", help="Where the walk starts.")
    seed_b = w2.number_input("Seed B", 0, 2**31 - 1, key="seed_b", help="Where the walk ends.")
    steps = w3.number_input("Steps", 2, 64, key="steps", help="Points along the walk, A and B included.")
    keep(*KEPT)
    try:
        walk = generation.interpolate(model, int(seed_a), int(seed_b), int(steps))
        t = st.slider("Position along the walk", 0, int(steps) - 1, 0, key="walk_t")
        if kind == "image":   # the whole walk as a row with the current step framed, that step larger beneath
            st.image(image_grid.row_image(walk, mark=t), output_format="PNG",
                     caption=f"the whole walk, A → B: {int(steps)} steps, step {t} framed")
            st.image(image_grid.grid_image(walk[t:t + 1], scale=2 * image_grid.scale_for(*walk.shape[2:])),
                     output_format="PNG", caption=f"step {t} of {int(steps) - 1}")
        else:
            pts = walk.reshape(len(walk), -1)
            if pts.shape[1] == 1:  # 1-D: the output along the walk, step by step
                fig = go.Figure(go.Scatter(x=np.arange(len(pts)), y=pts[:, 0], mode="lines+markers",
                                           name="G(z) along the walk", line=dict(color="#ff7f0e")))
                fig.update_layout(template="plotly_white", height=320, margin=dict(l=10, r=10, t=40, b=10),
                                  title="G(z) along the walk", xaxis_title="step", yaxis_title="x")
                x, y = [t], [pts[t, 0]]
            else:  # the path over a cloud of samples, in the first two dimensions
                cloud = ss.get("_samples")
                fig = samples_figure(cloud if cloud is not None and len(cloud) else None,
                                     title="the walk over the samples")
                fig.add_trace(go.Scatter(x=pts[:, 0], y=pts[:, 1], mode="lines+markers", name="walk A → B",
                                         line=dict(color="#ff7f0e"), marker=dict(size=6)))
                x, y = [pts[t, 0]], [pts[t, 1]]
            fig.add_trace(go.Scatter(x=x, y=y, mode="markers", name=f"step {t}",
                                     marker=dict(size=16, color="#d62728", symbol="star")))
            # each step of the slider redraws in place; the lead when the samples are not a live chart (a
            # cloud over plotting.GL_POINTS is WebGL: st.plotly_chart), else it would wait for a lead that never draws
            live_chart(fig, "walk_fig", lead=not ss.get("_pts_live", False))
    except GanError as e:
        st.error(str(e))


samples_view()
walk_view()

# --- share ---------------------------------------------------------------------------------------------
st.subheader("Share the model")
st.markdown("A zip with `generator.onnx` and `MODEL_CARD.md`: what the model is and how to sample it with "
            "onnxruntime alone. Anyone can open the zip on this page, too.")
with st.expander("Model card"):
    st.markdown(model_card.model_card(model.metadata))
try:
    st.download_button("Download model + card (.zip)", lambda src=model_source: model_card.share_package(src),
                       file_name=f"{model_name}-generator.zip", mime="application/zip", on_click="ignore",
                       key="dl_model")
    st.download_button("Download web page", lambda src=model_source: share_page_bytes(src),
                       file_name=f"{model_name}.html", mime="text/html", on_click="ignore", key="dl_page",
                       disabled=bool(share_unavailable()),
                       help=share_unavailable() or "One .html file that samples this model in any browser, offline.")
except GanError as e:
    st.error(str(e))
