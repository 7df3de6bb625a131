"""TFRecord schema and writer: the values read back equal what went in; shards, reruns, slices."""

import json
import os
import pathlib

import numpy as np
import pytest
import tensorflow as tf

from data_prep import write_tfrecords_lib
from emotion_tf.data import corpus, schema
from emotion_tf.data import word_timings as wt


def _example(frames=4, spf=5, dim=3, valid=3, seed=0):
  rng = np.random.default_rng(seed)
  return dict(
    recording_id="Train_07",
    chunk_index=2,
    num_frames=valid,
    audio=rng.uniform(-1, 1, frames * spf).astype(np.float32),
    semantic=rng.standard_normal((frames, dim)).astype(np.float32),
    word_index=rng.integers(0, 9, frames),
    labels=rng.uniform(-1, 1, (frames, 3)),
  )


def test_schema_round_trip_float32_exact():
  ex = _example()
  got = schema.parse_example(tf.constant(schema.serialize_example(**ex)), 4, 5, 3)
  assert got["recording_id"].numpy() == b"Train_07"
  assert int(got["chunk_index"]) == 2 and int(got["num_frames"]) == 3
  assert got["num_frames"].dtype == tf.int32
  np.testing.assert_array_equal(got["audio"].numpy(), ex["audio"])
  np.testing.assert_array_equal(got["semantic"].numpy(), ex["semantic"])
  np.testing.assert_array_equal(got["word_index"].numpy(), ex["word_index"])
  np.testing.assert_array_equal(got["labels"].numpy(), ex["labels"].astype(np.float32))


def test_schema_int16_audio_within_one_step():
  ex = _example()
  got = schema.parse_example(
    tf.constant(schema.serialize_example(**ex, audio_dtype="int16")), 4, 5, 3, "int16"
  )
  np.testing.assert_allclose(got["audio"].numpy(), ex["audio"], atol=1 / 32768)


def test_schema_rejects_bad_shapes():
  ex = _example()
  ex["labels"] = ex["labels"][:, :2]
  with pytest.raises(ValueError, match="Train_07: labels must be"):
    schema.serialize_example(**ex)
  ex = _example()
  ex["num_frames"] = 5
  with pytest.raises(ValueError, match="num_frames 5"):
    schema.serialize_example(**ex)


def test_metadata_and_vocab_helpers(tmp_path):
  d = str(tmp_path)
  with pytest.raises(FileNotFoundError, match="metadata.json: missing"):
    schema.read_metadata(d)
  with pytest.raises(schema.MetadataError, match="metadata.json: missing key 'sample_rate'"):
    schema.write_metadata(d, {"a": 1})  # refused before anything is written
  assert not os.path.exists(os.path.join(d, schema.METADATA_FILE))
  written = {
    "sample_rate": "16000",
    "samples_per_frame": 1600,
    "frames_per_chunk": 50,
    "semantic_dim": 4,
    "label_names": ["a", "v", "l"],
    "frame_hop_s": 0.1,
    "complete": False,
    "failed_recordings": {"Train_02": "bad wav"},
    "extra": [1, 2],
  }
  schema.write_metadata(d, written)
  meta = schema.read_metadata(d)
  assert (meta.sample_rate, meta.samples_per_frame, meta.frames_per_chunk, meta.semantic_dim) == (
    16000,
    1600,
    50,
    4,
  )
  assert meta.label_names == ("a", "v", "l") and meta.hop_seconds == 0.1
  assert meta.complete is False and meta.failed_recordings == {"Train_02": "bad wav"}
  assert (meta.oov, meta.audio_dtype, meta.subject_turn, meta.embeddings_file) == (
    "zeros",
    "float32",
    False,
    None,
  )  # defaults of keys the file lacks
  assert meta.fields == {**written, "schema_version": schema.SCHEMA_VERSION}
  assert meta.path == os.path.join(d, schema.METADATA_FILE)
  (tmp_path / "metadata.json").write_text(
    json.dumps({**written, "schema_version": schema.SCHEMA_VERSION, "semantic_dim": "four"})
  )
  with pytest.raises(schema.MetadataError, match="metadata.json: semantic_dim 'four'"):
    schema.read_metadata(d)
  (tmp_path / "metadata.json").write_text(json.dumps({"schema_version": 999}))
  with pytest.raises(ValueError, match="schema_version 999"):
    schema.read_metadata(d)
  schema.write_vocab(d, ["b", "a"])
  assert schema.read_vocab(d) == ["<none>", "b", "a"]


