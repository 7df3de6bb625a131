"""Notebook API (predict_api) and the batch prediction CLI over many files."""

import os
import sys

import numpy as np
import pytest
from data_fixtures import write_wav
from test_export import SMALL, run_python

from emotion_tf.data.vectors import write_vec
from emotion_tf.data.word_timings import WordTiming, write_timings_csv
from emotion_tf.serving import export_lib, predict_api, predict_lib

SPF = 2205
DIM = SMALL["semantic_dim"]
NAMES = ["arousal", "valence", "liking"]


def band_limited(t):
  """A deterministic test waveform with all energy below 4 kHz (resampling keeps it)."""
  return (
    0.3 * np.sin(2 * np.pi * 220 * t)
    + 0.2 * np.sin(2 * np.pi * 1375 * t + 1.0)
    + 0.1 * np.sin(2 * np.pi * 3100 * t) * np.sin(2 * np.pi * 3 * t)
  )


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
  import keras

  from emotion_tf.model.models import build_model

  root = tmp_path_factory.mktemp("predict_api")
  keras.utils.set_random_seed(17)
  model = build_model(**SMALL)
  export_dir = str(root / "export")
  export_lib.export_saved_model(model, export_dir)
  return dict(root=root, model=model, export_dir=export_dir, predictor=predict_api.load(export_dir))


def keras_reference(model, audio, semantic):
  frames = semantic.shape[0]
  return model(
    {
      "audio": audio[None, : frames * SPF].astype(np.float32),
      "semantic": semantic[None].astype(np.float32),
    },
    training=False,
  ).numpy()[0]


def test_predict_at_model_rate_equals_keras_and_returns_times(setup, monkeypatch):
  rng = np.random.default_rng(0)
  audio = (rng.normal(scale=0.1, size=31 * SPF + 100)).astype(np.float32)  # 31 whole frames
  timings = [(0.05, 0.52, "good"), (1.0, 2.0, "bad")]
  vectors = rng.normal(size=(2, DIM)).astype(np.float32)
  semantic = np.zeros((31, DIM), np.float32)
  semantic[0:5] = vectors[0]  # frame centres 0.05 .. 0.45 lie in [0.05, 0.52)
  semantic[10:20] = vectors[1]  # centres 1.05 .. 1.95
  want = keras_reference(setup["model"], audio, semantic)
  df = predict_api.predict(
    audio,
    22050,
    model=setup["predictor"],
    word_timings=timings,
    embeddings=(["good", "bad"], vectors),
  )
  assert list(df.columns) == ["time"] + NAMES and len(df) == 31
  np.testing.assert_allclose(df["time"].to_numpy(), np.arange(31) * 0.1, atol=1e-12)
  np.testing.assert_allclose(df[NAMES].to_numpy(), want, rtol=1e-5, atol=1e-6)
  assert setup["predictor"].last_info["frames_with_word"] == 15
  # Without pandas: a dict of numpy arrays with the same columns and values.
  monkeypatch.setitem(sys.modules, "pandas", None)
  out = setup["predictor"].predict(
    audio,
    22050,
    word_timings=[WordTiming(0.05, 0.52, "good"), WordTiming(1.0, 2.0, "bad")],
    embeddings={"good": vectors[0], "bad": vectors[1]},
  )
  assert isinstance(out, dict) and list(out) == ["time"] + NAMES
  np.testing.assert_allclose(np.stack([out[n] for n in NAMES], -1), want, rtol=1e-5, atol=1e-6)


def test_48k_stereo_int16_matches_22k_mono(setup):
  seconds = 3.0
  t48 = np.arange(int(seconds * 48000)) / 48000.0
  t22 = np.arange(int(seconds * 22050)) / 22050.0
  side = 0.05 * np.sin(2 * np.pi * 500 * t48)  # cancels in the channel mean
  stereo = np.stack([band_limited(t48) + side, band_limited(t48) - side], axis=1)
  pcm = np.round(stereo * 32767).astype(np.int16)  # [samples, 2] int16, as a wav reader
  mono = band_limited(t22).astype(np.float32)
  predictor = setup["predictor"]
  ref = predictor.predict_array(mono, 22050)
  got = predictor.predict_array(pcm, 48000)
  got_channels_first = predictor.predict_array(pcm.T.copy(), 48000)
  assert ref.shape == got.shape == (30, 3)
  np.testing.assert_array_equal(got, got_channels_first)
  # resample_poly's filter edge effects touch the first and last frames only slightly; the
  # difference must be far below how much the output moves for a different input.
  other = predictor.predict_array(band_limited(t22 * 1.7).astype(np.float32), 22050)
  spread = np.abs(other - ref).max()
  assert spread > 1e-3
  np.testing.assert_allclose(got, ref, atol=max(2e-4, spread / 50))  # measured 6e-5


def test_to_mono_and_bad_signals():
  x = np.array([[0, 32767], [-32768, 0]], np.int16)  # [2 samples, 2 channels]
  np.testing.assert_allclose(predict_api.to_mono_float32(x), [32767 / 65536, -0.5])
  np.testing.assert_allclose(
    predict_api.to_mono_float32(np.array([128, 192], np.uint8)), [0.0, 0.5]
  )
  with pytest.raises(ValueError, match="shape"):
    predict_api.to_mono_float32(np.zeros((2, 2, 2)))
  with pytest.raises(ValueError, match="NaN"):
    predict_api.to_mono_float32(np.array([0.0, np.nan]))
  with pytest.raises(ValueError, match="positive"):
    predict_api.resample(np.zeros(10, np.float32), 0, 22050)


