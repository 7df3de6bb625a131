"""Evaluation: AVEC CCC against a numpy reference on tiny TFRecords, CSVs, JSON, CLI, bad input."""

import json
import os

import numpy as np
import pytest
from test_export import SMALL, make_model_dir, run_python

from emotion_tf.data import schema
from emotion_tf.data.vectors import write_vec
from emotion_tf.model import model_dir as model_dir_lib
from emotion_tf.training import evaluate_lib, stats

SPF = 2205
FPC = 10  # frames per chunk of the tiny shards
DIM = SMALL["semantic_dim"]
VOCAB = ["alpha", "beta", "gamma", "delta"]
# recording id -> frames; chunks of 10 frames, the last one zero-padded.
RECORDINGS = {"devel": {"Devel_01": 25, "Devel_02": 10, "Devel_03": 7}, "test": {"Test_01": 13}}


def reference_ccc(x, y):
  """Eq. 8 with population moments, written out per column."""
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  out = []
  for j in range(x.shape[1]):
    a, b = x[:, j], y[:, j]
    cov = np.mean((a - a.mean()) * (b - b.mean()))
    out.append(2 * cov / (a.var() + b.var() + (a.mean() - b.mean()) ** 2))
  return np.array(out)


def write_tiny_tfrecords(data_dir, seed=0):
  """Writes the shards of RECORDINGS; returns {id: dict(audio, semantic, word_index, labels)}."""
  import tensorflow as tf

  rng = np.random.default_rng(seed)
  os.makedirs(data_dir, exist_ok=True)
  truth = {}
  for partition, recs in RECORDINGS.items():
    path = os.path.join(data_dir, schema.shard_name(partition, 0, 1))
    with tf.io.TFRecordWriter(path) as writer:
      for rid, frames in recs.items():
        chunks = -(-frames // FPC)
        total = chunks * FPC
        audio = np.zeros(total * SPF, np.float32)
        audio[: frames * SPF] = rng.normal(scale=0.2, size=frames * SPF)
        word_index = np.zeros(total, np.int64)
        word_index[:frames] = rng.integers(0, len(VOCAB) + 1, size=frames)
        semantic = np.zeros((total, DIM), np.float32)
        semantic[:frames] = rng.normal(size=(frames, DIM))
        labels = np.zeros((total, 3), np.float32)
        labels[:frames] = np.tanh(np.cumsum(rng.normal(scale=0.3, size=(frames, 3)), 0))
        truth[rid] = dict(
          audio=audio, semantic=semantic, word_index=word_index, labels=labels, frames=frames
        )
        for c in range(chunks):
          lo, hi = c * FPC, (c + 1) * FPC
          writer.write(
            schema.serialize_example(
              rid,
              c,
              min(frames, hi) - lo,
              audio[lo * SPF : hi * SPF],
              semantic[lo:hi],
              word_index[lo:hi],
              labels[lo:hi],
            )
          )
  schema.write_vocab(data_dir, VOCAB)
  schema.write_metadata(
    data_dir,
    {
      "sample_rate": 22050,
      "samples_per_frame": SPF,
      "hop_seconds": 0.1,
      "frames_per_chunk": FPC,
      "semantic_dim": DIM,
      "audio_dtype": "float32",
      "vocab_size": len(VOCAB) + 1,
      "oov": "zeros",
    },
  )
  return truth


def reference_predictions(model, truth, ids, matrix=None):
  """Model run once over each whole recording's valid frames (the LSTM state flows across the
  10 s chunks the pipeline stores, as `predict` runs it)."""
  out = {}
  for rid in ids:
    t = truth[rid]
    semantic = t["semantic"] if matrix is None else matrix[t["word_index"]]
    n = t["frames"]
    out[rid] = model(
      {"audio": t["audio"][None, : n * SPF], "semantic": semantic[None, :n]}, training=False
    ).numpy()[0]
  return out


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
  root = tmp_path_factory.mktemp("eval")
  data_dir = str(root / "tfrecords")
  truth = write_tiny_tfrecords(data_dir)
  model_dir = str(root / "model")
  model = make_model_dir(model_dir, seed=7)
  return dict(root=root, data_dir=data_dir, truth=truth, model_dir=model_dir, model=model)


def test_ccc_summary_matches_numpy_reference():
  rng = np.random.default_rng(0)
  labels = {f"r{i}": rng.uniform(-1, 1, size=(n, 3)) for i, n in enumerate((40, 7, 90))}
  preds = {k: 0.5 * v + rng.normal(scale=0.3, size=v.shape) for k, v in labels.items()}
  s = evaluate_lib.ccc_summary(labels, preds)
  ids = sorted(labels)
  overall = reference_ccc(
    np.concatenate([labels[i] for i in ids]), np.concatenate([preds[i] for i in ids])
  )
  per_rec = np.array([reference_ccc(labels[i], preds[i]) for i in ids])
  np.testing.assert_allclose(
    [s["ccc"][n] for n in ("arousal", "valence", "liking")], overall, rtol=1e-10
  )
  assert s["ccc_mean"] == pytest.approx(overall.mean())
  np.testing.assert_allclose(list(s["per_recording_ccc"].values()), per_rec.mean(0), rtol=1e-10)
  assert s["per_recording_ccc_mean"] == pytest.approx(per_rec.mean())
  assert s["num_frames"] == 137 and s["num_recordings"] == 3
  assert s["recordings"]["r1"]["ccc_mean"] == pytest.approx(per_rec[1].mean())
  # The concatenated CCC is not the mean of per-recording CCCs (AVEC convention matters).
  assert abs(s["ccc_mean"] - s["per_recording_ccc_mean"]) > 1e-3
  # Perfect predictions give 1.
  assert evaluate_lib.ccc_summary(labels, labels)["ccc_mean"] == pytest.approx(1.0)
  with pytest.raises(ValueError, match="different recordings"):
    evaluate_lib.ccc_summary(labels, {"r0": preds["r0"]})
  with pytest.raises(ValueError, match=r"r0: labels \(40, 3\) and predictions \(40, 2\)"):
    evaluate_lib.ccc_summary({"r0": labels["r0"]}, {"r0": preds["r0"][:, :2]})


def test_prediction_csv_reads_back_as_a_label_file(tmp_path):
  from emotion_tf.data import corpus

  rng = np.random.default_rng(5)
  pred = np.tanh(rng.normal(size=(31, 3)))
  path = str(tmp_path / "Devel_09.csv")
  evaluate_lib.write_prediction_csv(path, "Devel_09", pred)
  times, values = corpus.read_labels(path)
  np.testing.assert_allclose(times, np.arange(31) * 0.1, atol=1e-9)
  np.testing.assert_allclose(values, pred, atol=5e-7)
  assert (
    evaluate_lib.format_prediction_csv("x", pred[:2], 0.04).splitlines()[1].startswith("x;0.04;")
  )
  with pytest.raises(ValueError, match=r"x: predictions must be \[frames, 3\]"):
    evaluate_lib.format_prediction_csv("x", pred[:, :2])


def test_evaluate_partition_stitches_chunks_and_matches_reference(setup):
  model, truth = setup["model"], setup["truth"]
  r = evaluate_lib.evaluate_partition(
    model, setup["data_dir"], "Devel", batch_size=2, return_predictions=True
  )
  ids = sorted(RECORDINGS["devel"])
  ref = reference_predictions(model, truth, ids)
  assert sorted(r["predictions"]) == ids
  for rid in ids:
    assert r["predictions"][rid].shape == (truth[rid]["frames"], 3)
    np.testing.assert_allclose(r["predictions"][rid], ref[rid], rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(r["labels"][rid], truth[rid]["labels"][: truth[rid]["frames"]])
  gold = np.concatenate([truth[i]["labels"][: truth[i]["frames"]] for i in ids])
  want = reference_ccc(gold, np.concatenate([ref[i] for i in ids]))
  np.testing.assert_allclose(list(r["ccc"].values()), want, rtol=1e-3, atol=1e-5)
  assert r["num_frames"] == 42 and r["partition"] == "Devel"


def test_embedding_swap_uses_word_index(setup, tmp_path):
  rng = np.random.default_rng(3)
  vec_path = str(tmp_path / "other.vec")
  words = ["gamma", "alpha", "zeta"]  # beta, delta missing -> zero rows
  write_vec(vec_path, words, rng.normal(size=(3, DIM)).astype(np.float32))
  matrix = schema.load_embedding_matrix(setup["data_dir"], vec_path)
  assert matrix.shape == (len(VOCAB) + 1, DIM)
  r = evaluate_lib.evaluate_partition(
    setup["model"], setup["data_dir"], "test", embedding_matrix=matrix, return_predictions=True
  )
  ref = reference_predictions(setup["model"], setup["truth"], ["Test_01"], matrix)
  np.testing.assert_allclose(r["predictions"]["Test_01"], ref["Test_01"], rtol=1e-4, atol=1e-5)
  summary = evaluate_lib.run_evaluation(
    setup["model_dir"],
    setup["data_dir"],
    ["test"],
    out_dir=str(tmp_path / "swap"),
    embeddings=vec_path,
    bootstrap_resamples=0,
  )
  assert summary["partitions"]["test"]["ccc"] == pytest.approx(r["ccc"], rel=1e-4, abs=1e-6)
  assert "ccc_ci" not in summary["partitions"]["test"] and "bootstrap" not in summary
  assert "[" not in evaluate_lib.format_table(summary)
  assert summary["embeddings"] == os.path.abspath(vec_path)
  bad = str(tmp_path / "dim5.vec")
  write_vec(bad, words, np.ones((3, 5), np.float32))
  with pytest.raises(ValueError, match=r"dim5.vec: vectors have dimension 5.*semantic_dim 8"):
    evaluate_lib.run_evaluation(
      setup["model_dir"],
      setup["data_dir"],
      ["devel"],
      out_dir=str(tmp_path / "out"),
      embeddings=bad,
    )


def test_run_evaluation_writes_csvs_and_json(setup, tmp_path):
  out = str(tmp_path / "eval")
  summary = evaluate_lib.run_evaluation(
    setup["model_dir"], setup["data_dir"], ["Devel", "Test"], out_dir=out, batch_size=3
  )
  with open(os.path.join(out, "evaluation.json"), encoding="utf-8") as f:
    on_disk = json.load(f)
  assert on_disk == json.loads(json.dumps(summary))
  assert sorted(on_disk["partitions"]) == ["devel", "test"] and not on_disk["errors"]
  ref = reference_predictions(setup["model"], setup["truth"], ["Devel_01", "Test_01"])
  for partition, rid in (("devel", "Devel_01"), ("test", "Test_01")):
    path = os.path.join(out, "predictions", partition, rid + ".csv")
    with open(path, encoding="utf-8") as f:
      rows = [line.split(";") for line in f.read().splitlines()]
    assert len(rows) == setup["truth"][rid]["frames"]
    assert [r[0] for r in rows] == [rid] * len(rows)
    assert [r[1] for r in rows[:3]] == ["0.0", "0.1", "0.2"]
    np.testing.assert_allclose(np.array([r[2:] for r in rows], float), ref[rid], atol=2e-5)
  # 95 % bootstrap CI over recordings = percentiles of the naive concatenated CCC of resamples
  assert on_disk["bootstrap"] == {
    "resamples": 1000,
    "seed": 0,
    "confidence": 0.95,
    "unit": "recording",
  }
  ids = sorted(RECORDINGS["devel"])
  ref = reference_predictions(setup["model"], setup["truth"], ids)
  gold = {i: setup["truth"][i]["labels"][: setup["truth"][i]["frames"]] for i in ids}
  naive = []
  for row in stats.resample_counts(len(ids), 1000, seed=0):
    drawn = [i for i, c in zip(ids, row, strict=False) for _ in range(c)]
    naive.append(
      reference_ccc(
        np.concatenate([gold[i] for i in drawn]), np.concatenate([ref[i] for i in drawn])
      )
    )
  naive = np.array(naive)
  lo, hi = np.quantile(np.concatenate([naive, naive.mean(1, keepdims=True)], 1), [0.025, 0.975], 0)
  ci = on_disk["partitions"]["devel"]["ccc_ci"]
  np.testing.assert_allclose(
    [ci[k] for k in ("arousal", "valence", "liking", "mean")], np.stack([lo, hi], 1), atol=1e-3
  )
  table = evaluate_lib.format_table(summary)
  assert table.splitlines()[0].split() == ["partition", "arousal", "valence", "liking", "mean"]
  assert table.splitlines()[1].split()[0] == "devel"
  assert table.splitlines()[1].count("[") == 4 and "1000 resamples, seed 0" in table
  assert not [n for n in os.listdir(out) if n.startswith(".tmp")]


def test_cli_reports_failed_partition_and_still_writes_others(setup, tmp_path):
  out = str(tmp_path / "cli")
  r = run_python(
    [
      "-m",
      "emotion_tf.evaluate",
      "--model_dir",
      setup["model_dir"],
      "--data_dir",
      setup["data_dir"],
      "--partitions",
      "Devel,Train",
      "--out",
      out,
    ]
  )
  assert r.returncode == 1
  assert "devel" in r.stdout and "mean" in r.stdout
  assert "partition train" in r.stderr and "no shards" in r.stderr
  with open(os.path.join(out, "evaluation.json"), encoding="utf-8") as f:
    summary = json.load(f)
  assert list(summary["partitions"]) == ["devel"] and "train" in summary["errors"]
  assert len(os.listdir(os.path.join(out, "predictions", "devel"))) == 3


def test_bad_model_dir_and_metadata(setup, tmp_path):
  with pytest.raises(model_dir_lib.ModelDirError, match="no best.keras or last.keras"):
    evaluate_lib.run_evaluation(str(tmp_path), setup["data_dir"], ["devel"])
  with pytest.raises(FileNotFoundError, match="metadata.json: missing"):
    evaluate_lib.run_evaluation(setup["model_dir"], str(tmp_path), ["devel"])
  wrong = make_model_dir(str(tmp_path / "m16"), semantic_dim=16)
  with pytest.raises(
    ValueError,
    match=r"metadata.json: semantic dimension 8 differs from the "
    r"model's semantic_dim 16",
  ):
    evaluate_lib.evaluate_partition(wrong, setup["data_dir"], "devel")
  with pytest.raises(ValueError, match="no partitions"):
    evaluate_lib.run_evaluation(setup["model_dir"], setup["data_dir"], [" "])
