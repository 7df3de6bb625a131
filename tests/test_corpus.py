"""SEWA-layout reader: audio decode/resample, ids/partitions, labels, turns, transcriptions."""

import os

import numpy as np
import pytest
from data_fixtures import write_wav
from scipy import signal

from emotion_tf.data import corpus


def test_load_audio_48k_stereo_matches_scipy_reference(tmp_path):
  rate, n = 48000, 4800
  t = np.arange(n) / rate
  stereo = np.stack([0.5 * np.sin(2 * np.pi * 440 * t), 0.25 * np.sin(2 * np.pi * 220 * t)], 1)
  path = str(tmp_path / "x.wav")
  write_wav(path, stereo, rate)
  got = corpus.load_audio(path)
  pcm = np.round(stereo * 32767) / 32768.0
  want = signal.resample_poly(pcm.mean(axis=1), 147, 320)  # 22050 / 48000 = 147 / 320
  assert got.dtype == np.float32 and got.shape == (2205,)
  np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("sampwidth", [1, 2, 4])
def test_load_audio_native_rate_is_exact(tmp_path, sampwidth):
  x = np.linspace(-0.5, 0.5, 500)
  path = str(tmp_path / "y.wav")
  write_wav(path, x, 22050, sampwidth)
  got = corpus.load_audio(path)
  assert got.shape == (500,)
  np.testing.assert_allclose(got, x, atol=1.0 / 64)  # 8-bit is the coarsest


def test_load_audio_errors_name_the_file(tmp_path):
  missing = str(tmp_path / "missing.wav")
  with pytest.raises(corpus.CorpusError, match="missing.wav: audio file is missing"):
    corpus.load_audio(missing)
  empty = tmp_path / "empty.wav"
  empty.write_bytes(b"")
  with pytest.raises(corpus.CorpusError, match="empty.wav: audio file is empty"):
    corpus.load_audio(str(empty))
  bad = tmp_path / "bad.wav"
  bad.write_bytes(b"RIFF\x24\x00\x00\x00WAVEjunkjunk")
  with pytest.raises(corpus.CorpusError, match="bad.wav: corrupt"):
    corpus.load_audio(str(bad))
  noise = tmp_path / "noise.wav"
  noise.write_bytes(bytes(range(256)) * 4)
  with pytest.raises(corpus.CorpusError, match="noise.wav: corrupt"):
    corpus.load_audio(str(noise))
  nosamples = str(tmp_path / "nosamples.wav")
  write_wav(nosamples, np.zeros(0), 22050)
  with pytest.raises(corpus.CorpusError, match="nosamples.wav"):
    corpus.load_audio(nosamples)


def test_list_recordings_partitions_and_union_of_ids(tmp_path):
  for sub, name in (
    ("audio", "Train_02.wav"),
    ("audio", "Devel_01.wav"),
    ("labels", "Train_01.csv"),
    ("labels", "Devel_01.csv"),
    ("audio", "Other_01.wav"),
  ):
    os.makedirs(tmp_path / sub, exist_ok=True)
    (tmp_path / sub / name).write_bytes(b"")
  recs = corpus.list_recordings(str(tmp_path))
  assert [r.recording_id for r in recs] == ["Devel_01", "Train_01", "Train_02"]
  assert [r.partition for r in recs] == ["devel", "train", "train"]
  assert recs[1].audio_path == os.path.join(str(tmp_path), "audio", "Train_01.wav")
  assert recs[1].transcription_path.endswith(os.path.join("transcriptions", "Train_01.csv"))
  assert [r.recording_id for r in corpus.list_recordings(str(tmp_path), ["Train"])] == [
    "Train_01",
    "Train_02",
  ]
  with pytest.raises(ValueError, match="unknown partition"):
    corpus.list_recordings(str(tmp_path), ["dev"])
  with pytest.raises(corpus.CorpusError, match="does not exist"):
    corpus.list_recordings(str(tmp_path / "nope"))