def test_short_signal_and_timings_without_embeddings_are_refused(setup):
  with pytest.raises(predict_lib.PredictionInputError, match="shorter than one 0.100 s frame"):
    setup["predictor"].predict(np.zeros(1000, np.float32), 22050)
  with pytest.raises(predict_lib.PredictionInputError, match="need embeddings"):
    setup["predictor"].predict(np.zeros(4410, np.float32), 22050, word_timings=[(0, 1, "a")])
  with pytest.raises(predict_lib.PredictionInputError, match="dimension 8"):
    setup["predictor"].predict(
      np.zeros(4410, np.float32),
      22050,
      word_timings=[(0, 1, "a")],
      embeddings=(["a"], np.ones((1, 3))),
    )


def test_audio_inputs_dir_list_file_and_commas(tmp_path):
  for name in ("b.wav", "a.WAV", "notes.txt", ".hidden.wav"):
    (tmp_path / name).write_bytes(b"x")
  assert predict_api.audio_inputs(str(tmp_path)) == [
    str(tmp_path / "a.WAV"),
    str(tmp_path / "b.wav"),
  ]
  (tmp_path / "list.txt").write_text("# recordings\nb.wav\n\n/abs/c.wav\n")
  assert predict_api.audio_inputs(str(tmp_path / "list.txt")) == [
    str(tmp_path / "b.wav"),
    "/abs/c.wav",
  ]
  assert predict_api.audio_inputs("x.wav, y.wav") == ["x.wav", "y.wav"]
  with pytest.raises(predict_lib.PredictionInputError, match="missing.txt: audio list file is"):
    predict_api.audio_inputs(str(tmp_path / "missing.txt"))
  (tmp_path / "empty").mkdir()
  with pytest.raises(predict_lib.PredictionInputError, match="holds no .wav files"):
    predict_api.audio_inputs(str(tmp_path / "empty"))


def read_rows(path):
  with open(path, encoding="utf-8") as f:
    return [line.split(";") for line in f.read().splitlines()]


def test_batch_cli_dir_with_a_corrupt_wav(setup, tmp_path):
  audio_dir = tmp_path / "wavs"
  rng = np.random.default_rng(3)
  signals = {
    "Rec_A": (rng.normal(scale=0.2, size=(int(1.25 * 16000), 2)), 16000),
    "Rec_B": (rng.normal(scale=0.2, size=int(0.8 * 44100)), 44100),
  }
  for name, (x, rate) in signals.items():
    write_wav(str(audio_dir / f"{name}.wav"), np.clip(x, -1, 1), rate)
  (audio_dir / "Rec_C.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEgarbage-not-a-wav")
  timings_dir = tmp_path / "timings"
  timings_dir.mkdir()
  for name in ("Rec_A", "Rec_B", "Rec_C"):
    write_timings_csv(str(timings_dir / f"{name}.csv"), [WordTiming(0.1, 0.6, "hi")])
  vec = str(tmp_path / "space.vec")
  write_vec(vec, ["hi"], rng.normal(size=(1, DIM)).astype(np.float32))
  out_dir = tmp_path / "out"
  r = run_python(
    [
      "-m",
      "emotion_tf.predict",
      "--model",
      setup["export_dir"],
      "--audio",
      str(audio_dir),
      "--word_timings",
      str(timings_dir),
      "--embeddings",
      vec,
      "--out",
      str(out_dir),
      "--csv_header",
    ]
  )
  assert r.returncode == 1, r.stderr[-3000:]
  assert sorted(os.listdir(out_dir)) == ["Rec_A.csv", "Rec_B.csv"]
  assert "Rec_C.wav" in r.stderr and "1 of 3 files failed" in r.stderr
  predictor = setup["predictor"]
  for name, frames in (("Rec_A", 12), ("Rec_B", 8)):
    rows = read_rows(out_dir / f"{name}.csv")
    assert rows[0] == ["name", "time"] + NAMES
    assert len(rows) == frames + 1 and {row[0] for row in rows[1:]} == {name}
    want = predictor.predict_file_array(
      str(audio_dir / f"{name}.wav"), str(timings_dir / f"{name}.csv"), vec
    )
    np.testing.assert_allclose(np.array([row[2:] for row in rows[1:]], float), want, atol=2e-6)
    assert f"{name}.csv: {frames} frames" in r.stdout
  # Without --csv_header, the rows are the header-less contract of single-file prediction.
  text = predict_api.format_csv("Rec_A", want, 0.1, NAMES, header=False)
  assert not text.startswith("name;") and text.count("\n") == 8


def test_batch_cli_comma_list_all_good_and_bad_usage(setup, tmp_path):
  rng = np.random.default_rng(4)
  paths = []
  for name in ("one", "two"):
    paths.append(str(tmp_path / f"{name}.wav"))
    write_wav(paths[-1], rng.normal(scale=0.2, size=4410 * 2), 22050)
  out_dir = tmp_path / "out"
  r = run_python(
    [
      "-m",
      "emotion_tf.predict",
      "--model",
      setup["export_dir"],
      "--audio",
      ",".join(paths),
      "--out",
      str(out_dir),
    ]
  )
  assert r.returncode == 0, r.stderr[-3000:]
  rows = read_rows(out_dir / "two.csv")
  assert len(rows) == 4 and rows[0][:2] == ["two", "0.0"]
  r = run_python(
    [
      "-m",
      "emotion_tf.predict",
      "--model",
      setup["export_dir"],
      "--audio",
      ",".join(paths),
      "--out",
      str(tmp_path / "x.csv"),
    ]
  )
  assert r.returncode == 2 and "need an output directory" in r.stderr
