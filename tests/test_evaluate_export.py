"""`emotion_tf.evaluate --export`: an exported SavedModel scored from wavs on a labelled corpus,
against the Keras model run on the same audio and a numpy CCC (Eq. 8) of the pooled frames."""

import json
import os

import numpy as np
import pytest
from scipy.io import wavfile
from test_export import SMALL, run_python
from test_predict import reference_semantic

from emotion_tf.data.vectors import write_vec
from emotion_tf.data.word_timings import WordTiming, write_timings_csv
from emotion_tf.serving import export_lib, postprocess
from emotion_tf.training import evaluate_export

DIM = SMALL["semantic_dim"]
SPF, RATE = 2205, 22050
WORDS = ["calm", "happy", "sad"]
RECORDINGS = {"Devel_01": 2.0, "Devel_02": 1.5, "Test_01": 1.8}  # seconds


def _write_corpus(root, rng):
  """SEWA-layout corpus (audio + labels at 0.1 s) and a word-timings dir; returns its truth."""
  truth = {}
  for sub in ("audio", "labels", "timings"):
    os.makedirs(root / sub, exist_ok=True)
  for rid, seconds in RECORDINGS.items():
    n = int(seconds * RATE)
    audio = rng.normal(scale=0.2, size=n).clip(-1, 1).astype(np.float32)
    wavfile.write(str(root / "audio" / f"{rid}.wav"), RATE, audio)
    frames = n // SPF
    labels = np.tanh(np.cumsum(rng.normal(scale=0.3, size=(frames, 3)), axis=0))
    rows = [f"{rid};{k / 10:.1f};{a:.6f};{v:.6f};{l:.6f}" for k, (a, v, l) in enumerate(labels)]
    (root / "labels" / f"{rid}.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    timings = [WordTiming(0.1, 0.6, "calm"), WordTiming(0.7, 1.2, "happy")]
    write_timings_csv(str(root / "timings" / f"{rid}.csv"), timings)
    truth[rid] = dict(audio=audio, labels=labels.astype(np.float32), frames=frames, timings=timings)
  return truth


def _numpy_ccc(x, y):
  """Eq. 8 per column, float64."""
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  mx, my = x.mean(0), y.mean(0)
  cov = ((x - mx) * (y - my)).mean(0)
  return 2 * cov / (x.var(0) + y.var(0) + (mx - my) ** 2)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
  import keras

  from emotion_tf.model.models import build_model

  root = tmp_path_factory.mktemp("evaluate_export")
  rng = np.random.default_rng(3)
  keras.utils.set_random_seed(5)
  model = build_model(**SMALL)
  export_dir = str(root / "export")
  export_lib.export_saved_model(model, export_dir)
  truth = _write_corpus(root, rng)
  vectors = rng.normal(size=(len(WORDS), DIM)).astype(np.float32)
  vec = str(root / "space.vec")
  write_vec(vec, WORDS, vectors)
  vocab = dict(zip(WORDS, vectors, strict=True))
  want = {}
  for rid, t in truth.items():
    semantic = reference_semantic(t["timings"], t["frames"], vocab)
    audio = t["audio"][None, : t["frames"] * SPF]
    want[rid] = model({"audio": audio, "semantic": semantic[None]}, training=False).numpy()[0]
  return dict(root=root, export_dir=export_dir, vec=vec, truth=truth, want=want)


def test_export_scored_on_wavs_equals_the_model_and_numpy_ccc(env, tmp_path):
  out = str(tmp_path / "eval")
  summary = evaluate_export.evaluate_export(
    env["export_dir"],
    str(env["root"]),
    ["Devel", "Test"],
    out,
    word_timings_dir=str(env["root"] / "timings"),
    embeddings=env["vec"],
    bootstrap_resamples=200,
  )
  assert summary["mode"] == "transcript" and not summary["errors"]
  for partition in ("devel", "test"):
    ids = sorted(r for r in RECORDINGS if r.lower().startswith(partition))
    gold = np.concatenate([env["truth"][r]["labels"] for r in ids])
    pred = np.concatenate([env["want"][r] for r in ids])
    result = summary["partitions"][partition]
    got = [result["ccc"][n] for n in ("arousal", "valence", "liking")]
    np.testing.assert_allclose(got, _numpy_ccc(gold, pred), atol=1e-4)
    lo, hi = result["ccc_ci"]["mean"]
    assert lo - 1e-9 <= result["ccc_mean"] <= hi + 1e-9
    for rid in ids:
      rows = (tmp_path / "eval" / "predictions" / partition / f"{rid}.csv").read_text()
      values = np.array([r.split(";")[2:5] for r in rows.splitlines()], float)
      np.testing.assert_allclose(values, env["want"][rid], atol=2e-5)
  with open(os.path.join(out, "evaluation.json"), encoding="utf-8") as f:
    assert json.load(f)["partitions"]["test"]["num_recordings"] == 1


def test_postprocess_file_is_applied_and_raw_kept(env, tmp_path):
  post = postprocess.PostProcessing(shift_s=(0.2, 0.0, 0.1), sigma_s=(0.0, 0.3, 0.0))
  path = str(tmp_path / "postprocess.json")
  postprocess.write(path, post, {})
  kw = dict(word_timings_dir=str(env["root"] / "timings"), embeddings=env["vec"])
  summary = evaluate_export.evaluate_export(
    env["export_dir"], str(env["root"]), ["Test"], str(tmp_path / "e"), postprocess=path, **kw
  )
  result = summary["partitions"]["test"]
  gold = env["truth"]["Test_01"]["labels"]
  np.testing.assert_allclose(
    [result["ccc"][n] for n in ("arousal", "valence", "liking")],
    _numpy_ccc(gold, post.apply(env["want"]["Test_01"])),
    atol=1e-4,
  )
  np.testing.assert_allclose(
    [result["ccc_raw"][n] for n in ("arousal", "valence", "liking")],
    _numpy_ccc(gold, env["want"]["Test_01"]),
    atol=1e-4,
  )


def test_cli_scores_the_export_and_names_a_missing_timings_file(env, tmp_path):
  out = str(tmp_path / "cli")
  args = ["-m", "emotion_tf.evaluate", "--export", env["export_dir"], "--corpus"]
  args += [str(env["root"]), "--word_timings", str(env["root"] / "timings")]
  args += ["--embeddings", env["vec"], "--partitions", "Test", "--out", out]
  r = run_python(args)
  assert r.returncode == 0, r.stderr[-3000:]
  assert "test" in r.stdout.lower()
  with open(os.path.join(out, "evaluation.json"), encoding="utf-8") as f:
    test = json.load(f)["partitions"]["test"]
  gold, pred = env["truth"]["Test_01"]["labels"], env["want"]["Test_01"]
  np.testing.assert_allclose(test["ccc"]["valence"], _numpy_ccc(gold, pred)[1], atol=1e-4)
  os.makedirs(tmp_path / "empty")
  args[args.index(str(env["root"] / "timings"))] = str(tmp_path / "empty")
  r = run_python(args[:-1] + [str(tmp_path / "cli2")])
  assert r.returncode == 2 and "no word timings for Test_01" in r.stderr
