"""Shared test set-up: JAX on the CPU, compiled functions shared through session fixtures."""
import os

os.environ.setdefault('JAX_PLATFORMS', 'cpu')