def test_oov_vectors_deterministic_and_matrix():
  a = schema.oov_vector("zzz", 6, 0.5)
  np.testing.assert_array_equal(a, schema.oov_vector("zzz", 6, 0.5))
  assert not np.allclose(a, schema.oov_vector("zzy", 6, 0.5))
  words, vecs = ["x", "y"], np.arange(6, dtype=np.float32).reshape(2, 3)
  m = schema.build_embedding_matrix(["<none>", "y", "q", "x"], words, vecs, "zeros")
  np.testing.assert_array_equal(m, [[0, 0, 0], [3, 4, 5], [0, 0, 0], [0, 1, 2]])
  h = schema.build_embedding_matrix(["<none>", "y", "q"], words, vecs, "hash")
  np.testing.assert_array_equal(h[2], schema.oov_vector("q", 3, float(vecs.std())))


def _read_all(out_dir, meta):
  """{recording_id: {field: array concatenated over chunks in order}} from every shard."""
  recs = {}
  files = sorted(f for f in os.listdir(out_dir) if f.endswith(".tfrecord"))
  for f in files:
    for raw in tf.data.TFRecordDataset(os.path.join(out_dir, f)):
      ex = schema.parse_example(
        raw, meta.frames_per_chunk, meta.samples_per_frame, meta.semantic_dim, meta.audio_dtype
      )
      rid = ex["recording_id"].numpy().decode()
      n = int(ex["num_frames"])
      r = recs.setdefault(
        rid,
        {
          "chunks": [],
          "audio": [],
          "semantic": [],
          "word_index": [],
          "labels": [],
          "pad_zero": True,
        },
      )
      r["chunks"].append(int(ex["chunk_index"]))
      r["audio"].append(ex["audio"].numpy()[: n * 2205])
      r["semantic"].append(ex["semantic"].numpy()[:n])
      r["word_index"].append(ex["word_index"].numpy()[:n])
      r["labels"].append(ex["labels"].numpy()[:n])
      r["pad_zero"] &= (
        not ex["audio"].numpy()[n * 2205 :].any()
        and not ex["labels"].numpy()[n:].any()
        and not ex["word_index"].numpy()[n:].any()
      )
  return {
    k: {
      f: (np.concatenate(v) if isinstance(v, list) and f != "chunks" else v) for f, v in r.items()
    }
    for k, r in recs.items()
  }


def test_writer_round_trip_equals_inputs(tiny_corpus, tiny_vec, tiny_tfrecords):  # noqa: F811
  out, report = tiny_tfrecords
  meta = schema.read_metadata(out)
  vocab = schema.read_vocab(out)
  vec_path, words, vectors = tiny_vec
  emb = dict(zip(words, vectors, strict=False))
  assert meta.semantic_dim == 8 and meta.vocab_size == len(vocab) and meta.complete
  assert meta.partitions["train"]["num_shards"] == 2
  assert meta.partitions["train"]["examples"] == 6 and meta.partitions["devel"]["examples"] == 3
  got = _read_all(out, meta)
  assert sorted(got) == ["Devel_01", "Test_01", "Train_01", "Train_02"]
  for rec in corpus.list_recordings(tiny_corpus):
    r = got[rec.recording_id]
    assert r["chunks"] == [0, 1, 2] and r["pad_zero"]
    np.testing.assert_array_equal(r["audio"], corpus.load_audio(rec.audio_path))
    np.testing.assert_array_equal(r["labels"], corpus.read_labels(rec.labels_path)[1])
    timings = wt.read_timings_csv(
      os.path.join(tiny_corpus, "word_timings", rec.recording_id + ".csv")
    )
    for k, idx in enumerate(r["word_index"]):  # independent reference: scan the word list
      c = (k + 0.5) * 0.1
      covering = [t.word for t in timings if t.start <= c < t.end]
      want_word = covering[-1] if covering else "<none>"
      assert vocab[idx] == want_word
      want_vec = emb.get(want_word, np.zeros(8, np.float32))
      np.testing.assert_array_equal(r["semantic"][k], want_vec)
    rep = next(x for x in report["recordings"] if x["recording_id"] == rec.recording_id)
    oov = sum(t.word not in emb for t in timings)
    assert rep["words"] == len(timings) and rep["oov_words"] == oov and rep["frames"] == 240
    assert rep["label_audio_gap_s"] == 0.0
  assert sum(r["oov_words"] for r in report["recordings"]) > 0  # the fixture leaves 5 words out
  assert not [f for f in os.listdir(out) if f.startswith(".")]
  saved = json.loads(pathlib.Path(os.path.join(out, "report.json")).read_text(encoding="utf-8"))
  assert saved["ok"] and len(saved["recordings"]) == 4


