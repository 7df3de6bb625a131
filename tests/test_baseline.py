"""Tests of the AVEC 2017 baseline (emotion_tf.experiments.baseline_lib, emotion_tf.baseline)."""

import json
import os
import shutil
import subprocess
import sys

import binary_runner
import data_fixtures
import numpy as np
import pytest

from emotion_tf.data import corpus
from emotion_tf.experiments import baseline_lib as bl
from emotion_tf.model.ccc import concordance_cc_numpy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

tiny_corpus = data_fixtures.tiny_corpus  # the session fixture, used under this name


def run_python(args, timeout=300):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
  if args[0] == "-m":  # a binary: forked from the warm interpreter (tests/binary_runner.py)
    return binary_runner.run_module(args[1], args[2:], cwd=ROOT, env=env, timeout=timeout)
  return subprocess.run(
    [sys.executable] + args,
    cwd=ROOT,
    env=env,
    capture_output=True,
    text=True,
    timeout=timeout,
    check=False,
  )


def direct_window_features(lld_times, llds, label_times, w, anchor):
  """Reference: mean/std over the exact frame set of each window by boolean masks."""
  out = []
  for t in label_times:
    if anchor == "centre":
      mask = (lld_times >= t - w / 2) & (lld_times < t + w / 2)
    else:
      mask = (lld_times > t - w) & (lld_times <= t)
    if not mask.any():
      mask = np.zeros(len(lld_times), bool)
      mask[np.argmin(np.abs(lld_times - t))] = True
    x = llds[mask].astype(np.float64)
    out.append(np.concatenate([x.mean(0), x.std(0)]))
  return np.array(out)


@pytest.mark.parametrize("anchor", ["centre", "end"])
def test_window_features_match_direct_computation(anchor):
  rng = np.random.default_rng(0)
  lld_times = np.cumsum(rng.uniform(0.005, 0.015, 1500))  # irregular, ~15 s
  llds = (rng.normal(size=(1500, 4)) * [1, 10, 0.01, 300] + [0, -50, 3, 1500]).astype(np.float32)
  # label steps from before the audio (clipped / empty windows) to past its end
  label_times = np.round(np.arange(-2.0, lld_times[-1] + 2.0, 0.1), 6)
  got = bl.window_features(lld_times, llds, label_times, 2.5, anchor)
  ref = direct_window_features(lld_times, llds, label_times, 2.5, anchor)
  assert got.shape == (len(label_times), 8)
  scale = np.abs(ref).max(0)  # per-column scale: LLDs differ by orders of magnitude
  np.testing.assert_allclose(got / scale, ref / scale, rtol=0, atol=1e-9)
  lo, hi = bl.window_bounds(lld_times, label_times, 2.5, anchor)
  assert (hi - lo)[label_times < 0].max() < (hi - lo).max()  # clipped at the start
  assert (hi - lo)[label_times > lld_times[-1]].max() < (hi - lo).max()  # and at the end


def test_window_is_centred_on_or_ends_at_the_label_time():
  # one LLD = its own frame time, frames every 10 ms at 0.005 + 0.01 k (as openSMILE centres)
  lld_times = 0.005 + 0.01 * np.arange(3000)
  llds = lld_times[:, None].astype(np.float64)
  label_times = 0.1 * np.arange(10, 250)  # every 1 s window (either anchor) inside [0, 30) s
  centre = bl.window_features(lld_times, llds, label_times, 1.0, "centre")
  np.testing.assert_allclose(centre[:, 0], label_times, atol=1e-9)
  end = bl.window_features(lld_times, llds, label_times, 1.0, "end")
  np.testing.assert_allclose(end[:, 0], label_times - 0.5, atol=1e-9)
  # 100 frames spaced 10 ms: std of a uniform grid = 0.01 * sqrt((100^2 - 1) / 12)
  np.testing.assert_allclose(centre[:, 1], 0.01 * np.sqrt((100**2 - 1) / 12), rtol=1e-6)
  # a label delay d moves every window to t - d
  rec = bl.RecordingData(lld_times, llds, label_times, np.zeros((len(label_times), 3)))
  delayed = bl.partition_features({"r": rec}, 1.0, 2.0)["r"]
  np.testing.assert_allclose(delayed[30:, 0], label_times[30:] - 2.0, atol=1e-9)


