"""Sharded Speech2Vec segments: write/read round trip, and streamed skip-gram rows equal to
the in-memory path's (`segments.context_indices` / `speech2vec._make_dataset`)."""

import collections
import os

import numpy as np
import pytest

from emotion_tf.semantic import mfcc as mfcc_lib
from emotion_tf.semantic import segment_shards, speech2vec, speech2vec_stream
from emotion_tf.semantic import segments as segments_lib

FRAMES, FEATS = 6, 3


def _recordings(rng, sizes=(7, 1, 12, 5)):
  """Recordings of random segments; segment i carries its id i + 1 in feature 0 of every frame."""
  out, k = [], 0
  for r, n in enumerate(sizes):
    lens = rng.integers(2, FRAMES + 1, size=n).astype(np.int32)
    feats = rng.normal(size=(n, FRAMES, FEATS)).astype(np.float32)
    feats[:, :, 0] = (k + np.arange(n) + 1)[:, None]
    feats *= np.arange(FRAMES)[None, :, None] < lens[:, None, None]
    dur = rng.uniform(0.1, 0.4, size=n)
    gaps = np.where(rng.random(n) < 0.2, 3.0, 0.1)  # some pauses longer than max_gap 2 s
    starts = np.cumsum(gaps + np.r_[0.0, dur[:-1]])
    words = [f"w{int(x)}" for x in rng.integers(0, 5, size=n)]
    out.append(segments_lib.Segments(feats, lens, words, [f"rec{r}"] * n, starts, starts + dur))
    k += n
  return out


def _write(tmp_path, recs, per_shard=10):
  out = os.path.join(str(tmp_path), "segs")
  w = segment_shards.ShardWriter(out, FRAMES, FEATS, segments_per_shard=per_shard)
  for r in recs:
    w.add(r)
  w.close({"test": True})
  return out


def test_round_trip_and_normaliser(tmp_path):
  recs = _recordings(np.random.default_rng(0))
  out = _write(tmp_path, recs)
  meta = segment_shards.read_meta(out)
  assert meta["shards"] == 2 and meta["segments"] == 25 and meta["recordings"] == 4
  assert sorted(os.listdir(out))[0] == "segments-00000-of-00002.tfrecord"
  back = list(segment_shards.read_recordings(out))
  assert len(back) == len(recs)
  for a, b in zip(recs, back, strict=False):
    np.testing.assert_array_equal(a.features, b.features)
    np.testing.assert_array_equal(a.lengths, b.lengths)
    assert a.words == b.words and a.recording_ids == b.recording_ids
    np.testing.assert_allclose(a.starts, b.starts, atol=1e-5)
    np.testing.assert_allclose(a.ends, b.ends, atol=1e-5)
  allsegs = segments_lib.Segments.concatenate(recs, FRAMES, FEATS)
  ref = mfcc_lib.Normalizer.fit(allsegs.features, allsegs.lengths)
  got = segment_shards.normalizer_from_meta(meta)
  np.testing.assert_allclose(got.mean, ref.mean, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(got.std, ref.std, rtol=1e-5)
  assert got.count == ref.count
  assert meta["word_counts"] == dict(collections.Counter(allsegs.words))


def test_incomplete_directory_is_rejected(tmp_path):
  out = _write(tmp_path, _recordings(np.random.default_rng(1)))
  os.remove(os.path.join(out, "segments-00001-of-00002.tfrecord"))
  with pytest.raises(ValueError, match="shards missing"):
    segment_shards.read_meta(out)
  with pytest.raises(ValueError, match="not a complete"):
    segment_shards.read_meta(str(tmp_path))


def _rows(batches, n_rows):
  """Multiset of (centre id, neighbour ids with -1 for an empty slot) from batches of size 1."""
  rows = collections.Counter()
  for center, _, ctx, ctx_len in batches.take(n_rows):
    cid = int(round(float(center[0, 0, 0]))) - 1
    nb = tuple(
      int(round(float(ctx[0, j, 0, 0]))) - 1 if int(ctx_len[0, j]) > 0 else -1
      for j in range(ctx.shape[1])
    )
    rows[(cid, nb)] += 1
  return rows


def test_streamed_rows_equal_in_memory_rows(tmp_path):
  recs = _recordings(np.random.default_rng(2))
  out = _write(tmp_path, recs, per_shard=8)
  allsegs = segments_lib.Segments.concatenate(recs, FRAMES, FEATS)
  identity = mfcc_lib.Normalizer(np.zeros(FEATS, np.float32), np.ones(FEATS, np.float32), 1)
  window, gap = 2, 2.0
  ctx = segments_lib.context_indices(allsegs, window, gap)
  centres = np.flatnonzero((ctx >= 0).any(axis=1))
  expected = collections.Counter((int(i), tuple(int(j) for j in ctx[i])) for i in centres)
  assert 0 < len(centres) < len(allsegs)  # isolated words exist and are not centres
  memory = speech2vec._make_dataset(allsegs.features, allsegs.lengths, ctx, centres, 1, 0)
  assert _rows(memory, len(centres)) == expected
  settings = speech2vec_stream.StreamSettings(shuffle=False)
  streamed = speech2vec_stream.stream_dataset([out], identity, window, gap, 1, 0, None, settings)
  assert _rows(streamed, len(centres)) == expected
  shuffled = speech2vec_stream.stream_dataset(
    [out], identity, window, gap, 1, 0, None, speech2vec_stream.StreamSettings(shuffle_buffer=5)
  )
  # The shuffle buffer mixes neighbouring epochs: over several epochs, the same rows and no other.
  assert set(_rows(shuffled, 4 * len(centres))) == set(expected)


def test_keep_table_matches_token_keep_probabilities():
  words = ["a"] * 50 + ["b"] * 5 + ["c"]
  table = speech2vec_stream.keep_table(dict(collections.Counter(words)), 1e-2)
  np.testing.assert_allclose(
    [table[w] for w in words], speech2vec.keep_probabilities(words, 1e-2), rtol=1e-6
  )


def test_streamed_training_writes_checkpoints_and_reduces_loss(tmp_path):
  recs = _recordings(np.random.default_rng(3), sizes=(40, 40, 40))
  out = _write(tmp_path, recs, per_shard=50)
  meta = segment_shards.read_meta(out)
  norm = segment_shards.normalizer_from_meta(meta)
  cfg = speech2vec.Speech2VecConfig(
    num_features=FEATS,
    max_frames=FRAMES,
    resample_frames=0,
    subsample=0.0,
    encoder_units=8,
    embedding_dim=4,
    decoder_units=8,
    batch_size=8,
    epochs=6,
    learning_rate=1e-2,
    window=2,
    collapse_cosine=1.01,
  )
  probe = recs[0]
  model_dir = os.path.join(str(tmp_path), "model")
  _, res = speech2vec_stream.train_streamed(
    [out], norm, cfg, model_dir, norm.apply(probe.features, probe.lengths), probe.lengths
  )
  assert res.epochs_run == 6 and np.isfinite(res.last_loss)
  assert res.history[-1]["loss"] < res.history[0]["loss"]
  assert os.path.exists(os.path.join(model_dir, "checkpoints", "checkpoint"))
  with pytest.raises(ValueError, match="Speech2Vec settings need"):
    speech2vec_stream.train_streamed(
      [out],
      norm,
      speech2vec.Speech2VecConfig(num_features=FEATS),
      model_dir,
      probe.features,
      probe.lengths,
    )
