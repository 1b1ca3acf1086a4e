"""Losses of the paper, one pure function per equation.

Every function takes padded arrays with validity masks and returns ``(loss, metrics)`` where
``metrics`` is a dict of scalars. Invalid (padded) people and joints never contribute.
"""
from __future__ import annotations

import jax.numpy as jnp


def _safe_div(num, den):
  return num / jnp.maximum(den, 1.0)


def pull_push(embeddings, valid):
  """Grouping pull (Eq. 2) and push (Eq. 3) terms for one image.

  Args:
    embeddings: [P, J, D] embedding sampled at each person's joints (D = 1 for KE).
    valid: [P, J] 1 where the joint is labelled and inside the map.

  Returns:
    (pull, push, reference): scalars and the reference embeddings [P, D].

  Eq. 2: pull = 1/(J K) sum_k sum_j ||m(p_jk) - mbar_k||^2, averaged over the valid joints.
  Eq. 3: push = 1/K^2 sum_k sum_k' exp(-1/2 ||mbar_k - mbar_k'||^2) over valid people. The
  k = k' terms equal 1 whatever the prediction (no gradient), so they are left out: a perfect
  embedding then has zero loss. K counts the people with at least one valid joint.
  """
  valid = valid.astype(embeddings.dtype)
  count = valid.sum(axis=1)                                          # [P]
  person = (count > 0).astype(embeddings.dtype)                      # [P]
  reference = _safe_div((embeddings * valid[..., None]).sum(axis=1), count[:, None])  # [P, D]
  sq = ((embeddings - reference[:, None, :]) ** 2).sum(axis=-1)      # [P, J]
  pull = _safe_div((sq * valid).sum(), valid.sum())
  diff = ((reference[:, None, :] - reference[None, :, :]) ** 2).sum(axis=-1)  # [P, P]
  pair = person[:, None] * person[None, :] * (1.0 - jnp.eye(person.shape[0], dtype=person.dtype))
  num_people = person.sum()
  push = (jnp.exp(-0.5 * diff) * pair).sum() / jnp.maximum(num_people ** 2, 1.0)
  return pull, push, reference
