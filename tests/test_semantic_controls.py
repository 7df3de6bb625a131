"""Meaning vs identity: the random-vector and Word2Vec-lookup controls, unseen-word valence CCC."""

import glob
import os

import numpy as np
import pytest
import tensorflow as tf

from emotion_tf.data import pipeline, schema, vectors
from emotion_tf.semantic import controls
from emotion_tf.training import unseen_words


def _frames_by_example(data_dir, partition):
  """(word_index [N, F], semantic [N, F, d] as the pipeline gives it) in shard order, read with
  tf.train.Example (not the pipeline's parser)."""
  out = []
  for path in sorted(glob.glob(os.path.join(data_dir, f"{partition}-*.tfrecord"))):
    for raw in tf.data.TFRecordDataset(path):
      ex = tf.train.Example.FromString(raw.numpy())
      out.append(np.array(ex.features.feature["word_index"].int64_list.value))
  return np.stack(out)


def _pipeline_semantic(data_dir, partition, matrix):
  ds = pipeline.make_dataset(data_dir, partition, 64, False, embedding_matrix=matrix)
  return np.concatenate([x["semantic"].numpy() for x, _ in ds])


def test_random_control_is_a_seeded_unit_vector_per_word_type(tiny_tfrecords, tmp_path):
  data_dir = tiny_tfrecords[0]
  vocab = schema.read_vocab(data_dir)
  path = controls.write_random_vec(data_dir, str(tmp_path / "r.vec"), 6, seed=4)
  words, vecs = vectors.read_vec(path)
  assert words == vocab[1:]
  np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
  # independent reference: numpy draws of the same seed, normalised
  ref = np.random.default_rng(4).standard_normal((len(vocab) - 1, 6))
  ref /= np.linalg.norm(ref, axis=1, keepdims=True)
  np.testing.assert_allclose(vecs, ref, atol=1e-5)
  assert not np.allclose(
    controls.random_type_vectors(5, 6, 4), controls.random_type_vectors(5, 6, 5)
  )
  # what the model reads per frame = that vector of the frame's word, zeros without a word
  word_index = _frames_by_example(data_dir, "train")
  semantic = _pipeline_semantic(data_dir, "train", schema.load_embedding_matrix(data_dir, path))
  table = np.concatenate([np.zeros((1, 6)), ref])
  np.testing.assert_allclose(semantic, table[word_index], atol=1e-5)
  assert (word_index == 0).any() and (word_index > 0).any()
  np.testing.assert_array_equal(semantic[word_index == 0], 0.0)
  np.testing.assert_allclose(controls.lookup(table, word_index), table[word_index])


def test_word2vec_lookup_gives_each_frame_its_word_vector(tiny_tfrecords, tiny_vec):
  data_dir = tiny_tfrecords[0]
  path, w2v_words, w2v = tiny_vec
  vocab = schema.read_vocab(data_dir)
  text = dict(zip(w2v_words, w2v, strict=False))
  word_index = _frames_by_example(data_dir, "test")
  semantic = _pipeline_semantic(
    data_dir, "test", schema.load_embedding_matrix(data_dir, path, "zeros")
  )
  expected = np.zeros(word_index.shape + (w2v.shape[1],), np.float32)
  for idx in np.unique(word_index[word_index > 0]):
    if vocab[idx] in text:
      expected[word_index == idx] = text[vocab[idx]]
  np.testing.assert_allclose(semantic, expected, atol=1e-6)


def _ccc(x, y):
  """Lin's concordance correlation, written out (population moments)."""
  mx, my = x.mean(), y.mean()
  cov = ((x - mx) * (y - my)).mean()
  return 2 * cov / (x.var() + y.var() + (mx - my) ** 2)


def test_unseen_word_ccc_matches_hand_computed_numpy():
  names = ("arousal", "valence", "liking")
  rng = np.random.default_rng(0)
  word_index = {
    "Test_01": np.array([0, 1, 1, 5, 5, 7, 0, 2, 9, 9]),
    "Test_02": np.array([3, 3, 8, 8, 0, 0, 1, 6, 6, 4]),
  }
  labels = {r: rng.uniform(-1, 1, (10, 3)) for r in word_index}
  preds = {r: rng.uniform(-1, 1, (10, 3)) for r in word_index}
  seen = np.array([1, 2, 3, 4])  # words of labelled Train
  result = unseen_words.unseen_word_ccc(labels, preds, word_index, seen, names)
  # by hand: unseen frames are those with words 5, 6, 7, 8, 9
  mask1 = np.array([0, 0, 0, 1, 1, 1, 0, 0, 1, 1], bool)
  mask2 = np.array([0, 0, 1, 1, 0, 0, 0, 1, 1, 0], bool)
  gold = np.concatenate([labels["Test_01"][mask1, 1], labels["Test_02"][mask2, 1]])
  pred = np.concatenate([preds["Test_01"][mask1, 1], preds["Test_02"][mask2, 1]])
  assert result["unseen"]["ccc"]["valence"] == pytest.approx(_ccc(gold, pred), abs=1e-12)
  assert result["unseen"]["num_frames"] == 9 and result["unseen"]["word_types"] == 5
  seen1 = np.array([0, 1, 1, 0, 0, 0, 0, 1, 0, 0], bool)
  seen2 = np.array([1, 1, 0, 0, 0, 0, 1, 0, 0, 1], bool)
  gold_s = np.concatenate([labels["Test_01"][seen1, 0], labels["Test_02"][seen2, 0]])
  pred_s = np.concatenate([preds["Test_01"][seen1, 0], preds["Test_02"][seen2, 0]])
  assert result["seen"]["ccc"]["arousal"] == pytest.approx(_ccc(gold_s, pred_s), abs=1e-12)
  assert result["seen"]["num_frames"] == 7 and result["word_frames"] == 16
  assert result["unseen_frame_share"] == pytest.approx(9 / 16)
  # every word seen: no unseen frames, no CCC
  none = unseen_words.unseen_word_ccc(labels, preds, word_index, np.arange(10), names)
  assert none["unseen"]["num_frames"] == 0 and none["unseen"]["ccc"]["valence"] is None
  with pytest.raises(ValueError, match="Test_02: 3 word indices"):
    unseen_words.unseen_word_ccc(
      labels, preds, dict(word_index, Test_02=np.array([1, 2, 3])), seen, names
    )


