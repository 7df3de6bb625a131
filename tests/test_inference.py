"""The one inference path (emotion_tf.serving.inference): evaluate = predict = stream.

References are independent of `predict_frames`: the Keras model called once over a whole
recording (`model(...)`), and `predict_to_csv` on a wav of the same samples.
"""

import io
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile
from test_evaluation import FPC, RECORDINGS, SPF, VOCAB, write_tiny_tfrecords
from test_export import SMALL, make_model_dir, run_python

from emotion_tf.data import word_timings as wt
from emotion_tf.data.vectors import write_vec
from emotion_tf.model.models import build_model
from emotion_tf.serving import export_lib, inference, predict_api, predict_lib, stream
from emotion_tf.training import evaluate_lib

DIM = SMALL["semantic_dim"]


def whole(model, audio, semantic):
  """Reference: the Keras model once over all frames ([F * spf], [F, d] -> [F, 3])."""
  return model({"audio": audio[None], "semantic": semantic[None]}, training=False).numpy()[0]


def random_recording(frames, spf=SPF, seed=0):
  rng = np.random.default_rng(seed)
  return (
    rng.normal(scale=0.2, size=frames * spf).astype(np.float32),
    rng.normal(size=(frames, DIM)).astype(np.float32),
  )


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
  """Tiny TFRecords (chunks of 10 frames), a model dir, its export, a .vec of VOCAB, and per
  Devel recording a float wav + word timings giving the shards' word_index."""
  root = tmp_path_factory.mktemp("inference")
  data_dir = str(root / "tfrecords")
  truth = write_tiny_tfrecords(data_dir, seed=5)
  model = make_model_dir(str(root / "model"), seed=11)
  export_dir = str(root / "export")
  export_lib.export_saved_model(model, export_dir)
  vec = str(root / "space.vec")
  write_vec(vec, VOCAB, np.random.default_rng(2).normal(size=(len(VOCAB), DIM)).astype(np.float32))
  files = {}
  for rid in RECORDINGS["devel"]:
    t = truth[rid]
    wav = str(root / f"{rid}.wav")
    soundfile.write(wav, t["audio"][: t["frames"] * SPF], 22050, subtype="FLOAT")
    timings = [
      wt.WordTiming(k * 0.1, (k + 1) * 0.1, VOCAB[i - 1])
      for k, i in enumerate(t["word_index"][: t["frames"]])
      if i > 0
    ]
    csv = str(root / f"{rid}.csv")
    wt.write_timings_csv(csv, timings)
    files[rid] = (wav, csv)
  return dict(
    root=root,
    data_dir=data_dir,
    truth=truth,
    model=model,
    export_dir=export_dir,
    vec=vec,
    files=files,
  )


def test_evaluate_equals_predict(setup):
  """evaluate's per-recording predictions (TFRecord chunks of 10 frames stitched, state
  carried) == predict's CSV of a wav of the same samples with the same words (export)."""
  from emotion_tf.data import schema

  matrix = schema.load_embedding_matrix(setup["data_dir"], setup["vec"])
  predictions, _ = evaluate_lib.predict_partition(
    setup["model"], setup["data_dir"], "devel", batch_size=2, embedding_matrix=matrix
  )
  exported = export_lib.ExportedModel(setup["export_dir"])
  for rid, (wav, csv) in setup["files"].items():
    y, info = predict_lib.predict_recording(
      exported, wav, csv, setup["vec"], allow_embeddings_mismatch=True
    )
    assert info["frames"] == setup["truth"][rid]["frames"] == predictions[rid].shape[0]
    np.testing.assert_allclose(predictions[rid], y, rtol=0, atol=1e-5)
  # Independent reference: the Keras model once over the whole recording (no chunk resets).
  t = setup["truth"]["Devel_01"]
  ref = whole(setup["model"], t["audio"][: 25 * SPF], matrix[t["word_index"][:25]])
  np.testing.assert_allclose(predictions["Devel_01"], ref, rtol=0, atol=1e-5)
  # The old way (state reset at each 10-frame chunk) differs after the first chunk.
  reset = whole(setup["model"], t["audio"][FPC * SPF : 25 * SPF], matrix[t["word_index"][FPC:25]])
  assert np.abs(reset - ref[FPC:]).max() > 1e-3


