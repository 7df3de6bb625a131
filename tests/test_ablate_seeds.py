"""Ablation over several seeds: mean ± sd per row and paired bootstrap comparisons, on the tiny
fixture corpus (one epoch of a few steps per seed)."""

import os

import numpy as np
import pytest

from emotion_tf.data import schema
from emotion_tf.experiments import ablate_lib
from emotion_tf.model import model_dir as model_dir_lib
from emotion_tf.training import evaluate_lib, stats, train_lib

SMALL = dict(cnn_filters=(4, 6, 8), fusion_units=8, lstm_units=8)
NAMES = ("arousal", "valence", "liking")


def test_rows_average_seeds_and_compare_paired(tiny_tfrecords, tiny_vec, tmp_path, monkeypatch):
  data_dir = tiny_tfrecords[0]
  out = str(tmp_path / "ablation")
  kwargs = dict(
    epochs=1,
    learning_rate=1e-2,
    batch_size=2,
    seed=5,
    seeds=2,
    rows=["align_speech2vec", "paralinguistic"],
    model_overrides=SMALL,
    bootstrap_resamples=50,
  )
  results = ablate_lib.run_ablation(data_dir, {"aligned": tiny_vec[0]}, out, **kwargs)
  assert [r["name"] for r in results] == ["Align Speech2Vec", "Paralinguistic"]
  for row in results:
    assert row["seeds"] == [5, 6]
    # each seed's figure = an independent evaluation of that seed's best.keras
    per_seed = []
    for s in (5, 6):
      model_dir = os.path.join(out, ablate_lib.row_key(row["name"]), f"seed_{s}")
      matrix = (
        schema.load_embedding_matrix(data_dir, row["embeddings"]) if row["embeddings"] else None
      )
      r = evaluate_lib.evaluate_partition(
        model_dir_lib.load_trained_model(model_dir, "best"),
        data_dir,
        "Devel",
        batch_size=2,
        embedding_matrix=matrix,
      )
      per_seed.append([r["ccc"][n] for n in NAMES] + [r["ccc_mean"]])
    per_seed = np.array(per_seed)
    assert not np.allclose(per_seed[0], per_seed[1])  # the seeds differ
    got = [row["ccc"][n] for n in NAMES] + [row["ccc_mean"]]
    sd = [row["ccc_sd"][n] for n in NAMES] + [row["ccc_mean_sd"]]
    np.testing.assert_allclose(got, per_seed.mean(0), atol=1e-5)
    np.testing.assert_allclose(sd, np.abs(per_seed[0] - per_seed[1]) / np.sqrt(2), atol=1e-5)
  # A - B of the seed means; the fixture's Devel has one recording, so every resample is it
  (c,) = ablate_lib.compare_rows(results, resamples=50)
  assert (c["a"], c["b"]) == ("Align Speech2Vec", "Paralinguistic") and c["seeds"] == [2, 2]
  want = results[0]["ccc_mean"] - results[1]["ccc_mean"]
  assert c["value"]["mean"] == pytest.approx(want, abs=1e-9)
  assert c["ci"]["mean"] == pytest.approx([want, want], abs=1e-9)
  with open(os.path.join(out, "ablation.md"), encoding="utf-8") as f:
    md = f.read()
  line = next(x for x in md.splitlines() if x.startswith("Paralinguistic"))
  cells = line[len("Paralinguistic") :].split()
  assert [float(x.split("±")[0]) for x in cells] == pytest.approx(
    [results[1]["ccc"][n] for n in NAMES] + [results[1]["ccc_mean"]], abs=6e-4
  )
  assert "Align Speech2Vec - Paralinguistic" in md
  # a rerun reuses every row without training
  monkeypatch.setattr(train_lib, "train", lambda *a, **k: pytest.fail("retrained"))
  again = ablate_lib.run_ablation(data_dir, {"aligned": tiny_vec[0]}, out, **kwargs)
  assert [r["ccc"] for r in again] == [r["ccc"] for r in results]


def test_seed_statistics_of_a_row_match_the_summary():
  rng = np.random.default_rng(0)
  labels = {f"r{i}": rng.normal(size=(9, 3)) for i in range(3)}
  per_seed = []
  for seed in (0, 1, 2):
    preds = {k: v + rng.normal(size=v.shape) for k, v in labels.items()}
    s = evaluate_lib.ccc_summary(labels, preds)
    ids, st = stats.summary_statistics(s)
    per_seed.append(
      {
        "seed": seed,
        "ccc": s["ccc"],
        "ccc_mean": s["ccc_mean"],
        "per_recording_ccc_mean": s["per_recording_ccc_mean"],
        "epochs": 1,
        "steps": 1,
        "recording_ids": ids,
        "recording_statistics": st.tolist(),
      }
    )
  row = ablate_lib.aggregate_seeds(per_seed)
  values = np.array([[r["ccc"][n] for n in NAMES] for r in per_seed])
  np.testing.assert_allclose([row["ccc"][n] for n in NAMES], values.mean(0))
  np.testing.assert_allclose([row["ccc_sd"][n] for n in NAMES], values.std(0, ddof=1))
  np.testing.assert_allclose(stats.point_ccc(np.array(row["recording_statistics"])), values.mean(0))
  table = ablate_lib.format_tables([dict(row, table="Table 2", name="X")])
  assert f"{values[:, 1].mean():.3f}±{values[:, 1].std(ddof=1):.3f}" in table
  (interval,) = ablate_lib.row_intervals([dict(row, name="X")], resamples=50, seed=1)
  want = stats.bootstrap_ccc_ci(np.array(row["recording_statistics"]), 50, seed=1)
  assert interval["ci"] == want["ci"] and interval["value"]["liking"] == pytest.approx(
    values[:, 2].mean(), rel=1e-9
  )
  line = ablate_lib.format_intervals([interval]).splitlines()[-1]
  assert line.startswith("X") and stats.format_ci(want["value"]["mean"], want["ci"]["mean"]) in line
