"""Cross-modal alignment of Speech2Vec to Word2Vec (Sec. 3.1, Eq. 1-3; Conneau et al. 2018;
Chung et al. 2018).

Notation follows the paper: speech vectors s_i in R^{d_s} (m words, rows of S [m, d_s]),
text vectors t_j in R^{d_t} (rows of T [n, d_t]), a linear map W in R^{d_t x d_s}, so a
mapped speech vector is W s_i and the whole mapped matrix is S @ W.T [m, d_t]. W may be
non-square (d_t != d_s); it is then kept semi-orthogonal (singular values near 1).

Steps:
1. `normalize` both spaces: unit length, centre, unit length again (MUSE's
   "renorm,center,renorm"); the speech mean is kept so W applies to raw vectors too.
2. `adversarial`: W vs an MLP discriminator. The discriminator minimises Eq. 1 (speech
   = 1 for mapped speech W s, 0 for text t), W minimises Eq. 2 (labels flipped), both by
   SGD on mini-batches drawn from the `adv_most_frequent` most frequent words, with
   label smoothing. After every W step: W <- (1 + beta) W - beta W W^T W, which drives
   every singular value sigma to the fixed point 1 of sigma <- (1+beta) sigma - beta sigma^3
   (orthogonal when square, semi-orthogonal otherwise).
3. `refine`: a dictionary of mutual nearest neighbours under CSLS among the
   `dico_max_rank` most frequent words of each side, then Eq. 3 by Procrustes,
   W = U V^T with U Sigma V^T = SVD(T_r^T S_r) (the paper writes the SVD of S_r T_r^T,
   i.e. the transpose, which yields W^T), iterated.
4. Unsupervised model selection: `selection_criterion` = mean cosine between mapped
   speech words and their CSLS translations (top `selection_words` speech words); the W
   with the best criterion over all adversarial epochs and refinement iterations wins.

CSLS(x, y) = 2 cos(x, y) - r_T(x) - r_S(y), r_T(x) = mean cosine of x to its k nearest
text vectors, r_S(y) = mean cosine of y to its k nearest mapped speech vectors.

Both `.vec` inputs are expected in descending frequency order (gensim writes them so;
`speech2vec.type_vectors` orders speech words by instance count).
"""

import dataclasses
import time
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf
from absl import logging


@dataclasses.dataclass(frozen=True)
class AlignConfig:
  """Alignment hyperparameters (MUSE defaults scaled for CPU where noted)."""

  adv_epochs: int = 5
  adv_iterations: int = 1000  # per epoch (MUSE: 1M / batch 32); CPU-sized
  batch_size: int = 32
  adv_most_frequent: int = 10000  # MUSE: 75 000; 0 = all words
  dis_hidden: int = 512  # MUSE: 2048
  dis_layers: int = 2
  dis_steps: int = 5
  dis_input_dropout: float = 0.1
  dis_lr: float = 0.1
  map_lr: float = 0.1
  lr_decay: float = 0.98
  ortho_beta: float = 0.01  # MUSE: 0.001
  smoothing: float = 0.1
  refine_iterations: int = 5
  dico_max_rank: int = 10000  # MUSE: 15 000; 0 = all words
  csls_k: int = 10
  selection_words: int = 10000
  seed: int = 0

  def to_dict(self) -> dict:
    return dataclasses.asdict(self)


def normalize(x: np.ndarray, center: bool = True) -> tuple[np.ndarray, np.ndarray]:
  """Unit-normalises rows, centres, unit-normalises again.

  Args:
    x: [n, d]. Returns (normalised [n, d] float32, mean [d] subtracted after the first
    normalisation; zeros when center=False).
  """
  x = _unit(np.asarray(x, np.float64))
  mean = x.mean(axis=0) if center else np.zeros(x.shape[1])
  return _unit(x - mean).astype(np.float32), mean.astype(np.float32)


def apply_normalization(x: np.ndarray, mean: np.ndarray) -> np.ndarray:
  """The same transform as `normalize` with a stored mean: x [n, d] -> [n, d]."""
  return _unit(_unit(np.asarray(x, np.float64)) - mean).astype(np.float32)


