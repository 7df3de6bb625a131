"""Prediction CLI/library: resampled wav, per-frame word vectors, one-pass output, bad input."""

import os

import numpy as np
import pytest
from scipy import signal
from scipy.io import wavfile
from test_export import SMALL, run_python

from emotion_tf.data import corpus, schema
from emotion_tf.data import frames as frames_lib
from emotion_tf.data.vectors import write_vec
from emotion_tf.data.word_timings import WordTiming, write_textgrid, write_timings_csv
from emotion_tf.serving import export_lib, predict_lib

DIM = SMALL["semantic_dim"]
SPF = 2205
RATE_IN = 44100
SECONDS = 2.37  # -> 23 whole frames at 22 050 Hz, a partial one dropped
TIMINGS = [
  WordTiming(0.12, 0.41, "hello"),
  WordTiming(0.41, 0.9, "world"),
  WordTiming(1.3, 1.55, "unknownword"),
  WordTiming(1.6, 2.2, "hello"),
]
WORDS = ["hello", "world", "other"]


def reference_semantic(timings, frames, vocab):
  """Brute force: word whose [start, end) holds the frame centre; zeros for none / OOV."""
  out = np.zeros((frames, DIM), np.float32)
  for k in range(frames):
    centre = (k + 0.5) * 0.1
    for t in timings:
      if t.start <= centre < t.end and t.word in vocab:
        out[k] = vocab[t.word]
  return out


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
  import keras

  from emotion_tf.model.models import build_model

  root = tmp_path_factory.mktemp("predict")
  rng = np.random.default_rng(0)
  keras.utils.set_random_seed(11)
  model = build_model(**SMALL)
  export_dir = str(root / "export")
  export_lib.export_saved_model(model, export_dir)
  n = int(SECONDS * RATE_IN)
  pcm = (rng.normal(scale=0.2, size=(n, 2)).clip(-1, 1) * 32767).astype(np.int16)
  wav = str(root / "Rec_01.wav")
  wavfile.write(wav, RATE_IN, pcm)
  vectors = rng.normal(size=(len(WORDS), DIM)).astype(np.float32)
  vec = str(root / "space.vec")
  write_vec(vec, WORDS, vectors)
  csv_path = str(root / "Rec_01.csv")
  write_timings_csv(csv_path, TIMINGS)
  tg_path = str(root / "Rec_01.TextGrid")
  write_textgrid(tg_path, TIMINGS, duration=SECONDS)
  # Independent reference input: channel mean, /32768, polyphase 44.1 -> 22.05 kHz.
  audio = signal.resample_poly(pcm.astype(np.float64).mean(1) / 32768.0, 1, 2)
  frames = len(audio) // SPF
  semantic = reference_semantic(TIMINGS, frames, dict(zip(WORDS, vectors, strict=False)))
  want = model(
    {"audio": audio[None, : frames * SPF].astype(np.float32), "semantic": semantic[None]},
    training=False,
  ).numpy()[0]
  return dict(
    root=root,
    model=model,
    export_dir=export_dir,
    wav=wav,
    vec=vec,
    csv=csv_path,
    textgrid=tg_path,
    frames=frames,
    want=want,
    words=WORDS,
    vectors=vectors,
  )


def read_csv(path):
  with open(path, encoding="utf-8") as f:
    return [line.split(";") for line in f.read().splitlines()]


def test_semantic_frames_follow_frame_centres_and_oov_policy():
  rng = np.random.default_rng(1)
  vectors = rng.normal(size=(3, DIM)).astype(np.float32)
  timings = TIMINGS + [WordTiming(0.25, 0.25, "other")]  # zero-length: covers no centre
  sem, stats = frames_lib.semantic_frames(timings, 30, WORDS, vectors)
  np.testing.assert_array_equal(
    sem, reference_semantic(timings, 30, dict(zip(WORDS, vectors, strict=False)))
  )
  # Frame 1 (centre 0.15) is 'hello', frame 4 (centre 0.45) 'world', frames 13,14 the OOV word.
  np.testing.assert_array_equal(sem[1], vectors[0])
  np.testing.assert_array_equal(sem[4], vectors[1])
  assert stats == {"words": 5, "frames_with_word": 3 + 5 + 2 + 6, "oov_words": 1, "oov_frames": 2}
  hashed, _ = frames_lib.semantic_frames(timings, 30, WORDS, vectors, oov="hash")
  oov = schema.oov_vector("unknownword", DIM, float(vectors.std()))
  np.testing.assert_allclose(hashed[13], oov)
  np.testing.assert_allclose(hashed[14], oov)
  np.testing.assert_array_equal(np.delete(hashed, [13, 14], 0), np.delete(sem, [13, 14], 0))
  empty, stats = frames_lib.semantic_frames([], 4, WORDS, vectors)
  assert not empty.any() and stats["frames_with_word"] == 0


def test_cli_predicts_whole_recording_in_one_pass(setup, tmp_path):
  out = str(tmp_path / "pred.csv")
  r = run_python(
    [
      "-m",
      "emotion_tf.predict",
      "--model",
      setup["export_dir"],
      "--audio",
      setup["wav"],
      "--word_timings",
      setup["csv"],
      "--embeddings",
      setup["vec"],
      "--out",
      out,
    ]
  )
  assert r.returncode == 0, r.stderr[-3000:]
  assert f"{setup['frames']} frames" in r.stdout and "1 OOV words" in r.stdout
  rows = read_csv(out)
  assert len(rows) == setup["frames"] == 23
  assert {row[0] for row in rows} == {"Rec_01"}
  np.testing.assert_allclose([float(row[1]) for row in rows], np.arange(23) * 0.1, atol=1e-9)
  np.testing.assert_allclose(np.array([row[2:] for row in rows], float), setup["want"], atol=2e-5)


