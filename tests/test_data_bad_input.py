"""The writer's OOV policy. The other bad-input cases moved to the binary-level
catalogue tests/test_bad_inputs_data.py (exit codes, messages naming the file, nothing lost)."""

import pathlib

import numpy as np
import pytest
import tensorflow as tf
from data_fixtures import tiny_corpus, tiny_vec  # noqa: F401

from data_prep import write_tfrecords_lib
from emotion_tf.data import schema


def test_oov_policy_hash_is_deterministic(tiny_corpus, tiny_vec, tmp_path):  # noqa: F811
  vec_path, words, vectors = tiny_vec
  a = write_tfrecords_lib.write_tfrecords(
    write_tfrecords_lib.WriteJobConfig(
      corpus=tiny_corpus,
      embeddings=vec_path,
      out=str(tmp_path / "a"),
      oov="hash",
      partitions=["devel"],
      word_timings="uniform",
      num_workers=1,
    )
  )
  b = write_tfrecords_lib.write_tfrecords(
    write_tfrecords_lib.WriteJobConfig(
      corpus=tiny_corpus,
      embeddings=vec_path,
      out=str(tmp_path / "b"),
      oov="hash",
      partitions=["devel"],
      word_timings="uniform",
      num_workers=1,
    )
  )
  assert a["ok"] and b["ok"]
  name = "devel-00000-of-00001.tfrecord"
  blob = pathlib.Path(tmp_path / "a" / name).read_bytes()
  assert blob == pathlib.Path(tmp_path / "b" / name).read_bytes()
  vocab = schema.read_vocab(str(tmp_path / "a"))
  known = set(words)
  seen_oov = 0
  for raw in tf.data.TFRecordDataset(str(tmp_path / "a" / name)):
    ex = schema.parse_example(raw, 100, 2205, 8)
    for idx, vec in zip(ex["word_index"].numpy(), ex["semantic"].numpy(), strict=False):
      w = vocab[idx]
      if idx and w not in known:
        seen_oov += 1
        np.testing.assert_allclose(vec, schema.oov_vector(w, 8, float(vectors.std())))
      elif not idx:
        assert not vec.any()
  assert a["recordings"][0]["oov_words"] > 0 and seen_oov > 0  # the fixture leaves words out
  with pytest.raises(ValueError, match="oov must be"):
    write_tfrecords_lib.write_tfrecords(
      write_tfrecords_lib.WriteJobConfig(
        corpus=tiny_corpus,
        embeddings=vec_path,
        out=str(tmp_path / "c"),
        oov="random",
        word_timings="uniform",
        num_workers=1,
      )
    )