def _unit(x: np.ndarray) -> np.ndarray:
  return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def orthogonalize(w: np.ndarray, beta: float) -> np.ndarray:
  """One step W <- (1 + beta) W - beta W W^T W for W [d_t, d_s] (any shape)."""
  return (1.0 + beta) * w - beta * (w @ w.T @ w)


def procrustes(src: np.ndarray, tgt: np.ndarray) -> np.ndarray:
  """Eq. 3: argmin_W ||W S_r - T_r||_F over (semi-)orthogonal W.

  Args:
    src: S_r^T [k, d_s] (one dictionary pair per row); tgt: T_r^T [k, d_t].
  Returns:
    W [d_t, d_s] = U V^T where U Sigma V^T is the thin SVD of T_r S_r^T = tgt^T src.
  """
  if src.shape[0] != tgt.shape[0] or src.shape[0] == 0:
    raise ValueError(
      f"Procrustes needs equal, non-zero numbers of pairs, got {src.shape} and {tgt.shape}"
    )
  u, _, vt = np.linalg.svd(
    np.asarray(tgt, np.float64).T @ np.asarray(src, np.float64), full_matrices=False
  )
  return (u @ vt).astype(np.float32)


def knn_mean_similarity(
  queries: np.ndarray, keys: np.ndarray, k: int, chunk: int = 2048
) -> np.ndarray:
  """r(x) = mean cosine of each unit query [n, d] to its k nearest unit keys [m, d] -> [n]."""
  k = min(k, keys.shape[0])
  out = np.empty(queries.shape[0], np.float32)
  for i in range(0, queries.shape[0], chunk):
    sim = queries[i : i + chunk] @ keys.T
    top = np.partition(sim, sim.shape[1] - k, axis=1)[:, -k:]
    out[i : i + chunk] = top.mean(axis=1)
  return out


def _top_targets(
  queries: np.ndarray,
  keys: np.ndarray,
  topk: int,
  key_bias: np.ndarray | None = None,
  query_bias: np.ndarray | None = None,
  chunk: int = 2048,
) -> tuple[np.ndarray, np.ndarray]:
  """Top-`topk` keys per query by score 2 cos - query_bias - key_bias (CSLS) or cos (NN).

  Returns (indices [n, topk] best first, cosines [n, topk]).
  """
  topk = min(topk, keys.shape[0])
  idx_out = np.empty((queries.shape[0], topk), np.int64)
  cos_out = np.empty((queries.shape[0], topk), np.float32)
  for i in range(0, queries.shape[0], chunk):
    cos = queries[i : i + chunk] @ keys.T
    score = (
      cos if key_bias is None else 2 * cos - key_bias[None, :] - query_bias[i : i + chunk, None]
    )
    part = np.argpartition(-score, topk - 1, axis=1)[:, :topk]
    order = np.argsort(-np.take_along_axis(score, part, axis=1), axis=1, kind="stable")
    idx = np.take_along_axis(part, order, axis=1)
    idx_out[i : i + chunk] = idx
    cos_out[i : i + chunk] = np.take_along_axis(cos, idx, axis=1)
  return idx_out, cos_out