def test_train_vocabulary_from_shards_matches_the_train_word_timings(tiny_tfrecords, tiny_corpus):
  data_dir = tiny_tfrecords[0]
  vocab = schema.read_vocab(data_dir)
  seen = {
    vocab[i] for i in unseen_words.seen_words(unseen_words.read_word_index(data_dir, "train"))
  }
  timed = set()
  for path in glob.glob(os.path.join(tiny_corpus, "word_timings", "Train_*.csv")):
    with open(path, encoding="utf-8") as f:
      timed |= {line.rstrip("\n").split(";")[3] for line in f if line.strip()}
  assert seen == timed
  words = unseen_words.read_word_index(data_dir, "test")
  ds = pipeline.make_dataset(data_dir, "test", 8, False, include_ids=True)
  ids, chunks, nums, labels = [], [], [], []
  for x, y in ds:
    ids += x["recording_id"].numpy().tolist()
    chunks.append(x["chunk_index"].numpy())
    nums.append(x["num_frames"].numpy())
    labels.append(y.numpy())
  stitched = pipeline.stitch_predictions(
    ids, np.concatenate(chunks), np.concatenate(nums), np.concatenate(labels)
  )
  assert sorted(words) == sorted(stitched) == ["Test_01"]
  assert words["Test_01"].shape == (stitched["Test_01"].shape[0],)
  np.testing.assert_array_equal(
    words["Test_01"], _frames_by_example(data_dir, "test").reshape(-1)[: len(words["Test_01"])]
  )


def test_ablate_control_rows_and_unseen_valence(tiny_tfrecords, tiny_vec, tmp_path):
  from emotion_tf.experiments import ablate_lib
  from emotion_tf.model import model_dir as model_dir_lib
  from emotion_tf.training import evaluate_lib

  data_dir = tiny_tfrecords[0]
  out = str(tmp_path / "ablation")
  results = ablate_lib.run_ablation(
    data_dir,
    {"word2vec": tiny_vec[0], "aligned": tiny_vec[0]},
    out,
    epochs=1,
    learning_rate=1e-2,
    batch_size=2,
    seed=1,
    seeds=1,
    bootstrap_resamples=0,
    rows=["random_vector_per_word", "word2vec_lookup"],
    model_overrides=dict(cnn_filters=(4, 6, 8), fusion_units=8, lstm_units=8),
  )
  assert [r["name"] for r in results] == ["Random vector per word", "Word2Vec lookup"]
  random_row, w2v_row = results
  assert random_row["variant"] == w2v_row["variant"] == "disentangled_attention"
  assert w2v_row["embeddings"] == tiny_vec[0]
  assert random_row["embeddings"] == os.path.join(out, "controls", "seed_0", "random_vectors.vec")
  words, vecs = vectors.read_vec(random_row["embeddings"])
  assert words == schema.read_vocab(data_dir)[1:] and vecs.shape[1] == tiny_vec[2].shape[1]
  for row in results:
    model = model_dir_lib.load_trained_model(
      os.path.join(out, ablate_lib.row_key(row["name"]), "seed_1"), "best"
    )
    summary = evaluate_lib.evaluate_partition(
      model,
      data_dir,
      "Devel",
      batch_size=2,
      embedding_matrix=schema.load_embedding_matrix(data_dir, row["embeddings"]),
    )
    assert row["unseen_valence"] is not None
    assert row["unseen_valence"] == pytest.approx(unseen_words.unseen_valence(summary), abs=1e-6)
    assert row["unseen_frames"] == summary["unseen_words"]["unseen"]["num_frames"] > 0
  with open(os.path.join(out, "ablation.md"), encoding="utf-8") as f:
    md = f.read()
  assert "Unseen-word valence" in md
  block = md[md.index("Unseen-word valence") :]
  line = next(x for x in block.splitlines() if x.startswith("Random vector per word"))
  assert float(line.split()[5]) == pytest.approx(random_row["unseen_valence"], abs=6e-4)
