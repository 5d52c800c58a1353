"""Home: what a GAN is (the seed's equations), and the three pages."""
import streamlit as st

from ui.nav import GENERATE, RUNS, TRAIN, page_setup

page_setup()
st.title("GAN dashboard")
st.markdown(
    "A **generative adversarial network** (Goodfellow et al., 2014) trains two networks against each other. "
    "The **generator** G turns random noise z ~ p_z into samples G(z), whose distribution we call p_g. "
    "The **discriminator** D looks at a sample x and outputs D(x), the probability that x came from the real "
    "data p_data rather than from G. They play the two-player game of eq. (1):"
)
st.latex(r"\min_G \max_D V(D, G) = \mathbb{E}_{x \sim p_{\text{data}}}\left[\log D(x)\right]"
         r" + \mathbb{E}_{z \sim p_z}\left[\log\left(1 - D(G(z))\right)\right]")
st.markdown(
    "D climbs V (it wants to be right); G descends it (it wants D fooled). For a fixed G the best "
    "discriminator is"
)
st.latex(r"D^*_G(x) = \frac{p_{\text{data}}(x)}{p_{\text{data}}(x) + p_g(x)} \qquad \text{(eq. 7)}")
st.markdown("and against it the game's value is")
st.latex(r"V(G, D^*_G) = -2\log 2 + 2\,\mathrm{JSD}(p_{\text{data}} \,\|\, p_g) \qquad \text{(eqs. 8–21)}")
st.markdown(
    "so the generator wins outright exactly when p_g = p_data: then D* = 1/2 everywhere and "
    "V = −2 log 2 ≈ −1.386. "
    "Training alternates **k** discriminator steps with one generator step (Algorithm 1); the generator can "
    "descend log(1 − D(G(z))) (*minimax*, eq. (4)) or ascend log D(G(z)) (*non-saturating*, eq. (3))."
)

st.markdown(
    "**Packing** (PacGAN, `--pack P`) lets D judge P samples at once, all real or all generated. It is the "
    "same game on the product distributions $p_{\\text{data}}^P$ and $p_g^P$, so eqs. (1)–(21) hold with those:"
)
st.latex(r"D^*_P = \frac{p_{\text{data}}^P}{p_{\text{data}}^P + p_g^P}, \qquad "
         r"V(G, D^*_P) = -2\log 2 + 2\,\mathrm{JSD}(p_{\text{data}}^P \,\|\, p_g^P)")
st.markdown(
    "(the `jsd_packed` column). A G that drops modes is far easier to catch in a pack. With P = 1 it is the "
    "original GAN."
)
st.markdown(
    "**Rejection sampling by D** (Azadi et al. 2019) reads eq. (7) backwards: p_data/p_g = D*/(1 − D*), so "
    "keeping each of G's samples with probability ∝ D/(1 − D) turns p_g towards p_data. It needs the optimal "
    "D *of the G being sampled*, so before export a run can **refit D** to its final G (`--refit-d N`: N more "
    "D steps of eq. (2) with G fixed, Proposition 1; grid25 does by default). `generate --no-rejection` "
    "gives the plain GAN's samples."
)

st.subheader("Pages")
c1, c2, c3 = st.columns(3)
with c1:
    st.page_link(TRAIN, label="Train", icon=":material/model_training:")
    st.caption("Pick a built-in dataset or upload your own (.csv of points, .npy, .zip of images), set the "
               "hyper-parameters and start a run. Training runs in its own process: you can close the page.")
with c2:
    st.page_link(RUNS, label="Runs", icon=":material/monitoring:")
    st.caption("Every run, live: Ṽ against −2 log 2, D(x) and D(G(z)), losses, samples as they evolve, "
               "the learned D beside D*, sample quality. Stop, resume, delete or download runs.")
with c3:
    st.page_link(GENERATE, label="Generate", icon=":material/auto_awesome:")
    st.caption("Sample a trained generator (.onnx) — no training library needed — walk between two seeds, "
               "and download samples or the model with its card to share.")

st.divider()
st.caption("The same engine works from a terminal: `python -m gan_core train --dataset ring8`, "
           "`python -m gan_core runs`, `python -m gan_core generate runs/NAME/generator.onnx --n 64 --out s.csv`.")