@pytest.mark.parametrize(
  "overrides", [{}, {"lstm_cell": "peephole"}, {"variant": "semantic"}, {"variant": "concat"}]
)
def test_chunked_with_state_equals_one_pass(overrides):
  model = build_model(**dict(SMALL, **overrides))
  audio, semantic = random_recording(37, seed=1)
  ref = whole(model, audio, semantic)
  for chunk in (1, 10, 16, 100):
    y = inference.predict_frames(model, audio, semantic, chunk_frames=chunk)
    np.testing.assert_allclose(y, ref, rtol=0, atol=1e-5, err_msg=f"chunk {chunk}")
  # Batched input and a continued stream give the same frames.
  y2 = inference.predict_frames(
    model, np.stack([audio, audio]), np.stack([semantic, semantic]), chunk_frames=8
  )
  np.testing.assert_allclose(y2[1], ref, rtol=0, atol=1e-5)
  first, state = inference.predict_frames(
    model, audio[: 20 * SPF], semantic[:20], 7, return_state=True
  )
  rest = inference.predict_frames(model, audio[20 * SPF :], semantic[20:], 7, state=state)
  np.testing.assert_allclose(np.concatenate([first, rest]), ref, rtol=0, atol=1e-5)


def test_flat_stream_is_chunk_local():
  """cnn_mode='flat_stream': each chunk is convolved alone (as in training on 10 s chunks), the
  LSTM state still carried: equals the CNN features of each chunk fed to one LSTM pass."""
  model = build_model(**dict(SMALL, cnn_mode="flat_stream", cnn_filters=(4, 6, 250)))
  audio, semantic = random_recording(100, seed=2)
  y = inference.predict_frames(model, audio, semantic, chunk_frames=50)
  x = np.concatenate(
    [
      model.lstm_inputs(
        {"audio": audio[None, s * SPF : (s + 50) * SPF], "semantic": semantic[None, s : s + 50]}
      ).numpy()
      for s in (0, 50)
    ],
    axis=1,
  )
  ref = model.head(model.lstm(x)).numpy()[0]
  np.testing.assert_allclose(y, ref, rtol=0, atol=1e-5)


def test_state_reset_between_recordings(setup):
  """Each recording starts from the zero state: predicting a partition equals predicting
  each recording alone, and starting one from another's final state would change it."""
  model = setup["model"]
  recordings = inference.tfrecord_recordings(setup["data_dir"], "devel", batch_size=3)
  assert sorted(recordings) == sorted(RECORDINGS["devel"])
  predictions, labels = inference.predict_recordings(model, recordings, chunk_frames=10)
  for rid, (audio, semantic, gold) in recordings.items():
    t = setup["truth"][rid]
    n = t["frames"]
    np.testing.assert_array_equal(audio, t["audio"][: n * SPF])
    np.testing.assert_array_equal(gold, t["labels"][:n])
    np.testing.assert_allclose(predictions[rid], whole(model, audio, semantic), atol=1e-5)
  audio1, semantic1, _ = recordings["Devel_01"]
  _, state = inference.predict_frames(model, audio1, semantic1, return_state=True)
  audio2, semantic2, _ = recordings["Devel_02"]
  carried = inference.predict_frames(model, audio2, semantic2, state=state)
  assert np.abs(carried - predictions["Devel_02"]).max() > 1e-3


def test_stream_signature_equals_serving_default(setup):
  """The export's `stream` signature chunk by chunk == `serving_default` in one pass."""
  exported = export_lib.ExportedModel(setup["export_dir"])
  assert exported.has_stream
  audio, semantic = random_recording(33, seed=4)
  one_pass = exported(audio, semantic)
  for chunk in (1, 10, 100):
    y = inference.predict_frames(exported, audio, semantic, chunk_frames=chunk)
    np.testing.assert_allclose(y, one_pass, rtol=0, atol=1e-5)
  np.testing.assert_allclose(one_pass, whole(setup["model"], audio, semantic), atol=1e-5)


