"""Prints the time to align a 10 000 x 10 000 vocabulary and the recovery P@1.

    python bench/alignment.py [--words 10000 --dim 100 --noise 0.02 --init adversarial,similarity]

Synthetic spaces with a known answer: T = clustered vectors with an anisotropic spectrum,
S = T R^T + noise with a random rotation R (word i of S is word i of T). Times every stage
(adversarial Eq. 1-2, similarity init, refinement Eq. 3) through `align_unsupervised` and
prints P@1/P@5 (NN and CSLS) on 1 500 held-out words, plus supervised Procrustes for reference.
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from emotion_tf.semantic import alignment


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--words", type=int, default=10000)
  p.add_argument("--dim", type=int, default=100)
  p.add_argument("--noise", type=float, default=0.02)
  p.add_argument("--init", default="adversarial,similarity")
  p.add_argument("--adv_epochs", type=int, default=5)
  p.add_argument("--adv_iterations", type=int, default=1000)
  a = p.parse_args()
  rng = np.random.default_rng(0)
  n, d = a.words, a.dim
  centers = rng.normal(size=(500, d))
  t = (centers[rng.integers(0, 500, n)] + 0.3 * rng.normal(size=(n, d))) * np.linspace(2.0, 0.5, d)
  r = np.linalg.qr(rng.normal(size=(d, d)))[0]
  s = t @ r.T + a.noise * rng.normal(size=(n, d))
  words = [f"w{i}" for i in range(n)]
  src, _ = alignment.normalize(s)
  tgt, _ = alignment.normalize(t)
  train, held = alignment.shared_word_split(words, words, 0.3, max_eval=1500)
  cfg = alignment.AlignConfig(adv_epochs=a.adv_epochs, adv_iterations=a.adv_iterations)
  for method in a.init.split(","):
    t0 = time.perf_counter()
    w, info = alignment.align_unsupervised(src, tgt, cfg, (method,))
    dt = time.perf_counter() - t0
    pk = alignment.precision_at_k(w, src, tgt, words, words, held)
    print(
      f"{n} x {n} words, d={d}: unsupervised ({method} init + refinement) {dt:.1f} s; criterion "
      f"{info['criterion']:.3f}; P@1 NN {pk['nn_p@1']:.3f} CSLS {pk['csls_p@1']:.3f}; "
      f"P@5 NN {pk['nn_p@5']:.3f} CSLS {pk['csls_p@5']:.3f}"
    )
  t0 = time.perf_counter()
  w = alignment.align_supervised(src, tgt, words, words, train)
  dt = time.perf_counter() - t0
  pk = alignment.precision_at_k(w, src, tgt, words, words, held)
  print(
    f"supervised Procrustes on {len(train)} pairs: {dt:.2f} s; P@1 CSLS {pk['csls_p@1']:.3f}; "
    f"chance P@1 {1 / n:.5f}"
  )


if __name__ == "__main__":
  main()
