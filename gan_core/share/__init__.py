"""Sharing a generator with people who have no Python: the latent sampler both sides share, and the
self-contained web page (``python -m gan_core share``). Nothing here imports torch."""