def _synthetic_recordings(rng, n, true_window, true_delay, mix):
  """Recordings whose labels are a linear function of the true window's LLD means/stds."""
  out = {}
  for i in range(n):
    lld_times = 0.005 + 0.01 * np.arange(3000)
    # slowly varying LLDs so that windows of different lengths are distinguishable
    steps = rng.normal(size=(3000 // 50 + 1, 3))
    llds = np.repeat(steps, 50, axis=0)[:3000] + 0.3 * rng.normal(size=(3000, 3))
    label_times = 0.1 * np.arange(300)
    feats = bl.window_features(lld_times, llds, label_times - true_delay, true_window)
    y = np.tanh(0.5 * (feats @ mix))
    out[f"r{i}"] = bl.RecordingData(
      lld_times, llds.astype(np.float32), label_times, y.astype(np.float32)
    )
  return out


def test_tuning_recovers_a_known_linear_relation():
  rng = np.random.default_rng(1)
  mix = rng.normal(size=(6, 3)) * 0.5
  train = _synthetic_recordings(rng, 4, 3.0, 1.0, mix)
  devel = _synthetic_recordings(rng, 2, 3.0, 1.0, mix)
  settings = bl.grid(windows=(1.0, 3.0, 8.0), delays=(0.0, 1.0), alphas=(1e-2, 1e3), svr_cs=(1e-2,))
  tuned = bl.tune(train, devel, settings)
  for name in ("arousal", "valence", "liking"):
    assert tuned.devel_ccc[name] > 0.95, (name, tuned.devel_ccc)
    assert tuned.settings[name].window_seconds == 3.0
    assert tuned.settings[name].delay_seconds == 1.0
  pred = tuned.predict(devel)
  gold = np.concatenate([devel[r].labels for r in sorted(devel)])
  ccc = concordance_cc_numpy(gold, np.concatenate([pred[r] for r in sorted(devel)]))
  np.testing.assert_allclose(
    ccc, [tuned.devel_ccc[n] for n in ("arousal", "valence", "liking")], atol=1e-6
  )
  # the exported linear model (original units) reproduces the pipeline's predictions
  described = tuned.describe()
  s = tuned.settings["arousal"]
  x = bl.partition_features(devel, s.window_seconds, s.delay_seconds)["r0"]
  m = described["models"]["arousal"]
  np.testing.assert_allclose(x @ np.array(m["coef"]) + m["intercept"], pred["r0"][:, 0], atol=1e-4)
  assert len(tuned.table) == len(settings)


def test_egemaps_llds_shapes_and_loudness():
  sr = 16000
  t = np.arange(2 * sr) / sr
  tone = 0.5 * np.sin(2 * np.pi * 220 * t) * (t >= 1.0)  # silence, then a 220 Hz tone
  times, llds = bl.egemaps_llds(tone.astype(np.float32), sr)
  names = bl.egemaps_lld_names()
  assert llds.shape == (len(times), 25) and len(names) == 25
  assert np.all(np.diff(times) > 0) and abs(np.median(np.diff(times)) - 0.01) < 1e-3
  loud = llds[:, names.index("Loudness_sma3")]
  assert loud[(times > 1.2) & (times < 1.8)].mean() > 10 * loud[times < 0.8].mean() + 1e-3
  f0 = llds[:, names.index("F0semitoneFrom27.5Hz_sma3nz")]
  voiced = f0[(times > 1.2) & (times < 1.8)]
  # 220 Hz = 12 * log2(220 / 27.5) = 36 semitones above 27.5 Hz
  assert abs(np.median(voiced[voiced > 0]) - 36.0) < 1.0


def _read_csv(path):
  with open(path, encoding="utf-8") as f:
    return [line.strip().split(";") for line in f if line.strip()]


def test_binary_writes_the_evaluate_layout_and_names_a_bad_file(tiny_corpus, tmp_path):
  corpus_dir = str(tmp_path / "corpus")
  shutil.copytree(tiny_corpus, corpus_dir)
  # a corrupt extra Train recording: it is named and left out, the rest is evaluated
  bad_wav = os.path.join(corpus_dir, "audio", "Train_99.wav")
  with open(bad_wav, "wb") as f:
    f.write(b"RIFF....WAVEjunk")
  shutil.copyfile(
    os.path.join(corpus_dir, "labels", "Train_01.csv"),
    os.path.join(corpus_dir, "labels", "Train_99.csv"),
  )
  out = str(tmp_path / "out")
  args = [
    "-m",
    "emotion_tf.baseline",
    "--corpus",
    corpus_dir,
    "--out",
    out,
    "--window_seconds",
    "2,4",
    "--delay_seconds",
    "0",
    "--alphas",
    "1,100",
    "--svr_cs",
    "0.01",
  ]
  r = run_python(args)
  assert r.returncode == 1, r.stderr[-2000:]
  assert "Train_99.wav" in r.stderr
  assert r.stdout.splitlines()[0].split() == ["partition", "arousal", "valence", "liking", "mean"]
  with open(os.path.join(out, "evaluation.json"), encoding="utf-8") as f:
    summary = json.load(f)
  assert set(summary["partitions"]) == {"devel", "test"} and not summary["errors"]
  assert list(summary["recording_errors"]) == ["Train_99"]
  assert summary["variant"] == bl.VARIANT
  for part in ("devel", "test"):
    result = summary["partitions"][part]
    pred_dir = os.path.join(out, "predictions", part)
    assert result["predictions_dir"] == pred_dir
    golds, preds = [], []
    for rid in result["recordings"]:
      rows = _read_csv(os.path.join(pred_dir, rid + ".csv"))
      times, labels = corpus.read_labels(os.path.join(corpus_dir, "labels", rid + ".csv"))
      assert [row[0] for row in rows] == [rid] * len(times)
      np.testing.assert_allclose([float(row[1]) for row in rows], times, atol=1e-9)
      golds.append(labels)
      preds.append(np.array([row[2:] for row in rows], float))
    ccc = concordance_cc_numpy(np.concatenate(golds), np.concatenate(preds))
    np.testing.assert_allclose(
      [result["ccc"][n] for n in ("arousal", "valence", "liking")], ccc, atol=1e-4
    )
  assert sorted(os.listdir(os.path.join(out, "llds"))) == [
    "Devel_01.npz",
    "Test_01.npz",
    "Train_01.npz",
    "Train_02.npz",
  ]
  assert not [n for n in os.listdir(out) if n.startswith(".tmp")]
  with open(os.path.join(out, bl.MODEL_FILENAME), encoding="utf-8") as f:
    model = json.load(f)
  assert len(model["devel_grid"]) == 2 * 3 and len(model["models"]["arousal"]["coef"]) == 50

  r = run_python(
    [
      "-m",
      "emotion_tf.baseline",
      "--corpus",
      str(tmp_path / "nowhere"),
      "--out",
      str(tmp_path / "o2"),
    ]
  )
  assert r.returncode == 2 and "nowhere: corpus directory does not exist" in r.stderr


def test_lld_cache_is_reused_and_refreshed(tiny_corpus, tmp_path, monkeypatch):
  audio = os.path.join(tiny_corpus, "audio", "Devel_01.wav")
  cache = str(tmp_path / "c" / "Devel_01.npz")
  times, llds = bl.load_llds(audio, cache, 16000)
  assert os.path.exists(cache)
  calls = []
  real = bl.egemaps_llds
  monkeypatch.setattr(bl, "egemaps_llds", lambda *a: calls.append(1) or real(*a))
  again = bl.load_llds(audio, cache, 16000)
  np.testing.assert_array_equal(again[1], llds)
  assert not calls  # served from the cache
  bl.load_llds(audio, cache, 22050)  # another rate: recomputed
  assert calls == [1]
  with open(cache, "wb") as f:
    f.write(b"garbage")
  bl.load_llds(audio, cache, 22050)  # unreadable cache: recomputed
  assert calls == [1, 1]


def test_ablation_table_has_the_baseline_row(tiny_corpus, tmp_path):
  from emotion_tf.experiments import ablate_lib as ablate

  out = str(tmp_path / "ablation")
  results = ablate.run_ablation(
    str(tmp_path / "no_tfrecords"),
    {},
    out,
    epochs=1,
    learning_rate=1e-3,
    rows=["baseline"],
    corpus_dir=tiny_corpus,
  )
  assert [r["name"] for r in results] == [ablate.BASELINE_ROW]
  with open(os.path.join(out, "baseline", "evaluation.json"), encoding="utf-8") as f:
    devel = json.load(f)["partitions"]["devel"]
  assert results[0]["ccc"] == devel["ccc"] and results[0]["table"] == "Table 4"
  table = ablate.format_tables(results)
  line = next(x for x in table.splitlines() if x.startswith(ablate.BASELINE_ROW))
  np.testing.assert_allclose(
    [float(v) for v in line[len(ablate.BASELINE_ROW) :].split()],
    [devel["ccc"]["arousal"], devel["ccc"]["valence"], devel["ccc"]["liking"], devel["ccc_mean"]],
    atol=5e-4,
  )
  assert (
    ablate.run_ablation(
      "x", {}, out, epochs=1, learning_rate=1e-3, rows=["baseline"], corpus_dir=tiny_corpus
    )
    == results
  )  # reused on a rerun