def test_library_textgrid_equals_csv_and_writes_atomically(setup, tmp_path):
  model = export_lib.ExportedModel(setup["export_dir"])
  from_tg, info = predict_lib.predict_recording(
    model, setup["wav"], setup["textgrid"], setup["vec"]
  )
  np.testing.assert_allclose(from_tg, setup["want"], rtol=1e-4, atol=1e-5)
  assert info["frames"] == 23 and info["oov_words"] == 1
  out = str(tmp_path / "sub" / "x.csv")
  info = predict_lib.predict_to_csv(
    setup["export_dir"], setup["wav"], out, setup["csv"], setup["vec"], name="speaker7"
  )
  assert read_csv(out)[0][0] == "speaker7" and info["out"] == out
  assert os.listdir(tmp_path / "sub") == ["x.csv"]
  # No word timings: semantic vectors are zeros.
  no_words, _ = predict_lib.predict_recording(model, setup["wav"])
  audio = corpus.load_audio(setup["wav"])[: 23 * SPF]
  want = setup["model"](
    {"audio": audio[None], "semantic": np.zeros((1, 23, DIM), np.float32)}, training=False
  ).numpy()[0]
  np.testing.assert_allclose(no_words, want, rtol=1e-4, atol=1e-5)


def test_bad_inputs_name_the_file(setup, tmp_path):
  model = export_lib.ExportedModel(setup["export_dir"])
  short = str(tmp_path / "short.wav")
  wavfile.write(short, 16000, np.zeros(800, np.int16))  # 0.05 s
  with pytest.raises(
    predict_lib.PredictionInputError,
    match=r"short.wav: audio is 0.050 s long, shorter than one 0.100 s frame",
  ):
    predict_lib.predict_recording(model, short)
  with pytest.raises(predict_lib.PredictionInputError, match="nope.wav: audio file is missing"):
    predict_lib.predict_recording(model, str(tmp_path / "nope.wav"))
  with pytest.raises(predict_lib.PredictionInputError, match="nope.csv: word timings file is"):
    predict_lib.predict_recording(model, setup["wav"], str(tmp_path / "nope.csv"), setup["vec"])
  with pytest.raises(predict_lib.PredictionInputError, match="need --embeddings"):
    predict_lib.predict_recording(model, setup["wav"], setup["csv"])
  wrong = str(tmp_path / "dim5.vec")
  write_vec(wrong, ["hello"], np.ones((1, 5), np.float32))
  with pytest.raises(
    predict_lib.PredictionInputError,
    match=r"dim5.vec: word vectors have dimension 5, but the model expects "
    r"semantic vectors of dimension 8",
  ):
    predict_lib.predict_recording(model, setup["wav"], setup["csv"], wrong)
  with pytest.raises(predict_lib.PredictionInputError, match="missing.vec: embeddings file is"):
    predict_lib.predict_recording(model, setup["wav"], setup["csv"], str(tmp_path / "missing.vec"))
  bad_csv = tmp_path / "bad.csv"
  bad_csv.write_text("s0w0;0.1;0.3;hi\ns0w1;zero;0.5;there\n")
  with pytest.raises(corpus.CorpusError, match=r"bad.csv:2: start 'zero' is not a number"):
    predict_lib.predict_recording(model, setup["wav"], str(bad_csv), setup["vec"])
  with pytest.raises(export_lib.ExportError, match="export directory does not exist"):
    predict_lib.predict_to_csv(str(tmp_path / "no_export"), setup["wav"], str(tmp_path / "o.csv"))
  assert not os.path.exists(tmp_path / "o.csv")


def test_cli_postprocess_file_shifts_and_smooths(setup, tmp_path):
  """--postprocess: the written CSV is the raw prediction shifted and Gaussian-smoothed per
  dimension (scipy reference); a file made for another hop is refused naming it (exit 2)."""
  from scipy.ndimage import gaussian_filter1d

  from emotion_tf.serving import postprocess

  pp_path = str(tmp_path / "postprocess.json")
  postprocess.write(pp_path, postprocess.PostProcessing((0.2, 0.0, -0.1), (0.3, 0.0, 0.1)), {})
  out = str(tmp_path / "pred.csv")
  base = [
    "-m",
    "emotion_tf.predict",
    "--model",
    setup["export_dir"],
    "--audio",
    setup["wav"],
    "--word_timings",
    setup["csv"],
    "--embeddings",
    setup["vec"],
    "--out",
    out,
  ]
  r = run_python(base + ["--postprocess", pp_path])
  assert r.returncode == 0, r.stderr[-3000:]
  want, n = setup["want"], setup["frames"]
  idx = np.arange(n)
  ref = np.stack(
    [
      gaussian_filter1d(want[np.minimum(idx + 2, n - 1), 0], 3.0, mode="nearest"),
      want[:, 1],
      gaussian_filter1d(want[np.maximum(idx - 1, 0), 2], 1.0, mode="nearest"),
    ],
    axis=1,
  )
  np.testing.assert_allclose(np.array([row[2:] for row in read_csv(out)], float), ref, atol=2e-5)
  other = str(tmp_path / "other.json")
  postprocess.write(other, postprocess.PostProcessing((0.0,) * 3, (0.0,) * 3, 0.02), {})
  r = run_python(base + ["--postprocess", other])
  assert r.returncode == 2 and f"{other}: made for" in r.stderr, r.stderr[-2000:]