def translate(
  mapped: np.ndarray,
  tgt: np.ndarray,
  method: str = "csls",
  k: int = 10,
  topk: int = 1,
  mapped_pool: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
  """Nearest text words of mapped speech vectors.

  Args:
    mapped: unit query vectors [n, d_t]; tgt: unit text vectors [m, d_t].
    method: "nn" (cosine) or "csls".
    k: CSLS neighbourhood size.
    topk: how many candidates per query.
    mapped_pool: the mapped speech vectors used for r_S (default: `mapped`).
  Returns:
    (indices [n, topk] into tgt, cosines [n, topk]).
  """
  if method == "nn":
    return _top_targets(mapped, tgt, topk)
  if method != "csls":
    raise ValueError(f"unknown retrieval method {method!r} (use 'nn' or 'csls')")
  pool = mapped if mapped_pool is None else mapped_pool
  r_t = knn_mean_similarity(mapped, tgt, k)  # r_T(Ws) per query
  r_s = knn_mean_similarity(tgt, pool, k)  # r_S(t) per text word
  return _top_targets(mapped, tgt, topk, key_bias=r_s, query_bias=r_t)


def _rank_limit(n: int, max_rank: int) -> int:
  return n if max_rank <= 0 else min(n, max_rank)


def build_dictionary(
  mapped: np.ndarray, tgt: np.ndarray, max_rank: int = 10000, k: int = 10
) -> np.ndarray:
  """Mutual CSLS nearest neighbours among the `max_rank` most frequent words of each side.

  Args:
    mapped: unit mapped speech vectors [m, d_t] (frequency order); tgt: unit text [n, d_t].
  Returns:
    pairs [p, 2] int64 (speech index, text index), p >= 0.
  """
  ms, mt = mapped[: _rank_limit(len(mapped), max_rank)], tgt[: _rank_limit(len(tgt), max_rank)]
  s2t, _ = translate(ms, mt, "csls", k)
  t2s, _ = translate(mt, ms, "csls", k)
  s_idx = np.arange(len(ms))
  mutual = t2s[s2t[:, 0], 0] == s_idx
  return np.stack([s_idx[mutual], s2t[mutual, 0]], axis=1).astype(np.int64)


def selection_criterion(
  mapped: np.ndarray, tgt: np.ndarray, num_words: int = 10000, k: int = 10
) -> float:
  """Unsupervised model selection: mean cosine of top speech words and their CSLS translations."""
  q = mapped[: _rank_limit(len(mapped), num_words)]
  _, cos = translate(q, tgt, "csls", k, mapped_pool=mapped)
  return float(cos[:, 0].mean())


def map_vectors(src: np.ndarray, w: np.ndarray) -> np.ndarray:
  """W s for every row: src [m, d_s] @ W^T -> unit rows [m, d_t]."""
  return _unit(np.asarray(src, np.float64) @ np.asarray(w, np.float64).T).astype(np.float32)


def _discriminator(dim: int, config: AlignConfig) -> keras.Sequential:
  layers = [keras.Input((dim,)), keras.layers.Dropout(config.dis_input_dropout, seed=config.seed)]
  for _ in range(config.dis_layers):
    layers += [keras.layers.Dense(config.dis_hidden), keras.layers.LeakyReLU(0.2)]
  layers.append(keras.layers.Dense(1))  # logit of P(speech = 1 | z)
  return keras.Sequential(layers, name="discriminator")


def adversarial(
  src: np.ndarray, tgt: np.ndarray, config: AlignConfig, w0: np.ndarray | None = None
) -> tuple[np.ndarray, list[dict]]:
  """Adversarial training of W (Eq. 1-2) with orthogonalisation; returns the best W by criterion.

  Args:
    src: normalised speech vectors [m, d_s] (frequency order); tgt: normalised text [n, d_t].
    config: AlignConfig. w0: initial W [d_t, d_s] (default: rectangular identity).
  Returns:
    (W [d_t, d_s] float32 with the best `selection_criterion`, per-epoch history).
  """
  d_s, d_t = src.shape[1], tgt.shape[1]
  keras.utils.set_random_seed(config.seed)
  w = tf.Variable(
    np.eye(d_t, d_s, dtype=np.float32) if w0 is None else w0.astype(np.float32), name="W"
  )
  disc = _discriminator(d_t, config)
  src_t = tf.constant(src[: _rank_limit(len(src), config.adv_most_frequent)])
  tgt_t = tf.constant(tgt[: _rank_limit(len(tgt), config.adv_most_frequent)])
  gen = tf.random.Generator.from_seed(config.seed)
  dis_lr = tf.Variable(config.dis_lr, trainable=False)
  map_lr = tf.Variable(config.map_lr, trainable=False)
  bs, sm = config.batch_size, config.smoothing
  # Eq. 1 labels: speech (mapped) = 1, text = 0, smoothed.
  y_dis = tf.concat([tf.fill([bs, 1], 1.0 - sm), tf.fill([bs, 1], sm)], axis=0)
  y_map = 1.0 - y_dis  # Eq. 2: flipped

  def sample():
    i = gen.uniform([bs], 0, tf.shape(src_t)[0], dtype=tf.int32)
    j = gen.uniform([bs], 0, tf.shape(tgt_t)[0], dtype=tf.int32)
    return tf.gather(src_t, i), tf.gather(tgt_t, j)

  def eq_loss(logits, labels):
    # Sum of the two per-domain means of Eq. 1/2 (= 2 x mean over the joint batch).
    return 2.0 * tf.reduce_mean(
      tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
    )

  @tf.function
  def iteration():
    dis_loss = tf.constant(0.0)
    for _ in range(config.dis_steps):
      s, t = sample()
      z = tf.concat([tf.matmul(s, w, transpose_b=True), t], axis=0)
      z = tf.stop_gradient(z)
      with tf.GradientTape() as tape:
        dis_loss = eq_loss(disc(z, training=True), y_dis)
      grads = tape.gradient(dis_loss, disc.trainable_variables)
      for v, g in zip(disc.trainable_variables, grads, strict=False):
        v.assign_sub(dis_lr * g)
    s, t = sample()
    with tf.GradientTape() as tape:
      z = tf.concat([tf.matmul(s, w, transpose_b=True), t], axis=0)
      map_loss = eq_loss(disc(z, training=False), y_map)
    w.assign_sub(map_lr * tape.gradient(map_loss, w))
    b = config.ortho_beta
    w.assign((1.0 + b) * w - b * tf.matmul(tf.matmul(w, w, transpose_b=True), w))
    return dis_loss, map_loss

  best_w, best_crit = (
    w.numpy().copy(),
    selection_criterion(map_vectors(src, w.numpy()), tgt, config.selection_words, config.csls_k),
  )
  history = [{"stage": "adversarial", "epoch": 0, "criterion": best_crit}]
  for epoch in range(config.adv_epochs):
    t0 = time.perf_counter()
    d_sum = m_sum = 0.0
    for _ in range(config.adv_iterations):
      d_loss, m_loss = iteration()
      d_sum += float(d_loss)
      m_sum += float(m_loss)
    crit = selection_criterion(
      map_vectors(src, w.numpy()), tgt, config.selection_words, config.csls_k
    )
    n = max(config.adv_iterations, 1)
    history.append(
      {
        "stage": "adversarial",
        "epoch": epoch + 1,
        "criterion": crit,
        "dis_loss": d_sum / n,
        "map_loss": m_sum / n,
        "seconds": time.perf_counter() - t0,
      }
    )
    logging.info(
      "alignment adversarial epoch %d/%d: D loss %.4f, W loss %.4f, criterion %.4f",
      epoch + 1,
      config.adv_epochs,
      d_sum / n,
      m_sum / n,
      crit,
    )
    if crit > best_crit:
      best_crit, best_w = crit, w.numpy().copy()
    dis_lr.assign(dis_lr * config.lr_decay)
    map_lr.assign(map_lr * config.lr_decay)
  return best_w, history


def refine(
  src: np.ndarray, tgt: np.ndarray, w: np.ndarray, config: AlignConfig
) -> tuple[np.ndarray, list[dict]]:
  """Iterated Procrustes (Eq. 3) on CSLS mutual-NN dictionaries; returns the best W by criterion."""
  best_w = w
  best_crit = selection_criterion(map_vectors(src, w), tgt, config.selection_words, config.csls_k)
  history = []
  for it in range(config.refine_iterations):
    pairs = build_dictionary(map_vectors(src, w), tgt, config.dico_max_rank, config.csls_k)
    if len(pairs) == 0:
      logging.warning("alignment refinement %d: empty CSLS dictionary; stopping", it + 1)
      break
    w = procrustes(src[pairs[:, 0]], tgt[pairs[:, 1]])
    crit = selection_criterion(map_vectors(src, w), tgt, config.selection_words, config.csls_k)
    history.append(
      {"stage": "refinement", "iteration": it + 1, "dictionary": int(len(pairs)), "criterion": crit}
    )
    logging.info(
      "alignment refinement %d/%d: dictionary %d pairs, criterion %.4f",
      it + 1,
      config.refine_iterations,
      len(pairs),
      crit,
    )
    if crit > best_crit:
      best_crit, best_w = crit, w
  return best_w, history


def similarity_dictionary(
  src: np.ndarray, tgt: np.ndarray, size: int = 4000, k: int = 10
) -> np.ndarray:
  """Isometry-invariant initial dictionary (Artetxe et al. 2018, "similarity distributions").

  For the `size` most frequent words of each side, each word is described by its sorted
  row of sqrt(X X^T) (the Gram matrix square root = (U Sigma) U^T), which does not change
  under any rotation of the space; descriptors are matched with CSLS both ways.

  Args:
    src: normalised speech vectors [m, d_s]; tgt: normalised text vectors [n, d_t].
  Returns:
    pairs [p, 2] int64 (speech index, text index).
  """
  size = min(size, len(src), len(tgt))

  def descriptor(x):
    u, sv, _ = np.linalg.svd(np.asarray(x[:size], np.float64), full_matrices=False)
    sim = np.sort((u * sv) @ u.T, axis=1)
    return normalize(sim)[0]

  ds, dt = descriptor(src), descriptor(tgt)
  fwd, _ = translate(ds, dt, "csls", k)
  bwd, _ = translate(dt, ds, "csls", k)
  idx = np.arange(size)
  pairs = np.concatenate([np.stack([idx, fwd[:, 0]], 1), np.stack([bwd[:, 0], idx], 1)])
  return np.unique(pairs, axis=0).astype(np.int64)


INIT_METHODS = ("adversarial", "similarity")


def align_unsupervised(
  src: np.ndarray,
  tgt: np.ndarray,
  config: AlignConfig,
  init_methods: Sequence[str] = ("adversarial",),
) -> tuple[np.ndarray, dict]:
  """Unsupervised alignment on normalised spaces: initialisation, then refinement (Eq. 3).

  Each initialisation in `init_methods` is refined; the final W is the candidate with the
  best unsupervised `selection_criterion` (no dictionary is used to choose):
    "adversarial": the paper's Eq. 1-2 game (`adversarial`).
    "similarity": Procrustes on `similarity_dictionary` (rotation-invariant; a robust
      fallback when the adversarial game stalls, which it is known to do).

  Returns:
    (W [d_t, d_s], {"criterion", "method", "candidates": {method: {"criterion", "W"}}, "history"}).
  """
  if not init_methods:
    raise ValueError("align_unsupervised needs at least one initialisation method")
  candidates, history = {}, []
  for method in init_methods:
    if method == "adversarial":
      w, hist = adversarial(src, tgt, config)
    elif method == "similarity":
      pairs = similarity_dictionary(src, tgt, k=config.csls_k)
      w = procrustes(src[pairs[:, 0]], tgt[pairs[:, 1]])
      hist = [
        {
          "stage": "similarity_init",
          "dictionary": int(len(pairs)),
          "criterion": selection_criterion(
            map_vectors(src, w), tgt, config.selection_words, config.csls_k
          ),
        }
      ]
    else:
      raise ValueError(f"unknown initialisation {method!r}; choose from {INIT_METHODS}")
    w, hist2 = refine(src, tgt, w, config)
    crit = selection_criterion(map_vectors(src, w), tgt, config.selection_words, config.csls_k)
    logging.info("alignment candidate %s: criterion %.4f", method, crit)
    candidates[method] = {"criterion": crit, "W": w}
    history += [dict(h, init=method) for h in hist + hist2]
  best = max(candidates, key=lambda m: candidates[m]["criterion"])
  return candidates[best]["W"], {
    "criterion": candidates[best]["criterion"],
    "method": best,
    "candidates": candidates,
    "history": history,
  }


def shared_word_split(
  src_words: Sequence[str],
  tgt_words: Sequence[str],
  eval_fraction: float = 0.3,
  max_eval: int = 1500,
  seed: int = 0,
) -> tuple[list[str], list[str]]:
  """Splits the words present in both vocabularies into (train, eval) lists.

  A seeded random `eval_fraction` (at most `max_eval`) of the shared words is held out
  for P@k only; the rest is the identity dictionary of supervised Procrustes. The
  unsupervised method never sees any pair. Both lists keep speech frequency order.
  """
  tgt_set = set(tgt_words)
  shared = [w for w in src_words if w in tgt_set]
  if not shared:
    return [], []
  n_eval = min(max(1, int(round(eval_fraction * len(shared)))), max_eval, len(shared))
  rng = np.random.default_rng(seed)
  eval_set = set(rng.choice(len(shared), n_eval, replace=False).tolist())
  return (
    [w for i, w in enumerate(shared) if i not in eval_set],
    [w for i, w in enumerate(shared) if i in eval_set],
  )


def align_supervised(
  src: np.ndarray,
  tgt: np.ndarray,
  src_words: Sequence[str],
  tgt_words: Sequence[str],
  dictionary_words: Sequence[str],
) -> np.ndarray:
  """Procrustes (Eq. 3) on the identity dictionary (same strings) -> W [d_t, d_s].

  Raises:
    ValueError: when `dictionary_words` is empty (no shared words to learn from).
  """
  if not dictionary_words:
    raise ValueError(
      "supervised alignment needs words shared by both vocabularies; there are none "
      "(check that both .vec files use the same word normalisation)"
    )
  si = {w: i for i, w in enumerate(src_words)}
  ti = {w: i for i, w in enumerate(tgt_words)}
  return procrustes(src[[si[w] for w in dictionary_words]], tgt[[ti[w] for w in dictionary_words]])


def precision_at_k(
  w: np.ndarray,
  src: np.ndarray,
  tgt: np.ndarray,
  src_words: Sequence[str],
  tgt_words: Sequence[str],
  eval_words: Sequence[str],
  ks: Sequence[int] = (1, 5),
  k_csls: int = 10,
) -> dict[str, float]:
  """P@k of translating held-out speech words into the text vocabulary (correct = same string).

  Queries: the `eval_words`; candidates: every text word. Returns
  {"nn_p@1", "nn_p@5", "csls_p@1", "csls_p@5", "eval_words"} (fractions in [0, 1]).
  """
  if not eval_words:
    return {"eval_words": 0}
  si = {w: i for i, w in enumerate(src_words)}
  ti = {w: i for i, w in enumerate(tgt_words)}
  mapped_all = map_vectors(src, w)
  q = mapped_all[[si[x] for x in eval_words]]
  gold = np.array([ti[x] for x in eval_words])
  out: dict[str, float] = {"eval_words": len(eval_words)}
  for method in ("nn", "csls"):
    idx, _ = translate(q, tgt, method, k_csls, topk=max(ks), mapped_pool=mapped_all)
    for k in ks:
      out[f"{method}_p@{k}"] = float(np.mean((idx[:, :k] == gold[:, None]).any(axis=1)))
  return out


def translation_score_agreement(
  w: np.ndarray,
  src: np.ndarray,
  tgt: np.ndarray,
  src_words: Sequence[str],
  tgt_words: Sequence[str],
  eval_words: Sequence[str],
  scores: dict[str, float],
  k_csls: int = 10,
  seed: int = 0,
) -> dict[str, float]:
  """Does alignment carry a word property across spaces, even when P@1 cannot?

  For each held-out speech word with a score (e.g. VADER valence), its CSLS
  translation among the *scored* text words is taken, and the Pearson correlation
  between the word's score and its translation's score is reported, beside the
  same statistic for a seeded random assignment of translations (the chance
  level). On a corpus where words of similar valence are interchangeable in
  context, exact-word P@1 stays near chance while this correlation shows whether
  the mapped speech vectors land among text words of the right valence.

  Returns {"score_r", "score_r_random", "score_words"} (r is NaN with < 3 words).
  """
  scored_tgt = [i for i, x in enumerate(tgt_words) if x in scores]
  si = {x: i for i, x in enumerate(src_words)}
  queries = [x for x in eval_words if x in scores and x in si]
  if len(queries) < 3 or len(scored_tgt) < 2:
    return {"score_r": float("nan"), "score_r_random": float("nan"), "score_words": len(queries)}
  mapped_all = map_vectors(src, w)
  q = mapped_all[[si[x] for x in queries]]
  idx, _ = translate(q, tgt[scored_tgt], "csls", k_csls, topk=1, mapped_pool=mapped_all)
  source = np.array([scores[x] for x in queries])
  target = np.array([scores[tgt_words[scored_tgt[i]]] for i in idx[:, 0]])
  rng = np.random.default_rng(seed)
  random_target = np.array([scores[tgt_words[i]] for i in rng.choice(scored_tgt, len(queries))])

  def pearson(a, b):
    if a.std() == 0 or b.std() == 0:
      return float("nan")
    return float(np.corrcoef(a, b)[0, 1])

  return {
    "score_r": pearson(source, target),
    "score_r_random": pearson(source, random_target),
    "score_words": len(queries),
  }
