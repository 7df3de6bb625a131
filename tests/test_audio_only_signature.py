"""The `audio_only` signature: the wav-only speech frontend (segmenter, MFCCs, normaliser,
Speech2Vec encoder, W, snapping, frame filling) inside the SavedModel.

References: the numpy segmenter (`semantic.segmenter.segment`) and the Python token path
(`tokens.token_vectors`, `tokens.fill_frames`) for the graph's parts; `predict --audio`
(without timings) and the old Python path (numpy segmenter + tokens + the model) for the
signature, in process and through `saved_model_cli run`.
"""

import glob
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from data_fixtures import tiny_corpus  # noqa: F401  (fixture)
from test_export import SPF, make_model_dir
from test_speech_tokens import frontend_dirs  # noqa: F401  (fixture)

from emotion_tf.data import corpus
from emotion_tf.semantic import segmenter, tokens
from emotion_tf.serving import export_lib, predict_lib
from emotion_tf.serving import speech_frontend_graph as sfg

SR = 22050
NAMES = ["arousal", "valence", "liking"]
REAL_SPEECH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "real_speech")


def _signals():
  """{name: [S] float32}: real speech, a 6 s voiced run (split recursively), tones between
  pauses (merged / dropped runs), noise, digital silence, shorter than one energy window."""
  rng = np.random.default_rng(4)
  t = np.arange(6 * SR) / SR
  long_run = 0.3 * np.sin(2 * np.pi * 180 * t) * (
    1.2 + np.sin(2 * np.pi * 2.7 * t)
  ) + 0.01 * rng.normal(size=t.size)
  bursts = np.zeros(3 * SR)
  for start, dur in ((0.2, 0.3), (0.505, 0.2), (1.0, 0.05), (1.5, 1.2)):
    a = int(start * SR)
    bursts[a : a + int(dur * SR)] = 0.2 * np.sin(2 * np.pi * 300 * t[: int(dur * SR)])
  bursts += 1e-4 * rng.normal(size=bursts.size)
  pause = np.zeros(SR // 2)
  out = {
    "long_run": long_run,
    "bursts": bursts,
    "noise": 0.1 * rng.normal(size=2 * SR),
    "silence": np.zeros(SR),
    "short": rng.normal(size=150),
    "empty": np.zeros(0),
    # 3 s of flat energy (cuts decided by the typical-length tie-break) and of noise.
    "dc": np.concatenate([pause, 0.3 * np.ones(3 * SR), pause]),
    "tone": np.concatenate([pause, 0.3 * np.sin(2 * np.pi * 200 * t[: 3 * SR]), pause]),
    "noise_run": np.concatenate(
      [1e-4 * rng.normal(size=SR // 2), 0.2 * rng.normal(size=3 * SR), pause]
    ),
  }
  for path in sorted(glob.glob(os.path.join(REAL_SPEECH, "*.flac")))[:4]:
    out[os.path.basename(path)] = corpus.load_audio(path, SR)
  return {k: np.asarray(v, np.float32) for k, v in out.items()}


def test_graph_segmenter_equals_numpy_segmenter():
  config = segmenter.SegmenterConfig()
  sizes = sfg.SegmenterSizes.from_config(config)
  fn = tf.function(
    lambda x: sfg.segment(x, sizes), input_signature=[tf.TensorSpec([None], tf.float32)]
  )
  splits = 0
  for name, wave in _signals().items():
    want = np.asarray(segmenter.segment(wave, config), np.float64).reshape(-1, 2)
    got = fn(tf.constant(wave)).numpy()
    np.testing.assert_array_equal(got, want, err_msg=name)
    splits += int(np.sum(np.isclose(want[1:, 0], want[:-1, 1])))
  assert splits >= 3  # adjacent pieces: long runs were split
  with pytest.raises(ValueError, match="pad_s"):
    sfg.SegmenterSizes.from_config(segmenter.SegmenterConfig(pad_s=0.01))


@pytest.mark.parametrize("snap", [False, True])
def test_graph_token_vectors_and_frames_equal_python_tokens(frontend_dirs, snap):  # noqa: F811
  frontend = tokens.load_frontend_dirs(*frontend_dirs[:2], snap_to_types=snap)
  graph = sfg.SpeechFrontendGraph(frontend, 0.1)
  rng = np.random.default_rng(1)
  wave = (rng.normal(size=SR * 2) * 0.1).astype(np.float32)
  # Normal words, a long one (cut to max_samples), one shorter than a window, one past the end,
  # and more than one batch of tokens.BATCH_SIZE segments.
  segments = [(0.1, 0.35), (0.4, 0.47), (0.5, 1.2), (1.3, 1.31), (1.5, 1.9), (2.5, 2.9)]
  segments += [(0.01 * i, 0.01 * i + 0.04 + 0.001 * (i % 7)) for i in range(140)]
  want = tokens.token_vectors(frontend, wave, segments)
  got = graph.token_vectors(tf.constant(wave), tf.constant(segments, tf.float64)).numpy()
  assert got.shape == want.shape == (len(segments), frontend.dim)
  assert np.all(got[3] == 0) and np.all(got[5] == 0) and np.abs(got).sum() > 0
  np.testing.assert_allclose(got, want, atol=1e-5)
  if snap:  # every vector is a codebook row (or zeros)
    assert all(np.any(np.all(frontend.codebook == v, axis=1)) or not v.any() for v in got)
  # Frames: the segment under each centre (k + 0.5) * 0.1 s, zeros where none.
  centres = (np.arange(30) + 0.5) * 0.1  # boundaries on frame centres: [start, end) rule
  disjoint = [(0.05, centres[1]), (centres[1], centres[6]), (0.7, 1.0), (1.02, 1.04), (1.5, 2.5)]
  vectors = rng.normal(size=(len(disjoint), frontend.dim)).astype(np.float32)
  for frames in (0, 7, 23):
    filled = sfg.fill_frames(
      tf.constant(disjoint, tf.float64), tf.constant(vectors), tf.constant(frames), 0.1
    ).numpy()
    np.testing.assert_array_equal(filled, tokens.fill_frames(disjoint, vectors, frames, 0.1))


@pytest.fixture(scope="module")
def wav_only_export(tiny_corpus, frontend_dirs, tmp_path_factory):  # noqa: F811
  """(export_dir, wav): a tiny model exported with the frontend as `emotion_tf.export` does."""
  root = tmp_path_factory.mktemp("audio_only")
  model_dir = str(root / "model")
  make_model_dir(model_dir, seed=5)
  export_dir = str(root / "export")
  meta, exported = export_lib.export_from_model_dir(
    model_dir, export_dir, frontend_dirs=(frontend_dirs[0], frontend_dirs[1], False)
  )
  assert exported and meta["source"]["audio_only"]["signature"] == "audio_only"
  export_lib.export_semantic_frontend(export_dir, frontend_dirs[0], frontend_dirs[1])
  # A rerun with the same frontend keeps the export; without one it re-exports (no signature).
  assert not export_lib.export_from_model_dir(
    model_dir, export_dir, frontend_dirs=(frontend_dirs[0], frontend_dirs[1], False)
  )[1]
  return export_dir, model_dir, os.path.join(tiny_corpus, "audio", "Test_01.wav")


def test_audio_only_signature_equals_predict_from_wav_alone(wav_only_export, frontend_dirs):  # noqa: F811
  export_dir, _, wav = wav_only_export
  model = export_lib.ExportedModel(export_dir)
  preds, info = predict_lib.predict_recording(model, wav)  # predict --audio
  assert info["segment_source"] == "segmenter" and info["segments"] > 10
  audio = corpus.load_audio(wav, SR)
  frames = info["frames"]
  loaded = tf.saved_model.load(export_dir)
  fn = loaded.signatures["audio_only"]
  out = fn(audio=tf.constant(audio[None]))  # the whole wav, trailing partial frame too
  got = np.stack([out[n].numpy()[0] for n in NAMES], -1)
  assert got.shape == (frames, 3)
  np.testing.assert_allclose(got, preds, atol=1e-5)
  # The old Python path (numpy segmenter, tokens.token_vectors, fill_frames, serving_default).
  cut = audio[: frames * SPF]
  semantic = tokens.speech_semantic_frames(
    tokens.load_frontend_dirs(*frontend_dirs[:2]), cut, segmenter.segment(cut), frames
  )
  assert np.any(semantic != 0, axis=1).sum() > frames // 4
  np.testing.assert_allclose(out["semantic"].numpy()[0], semantic, atol=1e-5)
  np.testing.assert_allclose(got, model(cut, semantic), atol=1e-5)
  # A batch of equal-length rows: each row as alone.
  rows = np.stack([cut, cut[::-1].copy()])
  batch = fn(audio=tf.constant(rows))
  np.testing.assert_allclose(batch["arousal"].numpy()[0], got[:, 0], atol=1e-5)
  alone = fn(audio=tf.constant(rows[1:]))
  np.testing.assert_allclose(batch["valence"].numpy()[1], alone["valence"].numpy()[0], atol=1e-5)


def test_saved_model_cli_run_audio_only_equals_predict(wav_only_export, tmp_path):
  export_dir, _, wav = wav_only_export
  model = export_lib.ExportedModel(export_dir)
  preds, _ = predict_lib.predict_recording(model, wav)
  audio_npy = str(tmp_path / "audio.npy")
  np.save(audio_npy, corpus.load_audio(wav, SR)[None])
  out_dir = str(tmp_path / "cli_out")
  cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
  r = subprocess.run(
    [
      cli,
      "run",
      "--dir",
      export_dir,
      "--tag_set",
      "serve",
      "--signature_def",
      "audio_only",
      "--inputs",
      f"audio={audio_npy}",
      "--outdir",
      out_dir,
    ],
    capture_output=True,
    text=True,
    timeout=300,
    check=False,
    env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
  )
  assert r.returncode == 0, r.stderr[-3000:]
  got = np.stack([np.load(os.path.join(out_dir, f"{n}.npy"))[0] for n in NAMES], -1)
  assert got.shape == preds.shape
  np.testing.assert_allclose(got, preds, atol=1e-4)
  meta = json.loads(
    pathlib.Path(os.path.join(export_dir, "assets", export_lib.METADATA_FILENAME)).read_text(
      encoding="utf-8"
    )
  )
  assert meta["source"]["audio_only"]["bundle_sha256"] == meta["semantic_frontend"]["bundle_sha256"]


def test_export_cli_snap_to_types_audio_only_equals_predict_cli(
  wav_only_export,
  frontend_dirs,  # noqa: F811
  tmp_path,
):
  """`python -m emotion_tf.export ... --snap_to_types` then `python -m emotion_tf.predict
  --audio` (CSV, 6 decimals) against the signature of that export."""
  from test_export import run_python

  _, model_dir, wav = wav_only_export
  export_dir = str(tmp_path / "snap_export")
  r = run_python(
    [
      "-m",
      "emotion_tf.export",
      "--model_dir",
      model_dir,
      "--out",
      export_dir,
      "--speech2vec_dir",
      frontend_dirs[0],
      "--alignment_dir",
      frontend_dirs[1],
      "--snap_to_types",
    ],
    timeout=300,
  )
  assert r.returncode == 0, r.stderr[-3000:]
  meta = export_lib.read_export_metadata(export_dir)
  assert meta["source"]["audio_only"]["snap_to_types"] is True
  out_csv = str(tmp_path / "pred.csv")
  r = run_python(
    ["-m", "emotion_tf.predict", "--model", export_dir, "--audio", wav, "--out", out_csv],
    timeout=300,
  )
  assert r.returncode == 0, r.stderr[-3000:]
  rows = [
    line.split(";")
    for line in pathlib.Path(out_csv).read_text(encoding="utf-8").split("\n")
    if line
  ]
  predicted = np.array([[float(v) for v in row[2:5]] for row in rows])
  out = tf.saved_model.load(export_dir).signatures["audio_only"](
    audio=tf.constant(corpus.load_audio(wav, SR)[None])
  )
  got = np.stack([out[n].numpy()[0] for n in NAMES], -1)
  np.testing.assert_allclose(got, predicted, atol=1e-4)
  # Snapped: every covered frame holds a codebook row.
  book = tokens.load_frontend_dirs(*frontend_dirs[:2], snap_to_types=True).codebook
  semantic = out["semantic"].numpy()[0]
  covered = semantic[np.any(semantic != 0, axis=1)]
  assert len(covered) > 10
  assert all(np.any(np.all(book == v, axis=1)) for v in covered)
