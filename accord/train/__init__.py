"""Training loops: Magnetic Preference Optimization for language models (accord.train.mpo)."""
