"""Controls that tell meaning from identity in the semantic view.

The model reads the semantic view as E[word_index] per frame (`pipeline.make_dataset`'s
`embedding_matrix`, zeros where word_index = 0). Two spaces beside aligned Speech2Vec bound what
it can get from that view:

  * "random vector per word type" (identity only): row k of E is a unit vector drawn from a
    seeded isotropic Gaussian for vocabulary word k, the same dimension as the aligned space.
    Distinct words get distinct vectors, so a model can memorise the valence of the words it
    saw labelled, but no vector says anything about a word it did not see.
  * "Word2Vec lookup" (the text upper bound): row k is the Word2Vec vector of word k — what
    perfectly aligned speech vectors would give (Sec. 3.1: W s_i = t_i).

Aligned Speech2Vec well above the random control on unseen-word valence
(`emotion_tf.training.unseen_words`) is what shows that the speech vectors carry meaning.
Both controls are written as `.vec` files over the shards' vocabulary (vocab.txt), so the
training, evaluation and export paths read them like any other embedding space.
"""

import os
from collections.abc import Sequence

import numpy as np

from emotion_tf.data import schema
from emotion_tf.data import vectors as vectors_lib

RANDOM_VEC = "random_vectors.vec"


def random_type_vectors(num_words: int, dim: int, seed: int = 0) -> np.ndarray:
  """Seeded unit vectors, one per word type: float32 [num_words, dim], rows i.i.d. uniform on
  the unit sphere (normalised N(0, I) draws of `np.random.default_rng(seed)`)."""
  if num_words < 0 or dim < 1:
    raise ValueError(
      f"random_type_vectors needs num_words >= 0 and dim >= 1, got {num_words}, {dim}"
    )
  x = np.random.default_rng(seed).standard_normal((num_words, dim))
  return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def write_random_vec(data_dir: str, path: str, dim: int, seed: int = 0) -> str:
  """Writes the random-vector control for the words of `data_dir`'s vocab.txt (index 0, no word,
  excluded: it stays zeros in the embedding matrix) to `path` (atomic). Returns `path`.

  Row order: vocabulary order, so word k of vocab.txt gets row k - 1 of
  `random_type_vectors(len(vocab) - 1, dim, seed)`.
  """
  words = schema.read_vocab(data_dir)[1:]
  vectors = random_type_vectors(len(words), dim, seed)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  vectors_lib.write_vec(path, words, vectors)
  return path


def lookup(matrix: np.ndarray, word_index: Sequence[int]) -> np.ndarray:
  """The semantic view a control gives: matrix [V, d] rows at word_index [...] -> [..., d]
  (the same gather as `pipeline.make_dataset`, numpy)."""
  return np.asarray(matrix)[np.asarray(word_index, np.int64)]
