"""tf.data reader: shapes, eval order + stitching, training shuffle, embedding-matrix lookup."""

import os

import numpy as np
import pytest

from emotion_tf.data import corpus, pipeline, schema


def _collect(ds):
  ids, chunks, frames, labels, sem = [], [], [], [], []
  for x, y in ds:
    ids += [i.decode() for i in x["recording_id"].numpy()]
    chunks += list(x["chunk_index"].numpy())
    frames += list(x["num_frames"].numpy())
    labels.append(y.numpy())
    sem.append(x["semantic"].numpy())
  return ids, chunks, frames, np.concatenate(labels), np.concatenate(sem)


def test_eval_order_shapes_and_stitch(tiny_corpus, tiny_tfrecords):  # noqa: F811
  out, _ = tiny_tfrecords
  ds = pipeline.make_dataset(out, "Train", 2, training=False, include_ids=True)
  x, y = next(iter(ds))
  assert x["audio"].shape == (2, 220500) and x["semantic"].shape == (2, 100, 8)
  assert x["num_frames"].dtype.name == "int32" and y.shape == (2, 100, 3)
  ids, chunks, frames, labels, _ = _collect(ds)
  assert ids == ["Train_01"] * 3 + ["Train_02"] * 3 and chunks == [0, 1, 2] * 2
  assert frames == [100, 100, 40] * 2
  stitched = pipeline.stitch_predictions(ids, chunks, frames, labels)
  for rid in ("Train_01", "Train_02"):
    rec = corpus.recording_paths(tiny_corpus, rid)
    np.testing.assert_array_equal(stitched[rid], corpus.read_labels(rec.labels_path)[1])
  # Stitching does not depend on the order the chunks arrive in.
  perm = np.random.default_rng(0).permutation(len(ids))
  again = pipeline.stitch_predictions(
    np.array(ids)[perm], np.array(chunks)[perm], np.array(frames)[perm], labels[perm]
  )
  for rid in stitched:
    np.testing.assert_array_equal(again[rid], stitched[rid])


def test_training_shuffles_reproducibly_and_covers_all(tiny_tfrecords):  # noqa: F811
  out, _ = tiny_tfrecords
  mk = lambda seed: pipeline.make_dataset(
    out, "train", 4, training=True, seed=seed, include_ids=True
  )
  a = _collect(mk(1))
  b = _collect(mk(1))
  assert a[0] == b[0] and a[1] == b[1]
  assert sorted(zip(a[0], a[1], strict=False)) == sorted(
    (r, c) for r in ("Train_01", "Train_02") for c in range(3)
  )
  orders = {tuple(zip(*_collect(mk(s))[:2], strict=False)) for s in range(6)}
  assert len(orders) > 1
  ds = pipeline.make_dataset(
    out, "train", 4, training=True, seed=0, repeat=True, drop_remainder=True
  )
  batches = list(ds.take(5))
  assert all(x["audio"].shape[0] == 4 for x, _ in batches)


def test_embedding_matrix_replaces_semantic(tiny_tfrecords, tiny_vec, tmp_path):  # noqa: F811
  out, _ = tiny_tfrecords
  stored = _collect(pipeline.make_dataset(out, "devel", 8, False, include_ids=True))[4]
  # The same .vec through the vocabulary reproduces the stored vectors exactly.
  m = schema.load_embedding_matrix(out, tiny_vec[0])
  via = _collect(
    pipeline.make_dataset(out, "devel", 8, False, include_ids=True, embedding_matrix=m)
  )[4]
  np.testing.assert_array_equal(via, stored)
  # Another space of another dimension: semantic[b, k] == matrix[word_index[b, k]].
  vocab = schema.read_vocab(out)
  other = np.random.default_rng(1).standard_normal((len(vocab), 5)).astype(np.float32)
  other[0] = 0
  ds = pipeline.make_dataset(out, "devel", 8, False, embedding_matrix=other)
  sem = np.concatenate([x["semantic"].numpy() for x, _ in ds])
  import tensorflow as tf

  files = pipeline.shard_files(out, "devel")
  idx = np.stack(
    [
      schema.parse_example(r, 100, 2205, 8)["word_index"].numpy()
      for r in tf.data.TFRecordDataset(list(files))
    ]
  )
  np.testing.assert_array_equal(sem, other[idx])
  with pytest.raises(ValueError, match="embedding_matrix must be"):
    pipeline.make_dataset(out, "devel", 8, False, embedding_matrix=other[:-1])


def test_errors(tiny_tfrecords, tmp_path):  # noqa: F811
  out, _ = tiny_tfrecords
  with pytest.raises(FileNotFoundError, match="no shards"):
    pipeline.make_dataset(out, "nothing", 2, False)
  with pytest.raises(FileNotFoundError, match="metadata.json"):
    pipeline.make_dataset(str(tmp_path), "train", 2, False)
  p = np.zeros((2, 4, 3), np.float32)
  with pytest.raises(ValueError, match="appears twice"):
    pipeline.stitch_predictions(["a", "a"], [0, 0], [4, 4], p)
  with pytest.raises(ValueError, match=r"lacks chunks \[1\]"):
    pipeline.stitch_predictions(["a", "a"], [0, 2], [4, 4], p)
  with pytest.raises(ValueError, match="2 ids"):
    pipeline.stitch_predictions(["a", "b"], [0], [4], p)
  assert os.path.exists(os.path.join(out, "vocab.txt"))
