"""The command lines: `artrack-train`, `artrack-eval`, `artrack-quickstart` (console scripts of
the installed package) and the repository's top-level `train.py`, `eval.py`, which call the same
functions. `artrack-track` is `artrack_jax.track.main`.
"""