def test_read_labels_values_and_header(tmp_path):
  p = tmp_path / "l.csv"
  p.write_text(
    "name;time;arousal;valence;liking\nTrain_01;0.0;0.1;-0.2;0.3\nTrain_01;0.1;0.4;0.5;-0.6\n\n"
  )
  times, values = corpus.read_labels(str(p))
  np.testing.assert_array_equal(times, [0.0, 0.1])
  np.testing.assert_array_equal(values, np.float32([[0.1, -0.2, 0.3], [0.4, 0.5, -0.6]]))
  assert values.dtype == np.float32 and times.dtype == np.float64


@pytest.mark.parametrize(
  "body,match",
  [
    ("a;0.0;0.1;0.2\n", ":1: expected 5 fields"),
    ("a;0.0;0.1;0.2;0.3\na;0.1;x;0.2;0.3\n", ":2: arousal 'x' is not a number"),
    ("a;0.0;0.1;nan;0.3\n", ":1: valence is nan"),
    ("a;0.0;0.1;0.2;inf\n", ":1: liking is inf"),
    ("a;0.0;1.5;0.2;0.3\n", ":1: arousal 1.5 outside"),
    ("a;0.1;0.1;0.2;0.3\na;0.1;0.1;0.2;0.3\n", ":2: time 0.1 does not increase"),
    ("", "label file has no rows"),
  ],
)
def test_read_labels_errors(tmp_path, body, match):
  p = tmp_path / "l.csv"
  p.write_text(body)
  with pytest.raises(corpus.CorpusError, match=match):
    corpus.read_labels(str(p))


def test_read_turns(tmp_path):
  p = tmp_path / "t.csv"
  p.write_text("0.5;1.25\n2;3.5\n")
  assert corpus.read_turns(str(p)) == [(0.5, 1.25), (2.0, 3.5)]
  p.write_text("0.5;1.25\n3;2\n")
  with pytest.raises(corpus.CorpusError, match=":2: bad turn span"):
    corpus.read_turns(str(p))


def test_read_transcription_sewa_quoting(tmp_path):
  p = tmp_path / "tr.csv"
  p.write_text(
    "0.5;1.5;'Hello, there'\n"
    "1.6;2.0;'<filler>'\n"
    "2.0;3.0;|'well; I don't <laughter> know'|\n"
    "3.0;4.0;'a;b'\n",
    encoding="utf-8",
  )
  rows = corpus.read_transcription(str(p))
  assert rows == [
    (0.5, 1.5, "Hello, there"),
    (1.6, 2.0, "<filler>"),
    (2.0, 3.0, "well; I don't <laughter> know"),
    (3.0, 4.0, "a;b"),
  ]


@pytest.mark.parametrize(
  "line,match",
  [
    ("0.5;'no end time'", ":2: malformed transcript line"),
    ("x;1.0;'bad start'", ":2: start time 'x' is not a number"),
    ("2.0;1.0;'backwards'", ":2: bad transcript span"),
    ("1.0;2.0;'unterminated", ":2: unbalanced single quote"),
  ],
)
def test_read_transcription_errors(tmp_path, line, match):
  p = tmp_path / "tr.csv"
  p.write_text("0.0;0.5;'fine'\n" + line + "\n")
  with pytest.raises(corpus.CorpusError, match=match):
    corpus.read_transcription(str(p))


def test_non_utf8_text_names_line(tmp_path):
  p = tmp_path / "tr.csv"
  p.write_bytes(b"0.0;0.5;'fine'\n0.5;1.0;'caf\xe9'\n")
  with pytest.raises(corpus.CorpusError, match=r"tr.csv:2: not valid UTF-8"):
    corpus.read_transcription(str(p))


def test_reads_synthetic_corpus(tiny_corpus):
  recs = corpus.list_recordings(tiny_corpus)
  assert [r.recording_id for r in recs] == ["Devel_01", "Test_01", "Train_01", "Train_02"]
  for r in recs:
    audio = corpus.load_audio(r.audio_path)
    times, labels = corpus.read_labels(r.labels_path)
    assert len(audio) == 240 * 2205 and labels.shape == (240, 3)
    turns = corpus.read_turns(r.turns_path)
    rows = corpus.read_transcription(r.transcription_path)
    assert [(s, e) for s, e, _ in rows] == turns and rows