def _write(corpus, vec, out, **kw):
  """write_tfrecords in this process with the uniform split, as the library call used to."""
  job = write_tfrecords_lib.WriteJobConfig(
    corpus=corpus, embeddings=vec, out=out, word_timings="uniform", num_workers=1, **kw
  )
  return write_tfrecords_lib.write_tfrecords(job)


def test_rerun_skips_finished_shards_and_redoes_changed(tiny_corpus, tiny_vec, tmp_path):  # noqa: F811
  out = str(tmp_path / "o")
  kw = dict(shards_per_partition=1, audio_dtype="int16")
  first = _write(tiny_corpus, tiny_vec[0], out, oov="hash", **kw)
  assert len(first["shards_written"]) == 3
  mtimes = {f: os.stat(os.path.join(out, f)).st_mtime_ns for f in first["shards_written"]}
  again = _write(tiny_corpus, tiny_vec[0], out, oov="hash", **kw)
  assert again["shards_written"] == [] and sorted(again["shards_skipped"]) == sorted(mtimes)
  assert {f: os.stat(os.path.join(out, f)).st_mtime_ns for f in mtimes} == mtimes
  changed = _write(tiny_corpus, tiny_vec[0], out, oov="zeros", **kw)
  assert len(changed["shards_written"]) == 3
  assert schema.read_metadata(out).oov == "zeros"


def test_machine_slices_are_disjoint_and_complete(tiny_corpus, tiny_vec, tmp_path):  # noqa: F811
  out = str(tmp_path / "o")
  a = _write(tiny_corpus, tiny_vec[0], out, num_shards=2, shard_index=0, records_per_shard=1)
  assert not schema.read_metadata(out).complete
  b = _write(tiny_corpus, tiny_vec[0], out, num_shards=2, shard_index=1, records_per_shard=1)
  assert not set(a["shards_written"]) & set(b["shards_written"])
  assert len(a["shards_written"]) + len(b["shards_written"]) == 4
  meta = schema.read_metadata(out)
  assert meta.complete and sum(p["recordings"] for p in meta.partitions.values()) == 4
  with pytest.raises(ValueError, match="shard_index 2"):
    _write(tiny_corpus, tiny_vec[0], out, num_shards=2, shard_index=2)


def test_parallel_workers_write_the_same_shards(tiny_corpus, tiny_vec, tiny_tfrecords, tmp_path):  # noqa: F811
  out = str(tmp_path / "p")
  rep = write_tfrecords_lib.write_tfrecords(
    write_tfrecords_lib.WriteJobConfig(
      corpus=tiny_corpus,
      embeddings=tiny_vec[0],
      out=out,
      word_timings=os.path.join(tiny_corpus, "word_timings"),
      records_per_shard=1,
      num_workers=2,
    )
  )
  assert rep["ok"]
  ref = tiny_tfrecords[0]
  for f in sorted(os.listdir(ref)):
    if f.endswith(".tfrecord"):
      assert (
        pathlib.Path(os.path.join(ref, f)).read_bytes()
        == pathlib.Path(os.path.join(out, f)).read_bytes()
      )