def test_wav_blocks_reads_a_pipe_like_soundfile(tmp_path):
  rng = np.random.default_rng(0)
  x = rng.uniform(-0.9, 0.9, size=(5000, 2))
  for subtype in ("PCM_16", "PCM_32", "FLOAT"):
    path = str(tmp_path / f"{subtype}.wav")
    soundfile.write(path, x, 16000, subtype=subtype)
    want = soundfile.read(path, dtype="float32")[0].mean(axis=1)
    with open(path, "rb") as f:
      rate, blocks = stream.wav_blocks(io.BufferedReader(io.BytesIO(f.read())), 777)
      got = list(blocks)
    assert rate == 16000 and all(b.shape[0] == 777 for b in got[:-1])
    np.testing.assert_allclose(np.concatenate(got), want, rtol=0, atol=1e-6)
  with pytest.raises(stream.StreamInputError, match="x.bin: not a RIFF/WAVE"):
    stream.wav_blocks(io.BytesIO(b"hello world, not a wav"), 10, "x.bin")


def test_predict_stream_cli_equals_predict(setup, tmp_path):
  """`predict --stream` from a wav file and from stdin (raw f32) writes the rows of the
  whole-file prediction, chunk by chunk."""
  wav, csv = setup["files"]["Devel_01"]
  whole_csv = str(tmp_path / "whole.csv")
  predict_lib.predict_to_csv(
    setup["export_dir"], wav, whole_csv, csv, setup["vec"], allow_embeddings_mismatch=True
  )
  want = np.loadtxt(whole_csv, delimiter=";", usecols=(1, 2, 3, 4))
  base = [
    "-m",
    "emotion_tf.predict",
    "--model",
    setup["export_dir"],
    "--stream",
    "--word_timings",
    csv,
    "--embeddings",
    setup["vec"],
    "--allow_embeddings_mismatch",
  ]
  r = run_python(
    base + ["--audio", wav, "--chunk_seconds", "0.7", "--out", str(tmp_path / "s.csv")]
  )
  assert r.returncode == 0, r.stderr
  assert "streamed 25 frames (2.5 s) in 4 chunks" in r.stderr
  got = np.loadtxt(str(tmp_path / "s.csv"), delimiter=";", usecols=(1, 2, 3, 4))
  np.testing.assert_allclose(got, want, rtol=0, atol=2e-6)
  raw = str(tmp_path / "raw.f32")
  soundfile.read(wav, dtype="float32")[0].astype("<f4").tofile(raw)
  with open(raw, "rb") as stdin:
    env = dict(
      os.environ,
      TF_CPP_MIN_LOG_LEVEL="2",
      PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    r = subprocess.run(
      [sys.executable] + base + ["--audio", "-", "--stream_format", "f32", "--name", "live"],
      stdin=stdin,
      env=env,
      capture_output=True,
      text=True,
      timeout=180,
      check=False,
    )
  assert r.returncode == 0, r.stderr
  rows = r.stdout.splitlines()
  assert len(rows) == 25 and rows[0].startswith("live;0.0;")
  got = np.array([[float(v) for v in row.split(";")[1:]] for row in rows])
  np.testing.assert_allclose(got, want, rtol=0, atol=2e-6)


def test_predict_api_and_predict_lib_share_the_path(setup):
  """The notebook API and predict_lib give the same frames for the same file."""
  wav, csv = setup["files"]["Devel_02"]
  exported = export_lib.ExportedModel(setup["export_dir"])
  y_lib, _ = predict_lib.predict_recording(
    exported, wav, csv, setup["vec"], allow_embeddings_mismatch=True
  )
  predictor = predict_api.Predictor(exported)
  words, vectors = predict_lib.load_embeddings(setup["vec"], DIM)
  y_api = predictor.predict_file_array(wav, csv, (words, vectors))
  np.testing.assert_array_equal(y_api, y_lib)
