"""The GAN dashboard's entry point and Home page: what a GAN is, and where each page takes you.

Run with `streamlit run app.py`. st.navigation lists the pages (in pages/) under readable names;
this script runs before every page, so shared page settings live here.
"""
import streamlit as st


def home() -> None:
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
        "same game on the product distributions p_data^P and p_g^P, so eqs. (1)–(21) hold with those: "
        "D*_P = p_data^P / (p_data^P + p_g^P) and V(G, D*_P) = −2 log 2 + 2 JSD(p_data^P ‖ p_g^P) (the `jsd_packed` "
        "column). A G that drops modes is far easier to catch in a pack. With P = 1 it is the original GAN."
    )

    st.subheader("Pages")
    c1, c2, c3 = st.columns(3)
    with c1:
        st.page_link("pages/1_Train.py", label="Train", icon=":material/model_training:")
        st.caption("Pick a built-in dataset or upload your own (.csv of points, .npy, .zip of images), set the "
                   "hyper-parameters and start a run. Training runs in its own process: you can close the page.")
    with c2:
        st.page_link("pages/2_Monitor.py", label="Runs", icon=":material/monitoring:")
        st.caption("Every run, live: Ṽ against −2 log 2, D(x) and D(G(z)), losses, samples as they evolve, "
                   "the learned D beside D*, sample quality. Stop, resume, delete or download runs.")
    with c3:
        st.page_link("pages/3_Generate.py", label="Generate", icon=":material/auto_awesome:")
        st.caption("Sample a trained generator (.onnx) — no training library needed — walk between two seeds, "
                   "and download samples or the model with its card to share.")

    st.divider()
    st.caption("The same engine works from a terminal: `python -m gan_core train --dataset ring8`, "
               "`python -m gan_core runs`, `python -m gan_core generate runs/NAME/generator.onnx --n 64 --out s.csv`.")


# URL paths stay the file-derived ones (/Train, /Monitor, /Generate): Streamlit serves a session's first
# run through its pages/-folder navigation, which knows only those names.
PAGES = [st.Page(home, title="Home", icon=":material/home:", default=True),
         st.Page("pages/1_Train.py", title="Train", icon=":material/model_training:"),
         st.Page("pages/2_Monitor.py", title="Runs", icon=":material/monitoring:"),
         st.Page("pages/3_Generate.py", title="Generate", icon=":material/auto_awesome:")]

st.set_page_config(page_title="GAN dashboard", page_icon=":material/home:", layout="wide")
st.navigation(PAGES).run()
