"""What each of the Runs page's figures shows, in words tied to the paper's equations (the captions)."""

CAPTIONS = {
    "value": "Ṽ is the minibatch estimate of V(D, G) = E[log D(x)] + E[log(1 − D(G(z)))] (eq. (1)), which D "
             "ascends. **Why it starts on the dotted line:** an untrained D says ½ to everything, so Ṽ = log ½ + "
             "log ½ = −2 log 2 ≈ −1.386 at first. D then learns to tell real from generated and pushes Ṽ *up* — "
             "that is D doing its job, not G getting worse. As G catches up, D is fooled again and Ṽ comes back "
             "towards −2 log 2: with the best D, V(G, D*) = −2 log 2 + 2·JSD(p_data ‖ p_g) (eqs. (8)–(21)), "
             "which is −2 log 2 exactly when p_g = p_data.",
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
    "jsd": "JSD(p_data ‖ p_g) from a kernel estimate of p_g: 0 when p_g = p_data, log 2 ≈ 0.693 for disjoint "
           "supports (below 0.02 is good); V(G, D*) = −2 log 2 + 2·JSD (eqs. (8)–(21)).",
    "samples": "Generated samples from the same fixed latents at every snapshot, so you watch the same z "
               "move as G learns.",
    "arrows": "**Arrows:** the push G's objective gives each generated point x = G(z), −∇ₓ of the per-sample "
              "generator loss — {objective}. Both point up D's slope, but they differ by the factor "
              "(1 − D(x))/D(x): minimax arrows (eq. 4) nearly vanish where D(x) ≈ 0, where D confidently "
              "rejects the samples (early in training), while non-saturating ones (eq. 3) are strongest there — "
              "why eq. (3) is used in practice. One fixed scale for every snapshot and run, so lengths compare.",
    "instance_noise": "**Instance noise σ = {sigma:.2f} at this snapshot:** D judges the data and G's samples each "
                      "blurred by N(0, σ²I), so the learned D tends to D* of the blurred densities, smoother and "
                      "less sure than the D* drawn here for the densities themselves; σ falls to 0 as the run "
                      "goes on, and from then on the game is the paper's.",
    "gradient_penalty": "**Gradient penalty γ = {gamma:g} at this snapshot:** D ascends Ṽ less γ times the mean "
                        "squared slope of its logit at points between the data and G's samples, so the learned D "
                        "is smoother than D*: it rises less sharply at a mode, and its slope reaches G's samples "
                        "far from a mode they miss.",
    "manifold": "**Mesh:** G's manifold, the image of a regular latent grid under G (for latents other than "
                "2-D, a 2-D slice through z = 0): how G folds the plane onto the modes.",
}
