"""gan_core: the original GAN (Goodfellow et al., 2014) as a small, testable package.

Deliberately imports nothing here, so that `gan_core.share.generation` can be used where torch is absent.
"""
