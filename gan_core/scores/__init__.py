"""Scores of generated pictures against a real picture set (numpy only at scoring time): the Fréchet
distance and precision/recall in the features of a classifier trained on the set, the classes the samples
cover, and the Parzen-window log-likelihood of the test images (Goodfellow et al. 2014, Table 1)."""
