"""Quality checks that show semantic vectors carry meaning .

- `same_different_ap`: average precision of "same word?" when all instance pairs are
  ranked by cosine similarity (Carlin et al. 2011's same-different task).
- `linear_probe_r2` / `shuffled_probe_r2`: cross-validated ridge regression from a
  word's type vector to its lexicon valence, against the same probe on permuted targets.
- `mean_pairwise_cosine` / `collapse_reason`: collapse detection during training.
"""

from collections.abc import Mapping, Sequence

import numpy as np
import threadpoolctl
from sklearn import linear_model, metrics, model_selection, pipeline, preprocessing


def _unit(x: np.ndarray) -> np.ndarray:
  x = np.asarray(x, np.float64)
  return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def mean_pairwise_cosine(x: np.ndarray) -> float:
  """Mean cosine similarity over all ordered pairs i != j of the rows of x [N, d].

  NaN rows make the result NaN; N < 2 gives NaN.
  """
  x = np.asarray(x, np.float64)
  n = x.shape[0]
  if n < 2:
    return float("nan")
  u = _unit(x)
  s = u.sum(axis=0)
  # sum_{i != j} u_i.u_j = |sum u|^2 - sum |u_i|^2
  total = float(s @ s) - float((u * u).sum())
  return total / (n * (n - 1))


def collapse_reason(
  loss: float, probe_embeddings: np.ndarray, max_cosine: float = 0.99
) -> str | None:
  """Why training has collapsed, or None.

  Collapse = non-finite loss, non-finite embeddings, or mean pairwise cosine of the
  probe embeddings [N, d] above `max_cosine` (all vectors near-identical).
  """
  if not np.isfinite(loss):
    return f"loss is {loss}"
  if not np.all(np.isfinite(probe_embeddings)):
    return "embeddings contain NaN/inf"
  cos = mean_pairwise_cosine(probe_embeddings)
  if np.isfinite(cos) and cos > max_cosine:
    return (
      f"mean pairwise cosine of {probe_embeddings.shape[0]} probe embeddings is {cos:.4f} "
      f"> {max_cosine} (all vectors near-identical)"
    )
  return None


def same_different_ap(
  embeddings: np.ndarray, labels: Sequence[str], max_instances: int = 2000, seed: int = 0
) -> dict[str, float]:
  """Same-different average precision of instance embeddings.

  Every unordered pair of instances is scored by cosine similarity; a pair is
  positive when both are the same word. AP = sklearn `average_precision_score`.
  Only words with >= 2 instances take part; at most `max_instances` instances are
  sampled (seeded) to bound the O(n^2) pairs.

  Args:
    embeddings: [N, d]; labels: N word strings.
  Returns:
    {"ap", "chance" (positive-pair fraction = AP of a random ranking), "pairs", "instances"}.
  """
  labels = np.asarray(labels, dtype=object)
  words, counts = np.unique(labels, return_counts=True)
  keep = np.flatnonzero(np.isin(labels, words[counts >= 2]))
  if len(keep) > max_instances:
    keep = np.sort(np.random.default_rng(seed).choice(keep, max_instances, replace=False))
  if len(keep) < 2:
    return {"ap": float("nan"), "chance": float("nan"), "pairs": 0, "instances": int(len(keep))}
  u = _unit(embeddings[keep])
  sim = u @ u.T
  iu = np.triu_indices(len(keep), k=1)
  same = (labels[keep][:, None] == labels[keep][None, :])[iu]
  if not same.any():
    return {"ap": float("nan"), "chance": 0.0, "pairs": int(len(same)), "instances": int(len(keep))}
  ap = metrics.average_precision_score(same, sim[iu])
  return {
    "ap": float(ap),
    "chance": float(same.mean()),
    "pairs": int(len(same)),
    "instances": int(len(keep)),
  }


def _probe_model(alphas):
  return pipeline.make_pipeline(preprocessing.StandardScaler(), linear_model.RidgeCV(alphas=alphas))


def linear_probe_r2(
  x: np.ndarray,
  y: np.ndarray,
  folds: int = 5,
  seed: int = 0,
  alphas: Sequence[float] = tuple(np.logspace(-2, 4, 13)),
) -> float:
  """K-fold cross-validated R^2 of a ridge probe x [N, d] -> y [N].

  Standardised features, RidgeCV (alpha chosen inside each training fold), out-of-fold
  predictions pooled, R^2 = sklearn r2_score over all N. Needs N >= folds.
  BLAS runs single-threaded here: these matrices are tiny, and multi-threaded BLAS next
  to TensorFlow's thread pools on a loaded machine made each probe ~50x slower.
  """
  x = np.asarray(x, np.float64)
  y = np.asarray(y, np.float64)
  if x.shape[0] < folds or x.shape[0] != y.shape[0]:
    raise ValueError(
      f"linear probe needs >= {folds} examples with matching targets, "
      f"got x {x.shape} and y {y.shape}"
    )
  cv = model_selection.KFold(folds, shuffle=True, random_state=seed)
  with threadpoolctl.threadpool_limits(1):
    pred = model_selection.cross_val_predict(_probe_model(list(alphas)), x, y, cv=cv)
  return float(metrics.r2_score(y, pred))


def shuffled_probe_r2(
  x: np.ndarray, y: np.ndarray, folds: int = 5, seed: int = 0, repeats: int = 5
) -> float:
  """Mean `linear_probe_r2` over `repeats` seeded permutations of y (the chance baseline)."""
  rng = np.random.default_rng(seed)
  return float(
    np.mean([linear_probe_r2(x, rng.permutation(y), folds, seed) for _ in range(repeats)])
  )


def valence_probe(
  words: Sequence[str],
  vectors: np.ndarray,
  lexicon: Mapping[str, float],
  folds: int = 5,
  seed: int = 0,
  repeats: int = 5,
) -> dict[str, float]:
  """Probe from type vectors to lexicon valence, on the words the lexicon knows.

  Args:
    words: V word types; vectors: [V, d]; lexicon: word -> valence in [-1, 1].
  Returns:
    {"r2", "r2_shuffled", "words"} (NaN R^2 when fewer than 2*folds lexicon words).
  """
  rows = [i for i, w in enumerate(words) if w in lexicon]
  if len(rows) < 2 * folds:
    return {"r2": float("nan"), "r2_shuffled": float("nan"), "words": len(rows)}
  x = np.asarray(vectors)[rows]
  y = np.array([lexicon[words[i]] for i in rows], np.float64)
  return {
    "r2": linear_probe_r2(x, y, folds, seed),
    "r2_shuffled": shuffled_probe_r2(x, y, folds, seed, repeats),
    "words": len(rows),
  }
