"""Catalogue of bad inputs and faults of the data_prep binaries (data side).

Every case drives a binary through a subprocess (`python -m data_prep.<binary>`) on a tiny
corpus of 3 s recordings and asserts (a) the exit code of `emotion_tf.util.cli` (0 ok, 1 some
recordings failed, 2 bad input/usage, 130 Ctrl-C), (b) that the message names the file and the
problem, and (c) that no good output is lost: the good recordings of a corpus are written and
read back equal to their inputs, and an output directory that already held good shards is left
byte-identical by a refused run. Parse-level unit tests of the readers stay in test_corpus.py /
test_word_timings.py; this file is about what a user of the binaries sees.
"""

import json
import os
import pathlib
import shutil
import signal
import struct
import subprocess
import sys
import time
import wave

import binary_runner
import numpy as np
import pytest
from data_fixtures import tree_bytes, write_wav
from scipy import signal as sps

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RATE = 22050
SECONDS = 3
FRAMES = SECONDS * 10
SENTENCES = ((0.2, 1.4, "hello good day"), (1.6, 2.8, "happy people smile"))
WORDS = ["hello", "good", "day", "happy", "people", "smile"]
DIM = 4


# ------------------------------------------------------------------------------- corpus builders


def _signal(rate, seconds=SECONDS, channels=1, seed=0):
  """Deterministic test signal [N, C] in [-0.6, 0.6]: a tone per channel plus noise."""
  rng = np.random.default_rng(seed)
  t = np.arange(int(rate * seconds)) / rate
  chans = [
    0.3 * np.sin(2 * np.pi * (180 + 40 * c) * t) + 0.1 * rng.uniform(-1, 1, t.size)
    for c in range(channels)
  ]
  return np.stack(chans, 1)


def write_wav24(path, x, rate):
  """24-bit PCM wav; returns the samples as decoded ([N, C] float, value / 2^23)."""
  pcm = np.clip(np.round(x * 8388607), -8388608, 8388607).astype("<i4")
  raw = pcm.reshape(-1).view(np.uint8).reshape(-1, 4)[:, :3]
  with wave.open(path, "wb") as w:
    w.setnchannels(x.shape[1])
    w.setsampwidth(3)
    w.setframerate(rate)
    w.writeframes(raw.tobytes())
  return pcm / 8388608.0


def write_float_wav(path, x, rate):
  """IEEE float32 wav (format tag 3); returns the stored samples."""
  data = np.asarray(x, "<f4")
  ch = data.shape[1]
  fmt = struct.pack("<HHIIHH", 3, ch, rate, rate * ch * 4, ch * 4, 32)
  body = data.tobytes()
  with open(path, "wb") as f:
    f.write(b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(body)) + b"WAVE")
    f.write(b"fmt " + struct.pack("<I", len(fmt)) + fmt)
    f.write(b"data" + struct.pack("<I", len(body)) + body)
  return data.astype(np.float64)


def _pcm(x, sampwidth):
  """What `write_wav` stores, as decoded floats."""
  if sampwidth == 1:
    return (np.clip(np.round(x * 127 + 128), 0, 255) - 128) / 128.0
  if sampwidth == 2:
    return np.clip(np.round(x * 32767), -32768, 32767) / 32768.0
  return np.clip(np.round(x * 2147483647), -2147483648, 2147483647) / 2147483648.0


def add_recording(d, rid, seed=0, audio="pcm16", timings=True):
  """Writes audio, labels, turns, transcription (and word_timings/<rid>.csv) of one recording.

  `audio` picks the wav format; returns the expected mono waveform at 22 050 Hz (the
  independent reference: known samples, channel mean, scipy's polyphase resampler).
  """
  for sub in ("audio", "labels", "turns", "transcriptions", "word_timings"):
    os.makedirs(os.path.join(d, sub), exist_ok=True)
  wav = os.path.join(d, "audio", rid + ".wav")
  rate, stored = RATE, None
  if audio == "pcm16":
    x = _signal(RATE, seed=seed)
    write_wav(wav, x, RATE, 2)
    stored = _pcm(x, 2)
  elif audio in ("pcm8", "pcm32"):
    width = 1 if audio == "pcm8" else 4
    x = _signal(RATE, seed=seed)
    write_wav(wav, x, RATE, width)
    stored = _pcm(x, width)
  elif audio == "pcm24":
    stored = write_wav24(wav, _signal(RATE, seed=seed), RATE)
  elif audio == "float":
    stored = write_float_wav(wav, _signal(RATE, seed=seed), RATE)
  elif audio == "8k_mono":
    rate = 8000
    x = _signal(rate, seed=seed)
    write_wav(wav, x, rate, 2)
    stored = _pcm(x, 2)
  elif audio == "48k_6ch":
    rate = 48000
    x = _signal(rate, channels=6, seed=seed)
    write_wav(wav, x, rate, 2)
    stored = _pcm(x, 2)
  mono = stored.mean(axis=1)
  if rate != RATE:
    g = np.gcd(rate, RATE)
    mono = sps.resample_poly(mono, RATE // g, rate // g)
  rng = np.random.default_rng(100 + seed)
  labels = rng.uniform(-0.5, 0.5, (FRAMES, 3)).round(3)
  with open(os.path.join(d, "labels", rid + ".csv"), "w", encoding="utf-8") as f:
    f.writelines(f"{rid};{k / 10:.1f};{a};{v};{l}\n" for k, (a, v, l) in enumerate(labels))
  with open(os.path.join(d, "turns", rid + ".csv"), "w", encoding="utf-8") as f:
    f.writelines(f"{s};{e}\n" for s, e, _ in SENTENCES)
  with open(os.path.join(d, "transcriptions", rid + ".csv"), "w", encoding="utf-8") as f:
    f.writelines(f"{s};{e};'{text}'\n" for s, e, text in SENTENCES)
  if timings:
    rows = []
    for i, (s, e, text) in enumerate(SENTENCES):
      words = text.split()
      step = (e - s) / len(words)
      rows += [
        f"s{i}w{k};{s + k * step:.4f};{s + (k + 1) * step:.4f};{w}\n" for k, w in enumerate(words)
      ]
    with open(os.path.join(d, "word_timings", rid + ".csv"), "w", encoding="utf-8") as f:
      f.writelines(rows)
  return mono.astype(np.float32), labels.astype(np.float32)


def write_vec(path, words=WORDS, dim=DIM):
  rng = np.random.default_rng(7)
  with open(path, "w", encoding="utf-8") as f:
    f.write(f"{len(words)} {dim}\n")
    for w in words:
      f.write(w + " " + " ".join(f"{v:.4f}" for v in rng.standard_normal(dim)) + "\n")
  return path


def run(module, *args, timeout=300, **kw):
  return binary_runner.run_module(module, args, cwd=ROOT, timeout=timeout, **kw)


def writer_args(corpus, vec, out, *extra):
  return [
    "--corpus",
    corpus,
    "--embeddings",
    vec,
    "--out",
    out,
    "--word_timings",
    os.path.join(corpus, "word_timings"),
    "--num_workers",
    "1",
    "--records_per_shard",
    "1",
    *extra,
  ]


def shard_contents(out):
  """{recording_id: (audio [30 * 2205], labels [30, 3], word_index [30])} read from the shards."""
  import tensorflow as tf

  from emotion_tf.data import schema

  meta = schema.read_metadata(out)
  got = {}
  for name in sorted(os.listdir(out)):
    if name.endswith(".tfrecord"):
      for raw in tf.data.TFRecordDataset(os.path.join(out, name)):
        ex = schema.parse_example(
          raw, meta.frames_per_chunk, meta.samples_per_frame, meta.semantic_dim, meta.audio_dtype
        )
        n = int(ex["num_frames"])
        got[ex["recording_id"].numpy().decode()] = (
          ex["audio"].numpy()[: n * 2205],
          ex["labels"].numpy()[:n],
          ex["word_index"].numpy()[:n],
        )
  return got


def shard_bytes(out):
  return {
    n: pathlib.Path(os.path.join(out, n)).read_bytes()
    for n in sorted(os.listdir(out))
    if n.endswith(".tfrecord")
  }


# ---------------------------------------------------------------------------- good wav formats

FORMATS = ["pcm16", "pcm8", "pcm24", "pcm32", "float", "8k_mono", "48k_6ch"]
BEYOND_ID = "Devel_01"  # its word timings run past the end of its 3 s of audio


@pytest.fixture(scope="module")
def good(tmp_path_factory):
  """(corpus, vec, out, CompletedProcess, {id: (audio, labels)}) of one writer run."""
  d = str(tmp_path_factory.mktemp("good_corpus"))
  expected = {
    f"Train_{k + 1:02d}": add_recording(d, f"Train_{k + 1:02d}", k, fmt)
    for k, fmt in enumerate(FORMATS)
  }
  expected[BEYOND_ID] = add_recording(d, BEYOND_ID, 9)
  with open(os.path.join(d, "word_timings", BEYOND_ID + ".csv"), "a", encoding="utf-8") as f:
    f.write("s2w0;3.1000;3.4000;hello\ns2w1;3.4000;3.9000;day\n")
  vec = write_vec(os.path.join(d, "words.vec"))
  out = os.path.join(d, "out")
  res = run("data_prep.write_tfrecords", *writer_args(d, vec, out))
  return d, vec, out, res, expected


@pytest.mark.parametrize("fmt", FORMATS)
def test_wav_format_is_decoded_exactly(good, fmt):
  """16/8/24/32-bit PCM, float32, 8 kHz mono and 6-channel 48 kHz wavs all load: exit 0, and
  the stored audio equals the known samples (channel mean, resampled by resample_poly)."""
  _, _, out, res, expected = good
  assert res.returncode == 0, res.stderr[-3000:]
  rid = f"Train_{FORMATS.index(fmt) + 1:02d}"
  audio, labels, _ = shard_contents(out)[rid]
  want_audio, want_labels = expected[rid]
  assert audio.shape == (FRAMES * 2205,)
  np.testing.assert_allclose(audio, want_audio[: FRAMES * 2205], atol=2e-5)
  np.testing.assert_allclose(labels, want_labels, atol=1e-6)


def test_word_timings_beyond_audio_are_warned_with_count_and_file(good):
  corpus, _, out, res, expected = good
  assert res.returncode == 0, res.stderr[-3000:]
  path = os.path.join(corpus, "word_timings", BEYOND_ID + ".csv")
  assert f"WARNING {path}: 2 of 8 word timings start at or after the end of the audio" in res.stdout
  report = json.loads(pathlib.Path(os.path.join(out, "report.json")).read_text(encoding="utf-8"))
  rec = next(r for r in report["recordings"] if r["recording_id"] == BEYOND_ID)
  assert rec["words_beyond_audio"] == 2 and rec["words"] == 8
  np.testing.assert_allclose(shard_contents(out)[BEYOND_ID][0], expected[BEYOND_ID][0], atol=2e-5)


def test_speech2vec_segments_warn_on_timings_beyond_audio(caplog):
  from emotion_tf.semantic import (
    mfcc,
    segments,
  )

  wav = _signal(RATE, seconds=1.0)[:, 0].astype(np.float32)
  timings = [(0.1, 0.5, "a"), (0.5, 0.9, "b"), (1.2, 1.5, "c"), (2.0, 2.5, "d")]
  with caplog.at_level("WARNING"):
    segs, counts = segments.extract_segments(
      wav, timings, "Train_01", mfcc.MfccConfig(), source="t/Train_01.csv"
    )
  assert counts["outside_audio"] == 2 and segs.words == ["a", "b"]
  assert "t/Train_01.csv: 2 of 4 word timings start at or after the end of the audio" in caplog.text


# ------------------------------------------------------------------------ bad recordings (exit 1)


def _rewrite(path, fn):
  with open(path, "rb") as f:
    data = f.read()
  with open(path, "wb") as f:
    f.write(fn(data))


def _lines(fn):
  return lambda data: ("\n".join(fn(data.decode("utf-8").splitlines())) + "\n").encode("utf-8")


def _set(row, field, value):
  def fn(lines):
    parts = lines[row].split(";")
    parts[field] = value
    lines[row] = ";".join(parts)
    return lines

  return _lines(fn)


def _nan_float_wav(p):
  x = _signal(RATE)
  x[1000] = np.nan
  write_float_wav(p, x, RATE)


BAD_TG = (
  'File type = "ooTextFile"\nObject class = "TextGrid"\n\nxmin = 0\nxmax = 3\n'
  'tiers? <exists>\nsize = 1\nitem []:\n    item [1]:\n        class = "IntervalTier"\n'
  '        name = "words"\n        xmin = 0\n        xmax = 3\n'
  "        intervals: size = 2\n        intervals [1]:\n            xmin = 0\n"
)

# id -> (file that is damaged (sub, ext), damage(path), expected message fragment after the path)
BAD = {
  "Train_02": (("audio", ".wav"), os.remove, ": audio file is missing"),
  "Train_03": (("audio", ".wav"), lambda p: open(p, "wb").close(), ": audio file is empty"),
  "Train_04": (
    ("audio", ".wav"),
    lambda p: _rewrite(p, lambda b: b[:30]),
    ": corrupt or unsupported wav file",
  ),
  "Train_05": (("audio", ".wav"), _nan_float_wav, ": wav file contains NaN/inf samples"),
  "Train_06": (("labels", ".csv"), lambda p: _rewrite(p, _set(9, 3, "nan")), ":10: valence is nan"),
  "Train_07": (
    ("labels", ".csv"),
    lambda p: _rewrite(p, _lines(lambda ls: ls[:10] + ls[11:])),
    ": label row 11 is 0.200 s after the previous one",
  ),
  "Train_08": (
    ("labels", ".csv"),
    lambda p: _rewrite(p, _set(4, 4, "0.1;0.2")),
    ":5: expected 5 fields 'name;time;arousal;valence;liking', got 6",
  ),
  "Train_09": (
    ("labels", ".csv"),
    lambda p: _rewrite(p, lambda b: b"name;time;arousal;valence;liking\n"),
    ": label file has no rows",
  ),
  "Train_10": (("labels", ".csv"), os.remove, ": label file is missing"),
  "Train_11": (
    ("labels", ".csv"),
    lambda p: _rewrite(p, _lines(lambda ls: ls[:12])),
    ": labels cover 1.20 s but",
  ),
  "Train_12": (
    ("transcriptions", ".csv"),
    lambda p: _rewrite(p, lambda b: b.replace(b"smile", b"sm\xefle")),
    ":2: not valid UTF-8 (byte 0xef",
  ),
  "Train_13": (
    ("word_timings", ".TextGrid"),
    lambda p: pathlib.Path(p).write_text(BAD_TG),
    ": malformed TextGrid (expected a number",
  ),
  "Train_14": (
    ("word_timings", ".csv"),
    lambda p: _rewrite(p, lambda b: b + b"s9w0;2.9000;oops;smile\n"),
    ":7: end 'oops' is not a number",
  ),
  "Train_15": (
    ("labels", ".csv"),
    lambda p: _rewrite(p, _set(4, 2, "1.7")),
    ":5: arousal 1.7 outside [-1.0, 1.0]",
  ),
  "Train_16": (
    ("labels", ".csv"),
    lambda p: _rewrite(
      p, _lines(lambda ls: ls + [f"x;{k / 10:.1f};0;0;0" for k in range(FRAMES, FRAMES + 25)])
    ),
    ": labels cover 5.50 s but",
  ),
  "Train_17": (
    ("transcriptions", ".csv"),
    lambda p: _rewrite(p, lambda b: b"0.1;'no end time'\n" + b),
    ":1: malformed transcript line",
  ),
  "Train_18": (
    ("labels", ".csv"),
    lambda p: _rewrite(p, lambda b: b + b"x;3.0;0.1\xff;0;0\n"),
    ":31: not valid UTF-8 (byte 0xff",
  ),
}
GOOD_IDS = ("Devel_01", "Train_01")


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
  """(corpus, vec, out, CompletedProcess, expected) of one writer run on a corpus holding
  every bad recording of BAD beside two good ones."""
  d = str(tmp_path_factory.mktemp("bad_corpus"))
  expected = {rid: add_recording(d, rid, k) for k, rid in enumerate(GOOD_IDS)}
  for k, (rid, ((sub, ext), damage, _)) in enumerate(BAD.items()):
    add_recording(d, rid, 10 + k, timings=sub == "word_timings")
    if ext == ".TextGrid":
      os.remove(os.path.join(d, "word_timings", rid + ".csv"))
    damage(os.path.join(d, sub, rid + ext))
  vec = write_vec(os.path.join(d, "words.vec"))
  out = os.path.join(d, "out")
  res = run("data_prep.write_tfrecords", *writer_args(d, vec, out))
  return d, vec, out, res, expected


@pytest.mark.parametrize("rid", sorted(BAD))
def test_bad_recording_is_named_and_the_rest_written(bad, rid):
  corpus, _, out, res, expected = bad
  (sub, ext), _, fragment = BAD[rid]
  assert res.returncode == 1, res.stderr[-3000:]
  path = os.path.join(corpus, sub, rid + ext)
  line = next((l for l in res.stdout.splitlines() if l.startswith(f"FAILED {rid}: ")), "")
  assert f"{path}{fragment}" in line, (line, res.stdout[-3000:])
  assert "Traceback" not in res.stderr
  got = shard_contents(out)
  assert sorted(got) == sorted(GOOD_IDS)  # nothing of the bad one, all of the good ones
  for good_id in GOOD_IDS:
    np.testing.assert_allclose(got[good_id][0], expected[good_id][0][: FRAMES * 2205], atol=2e-5)
    np.testing.assert_allclose(got[good_id][1], expected[good_id][1], atol=1e-6)


def test_bad_corpus_summary_metadata_and_rerun(bad):
  """Summary line, incomplete metadata naming every failure, no temp/lock file left; a rerun
  skips the complete shards and retries only the failed recordings."""
  corpus, vec, out, res, _ = bad
  assert f"{len(GOOD_IDS)} recordings written, {len(BAD)} failed" in res.stdout
  from emotion_tf.data import schema

  meta = schema.read_metadata(out)
  assert not meta.complete and sorted(meta.failed_recordings) == sorted(BAD)
  assert [f for f in os.listdir(out) if f.startswith(".")] == []
  again = run("data_prep.write_tfrecords", *writer_args(corpus, vec, out))
  assert again.returncode == 1
  assert (
    f"0 recordings written, {len(BAD)} failed; shards written {len(BAD)}, skipped {len(GOOD_IDS)}"
  ) in again.stdout


# ------------------------------------------------------------- refused runs (exit 2, nothing lost)


@pytest.fixture()
def good_out(good, tmp_path):
  """A copy of the good run's output directory (and its snapshot) for a run to leave alone."""
  corpus, vec, out, res, _ = good
  assert res.returncode == 0, res.stderr[-3000:]
  dst = str(tmp_path / "out")
  shutil.copytree(out, dst)
  return corpus, vec, dst, tree_bytes(dst)


@pytest.mark.parametrize(
  "name,body,fragment",
  [
    (
      "malformed.vec",
      b"2 4\nhello 1 2 3 4\ngood 1 x 3 4\n",
      ":3: non-numeric value for word 'good'",
    ),
    (
      "dims.vec",
      b"2 4\nhello 1 2 3 4\ngood 1 2 3\n",
      ":3: word 'good' has 3 values, header says dim=4",
    ),
    ("nonutf8.vec", b"1 2\ncaf\xe9 1 2\n", ": not valid UTF-8"),
    ("header.vec", b"hello 1 2 3 4\n", ":1: bad header 'hello 1 2 3 4'"),
  ],
)
def test_bad_embeddings_file_refused_and_outputs_kept(good_out, tmp_path, name, body, fragment):
  corpus, _, out, before = good_out
  vec = tmp_path / name
  vec.write_bytes(body)
  res = run("data_prep.write_tfrecords", *writer_args(corpus, str(vec), out))
  assert res.returncode == 2
  assert f"error: {vec}{fragment}" in res.stderr and "Traceback" not in res.stderr
  assert tree_bytes(out) == before


@pytest.mark.parametrize("missing", ["corpus", "embeddings"])
def test_missing_corpus_or_embeddings_refused_nothing_created(good, tmp_path, missing):
  corpus, vec, _, _, _ = good
  gone = str(tmp_path / "gone")
  args = writer_args(
    gone if missing == "corpus" else corpus,
    gone if missing == "embeddings" else vec,
    str(tmp_path / "out"),
  )
  res = run("data_prep.write_tfrecords", *args)
  assert res.returncode == 2
  want = (
    f"{gone}: corpus directory does not exist"
    if missing == "corpus"
    else f"{gone}: cannot read embeddings file"
  )
  assert want in res.stderr and "Traceback" not in res.stderr
  assert not os.path.exists(tmp_path / "out")


def test_align_embeddings_bad_vec_named(tmp_path):
  good_vec = write_vec(str(tmp_path / "t.vec"))
  bad_vec = tmp_path / "s.vec"
  bad_vec.write_bytes(b"2 4\nhello 1 2 3 4\ngood 1 2 3\n")
  res = run(
    "data_prep.align_embeddings",
    "--speech",
    bad_vec,
    "--text",
    good_vec,
    "--out",
    tmp_path / "align",
    "--score_lexicon",
    "none",
  )
  assert res.returncode == 2
  assert f"{bad_vec}:3: word 'good' has 3 values, header says dim=4" in res.stderr
  assert not os.path.exists(tmp_path / "align" / "W.npy")


@pytest.mark.parametrize("module", ["data_prep.write_tfrecords", "data_prep.train_word2vec"])
def test_unknown_flag_and_missing_flagfile(tmp_path, module):
  res = run(module, "--no_such_flag=1")
  assert res.returncode == 2 and "no_such_flag" in res.stderr and "Traceback" not in res.stderr
  missing = tmp_path / "missing.flags"
  res = run(module, f"--flagfile={missing}")
  assert res.returncode == 2 and str(missing) in res.stderr and "Traceback" not in res.stderr


@pytest.mark.parametrize(
  "module,extra,kind",
  [
    ("data_prep.write_tfrecords", ["--corpus", "{corpus}", "--embeddings", "{vec}"], "dir"),
    ("data_prep.train_word2vec", ["--text", "{text}", "--epochs", "50"], "file"),
    ("data_prep.train_speech2vec", ["--corpus", "{corpus}", "--epochs", "1"], "dir"),
    (
      "data_prep.align_embeddings",
      ["--speech", "{vec}", "--text", "{vec}", "--score_lexicon", "none"],
      "dir",
    ),
  ],
)
def test_output_under_a_regular_file_refused_before_work(good, tmp_path, module, extra, kind):
  corpus, vec, _, _, _ = good
  text = tmp_path / "text.txt"
  text.write_text("hello good day\nhappy people smile\n" * 50, encoding="utf-8")
  blocker = tmp_path / "blocker"
  blocker.write_text("a regular file\n", encoding="utf-8")
  out = blocker / ("sub.vec" if kind == "file" else "sub")
  args = [a.format(corpus=corpus, vec=vec, text=text) for a in extra]
  res = run(module, *args, "--out", out)
  assert res.returncode == 2, res.stderr[-3000:]
  assert f"--out {out}: cannot create" in res.stderr and f"{blocker} is a file" in res.stderr
  assert "Traceback" not in res.stderr
  # Refused before any work: no training epoch, no segment extraction, nothing written.
  assert "epoch" not in res.stderr and "word segments" not in res.stderr
  assert blocker.read_text(encoding="utf-8") == "a regular file\n"


def test_output_that_is_a_regular_file_refused(good, tmp_path):
  corpus, vec, _, _, _ = good
  out = tmp_path / "out"
  out.write_text("keep me\n", encoding="utf-8")
  res = run("data_prep.write_tfrecords", *writer_args(corpus, vec, str(out)))
  assert res.returncode == 2 and f"--out {out}: is a file, not a directory" in res.stderr
  assert out.read_text(encoding="utf-8") == "keep me\n"


# ---------------------------------------------------------------------------------- locking


def _lock_file(out, holder_pid, settings="other-settings", name="write_tfrecords.0-of-1"):
  import socket

  from emotion_tf.util import fileio

  path = os.path.join(out, ".lock-" + name)
  with open(path, "w", encoding="utf-8") as f:
    json.dump(
      {
        "pid": holder_pid,
        "host": socket.gethostname(),
        "started": "2026-01-01T00:00:00Z",
        "proc_start": fileio._process_start_time(holder_pid),
        "settings": settings,
      },
      f,
    )
  return path


@pytest.mark.parametrize("name", ["write_tfrecords.0-of-1", "write_tfrecords.1-of-2"])
def test_live_lock_refused_naming_directory_and_holder(good_out, name):
  """The same slice held by a live process, or another slice with other settings: refused."""
  corpus, vec, out, before = good_out
  holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
  try:
    lock = _lock_file(out, holder.pid, name=name)
    before[os.path.basename(lock)] = pathlib.Path(lock).read_bytes()
    res = run("data_prep.write_tfrecords", *writer_args(corpus, vec, out, "--force"))
  finally:
    holder.kill()
    holder.wait()
  assert res.returncode == 2, res.stderr[-3000:]
  assert f"error: {out}: another writer" in res.stderr and f"pid {holder.pid} on host" in res.stderr
  assert lock in res.stderr and "Traceback" not in res.stderr
  assert tree_bytes(out) == before


def test_two_writers_with_different_settings_one_refused(good, tmp_path):
  corpus, vec, _, _, _ = good
  out = str(tmp_path / "out")
  first = subprocess.Popen(
    [sys.executable, "-m", "data_prep.write_tfrecords", *writer_args(corpus, vec, out)],
    cwd=ROOT,
    stdout=subprocess.PIPE,
    stderr=subprocess.PIPE,
    text=True,
  )
  lock = os.path.join(out, ".lock-write_tfrecords.0-of-1")
  deadline = time.time() + 120
  while not os.path.exists(lock) and first.poll() is None and time.time() < deadline:
    time.sleep(0.002)
  # Freeze the first writer while it holds the lock (it writes the tiny corpus in a fraction of
  # the second one's start-up time), so the second surely meets a live writer.
  os.kill(first.pid, signal.SIGSTOP)
  try:
    assert os.path.exists(lock), "the first writer finished before its lock was seen"
    second = run(
      "data_prep.write_tfrecords", *writer_args(corpus, vec, out, "--audio_dtype", "int16")
    )
  finally:
    os.kill(first.pid, signal.SIGCONT)
  stdout, stderr = first.communicate(timeout=300)
  assert first.returncode == 0, stderr[-3000:]
  assert second.returncode == 2
  assert f"{out}: another writer" in second.stderr and f"pid {first.pid}" in second.stderr
  from emotion_tf.data import schema

  meta = schema.read_metadata(out)
  assert meta.complete and meta.audio_dtype == "float32"  # the first writer's settings
  assert not os.path.exists(lock)


# --------------------------------------------------------------------- stale shards, --force


def test_fixed_recording_is_rewritten_touched_one_is_not(good, tmp_path):
  """The fingerprint covers content: edited labels (same size) and an edited word-timings file
  make their shards be rewritten; a touched file with the same bytes does not; --force
  rewrites everything."""
  from data_prep import write_tfrecords_lib as write_tfrecords

  src, vec, ref_out, res, expected = good
  assert res.returncode == 0
  corpus = str(tmp_path / "corpus")
  shutil.copytree(src, corpus)
  out = str(tmp_path / "out")
  shutil.copytree(ref_out, out)
  wt_dir = os.path.join(corpus, "word_timings")
  kw = dict(word_timings=wt_dir, records_per_shard=1, num_workers=1)
  # Copies carry new paths: every shard is redone once (the fingerprint records the inputs).
  first = write_tfrecords.write_tfrecords(
    write_tfrecords.WriteJobConfig(corpus=corpus, embeddings=vec, out=out, **kw)
  )
  assert first["ok"] and len(first["shards_written"]) == len(expected)
  labels = os.path.join(corpus, "labels", "Train_02.csv")
  with open(labels, encoding="utf-8") as f:
    text = f.read()
  row = text.splitlines()[5].split(";")
  fixed = text.replace(";".join(row), ";".join(row[:2] + ["0.999"[: len(row[2])]] + row[3:]))
  assert len(fixed) == len(text) and fixed != text
  with open(labels, "w", encoding="utf-8") as f:
    f.write(fixed)
  timings = os.path.join(wt_dir, "Train_03.csv")
  with open(timings, "a", encoding="utf-8") as f:
    f.write("s2w0;2.9000;3.0000;smile\n")
  touched = os.path.join(corpus, "audio", "Train_04.wav")
  os.utime(touched, ns=(time.time_ns(), time.time_ns() + 10**9))
  again = write_tfrecords.write_tfrecords(
    write_tfrecords.WriteJobConfig(corpus=corpus, embeddings=vec, out=out, **kw)
  )
  assert sorted(again["shards_written"]) == [
    "train-00001-of-00007.tfrecord",
    "train-00002-of-00007.tfrecord",
  ]
  got = shard_contents(out)
  want_labels = expected["Train_02"][1].copy()
  want_labels[5, 0] = float("0.999"[: len(row[2])])
  np.testing.assert_allclose(got["Train_02"][1], want_labels, atol=1e-6)
  assert got["Train_03"][2][29] != 0  # the added word marks the last frame
  third = write_tfrecords.write_tfrecords(
    write_tfrecords.WriteJobConfig(corpus=corpus, embeddings=vec, out=out, **kw)
  )
  assert third["shards_written"] == [] and len(third["shards_skipped"]) == len(expected)
  res = run("data_prep.write_tfrecords", *writer_args(corpus, vec, out, "--force"))
  assert res.returncode == 0, res.stderr[-3000:]
  assert f"shards written {len(expected)}, skipped 0" in res.stdout


# ---------------------------------------------------------------------- kill -9 and Ctrl-C


def _wait_for(path_fn, proc, timeout=120):
  deadline = time.time() + timeout
  while time.time() < deadline and proc.poll() is None:
    if path_fn():
      return True
    time.sleep(0.002)
  return False


def test_kill9_then_rerun_resumes_exactly(good, tmp_path):
  """kill -9 after the first shard: the rerun finds the stale lock (pid gone), removes it with
  a warning, skips the finished shards and ends byte-identical to an uninterrupted run."""
  from data_prep import write_tfrecords_lib as write_tfrecords

  src, vec, _, res, _ = good
  assert res.returncode == 0
  corpus = str(tmp_path / "corpus")
  count = 24  # copies of one recording: a wide window between the first shard and the end
  for k in range(count):
    for sub, ext in (("audio", ".wav"), ("labels", ".csv"), ("word_timings", ".csv")):
      os.makedirs(os.path.join(corpus, sub), exist_ok=True)
      shutil.copyfile(
        os.path.join(src, sub, "Train_01" + ext),
        os.path.join(corpus, sub, f"Train_{k + 1:02d}{ext}"),
      )
  ref_out = str(tmp_path / "reference")
  ref = write_tfrecords.write_tfrecords(
    write_tfrecords.WriteJobConfig(
      corpus=corpus,
      embeddings=vec,
      out=ref_out,
      word_timings=os.path.join(corpus, "word_timings"),
      records_per_shard=1,
      num_workers=1,
    )
  )
  assert ref["ok"]
  out = str(tmp_path / "out")
  proc = subprocess.Popen(
    [sys.executable, "-m", "data_prep.write_tfrecords", *writer_args(corpus, vec, out)],
    cwd=ROOT,
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
  )
  sidecars = lambda: (
    os.path.isdir(out)
    and any(  # noqa: E731
      f.endswith(".tfrecord.json") for f in os.listdir(out)
    )
  )
  assert _wait_for(sidecars, proc), "the writer ended before its first shard was seen"
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert os.path.exists(os.path.join(out, ".lock-write_tfrecords.0-of-1"))
  done_before = [f for f in os.listdir(out) if f.endswith(".tfrecord.json")]
  assert 1 <= len(done_before) < count
  again = run("data_prep.write_tfrecords", *writer_args(corpus, vec, out))
  assert again.returncode == 0, again.stderr[-3000:]
  assert "removing a stale lock" in again.stderr and f"pid {proc.pid}" in again.stderr
  assert f"skipped {len(done_before)}" in again.stdout
  assert shard_bytes(out) == shard_bytes(ref_out)
  assert [f for f in os.listdir(out) if f.startswith(".")] == []


def sigint_default():
  """Child set-up: Ctrl-C acts as in a terminal's foreground job, also when the tests run in a
  background job (which starts every child with SIGINT ignored, and Python keeps it so)."""
  signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_exits_130_with_one_line_and_rerun_resumes(good, tmp_path):
  """SIGINT while the worker pool runs: exit 130, one line, no traceback from the parent or
  the workers, lock released; the rerun completes byte-identical to an uninterrupted run."""
  corpus, vec, ref_out, res, _ = good
  assert res.returncode == 0
  out = str(tmp_path / "out")
  proc = subprocess.Popen(
    [
      sys.executable,
      "-m",
      "data_prep.write_tfrecords",
      *writer_args(corpus, vec, out, "--num_workers", "2"),
    ],
    cwd=ROOT,
    stdout=subprocess.PIPE,
    stderr=subprocess.PIPE,
    text=True,
    start_new_session=True,
    preexec_fn=sigint_default,
  )
  children = f"/proc/{proc.pid}/task/{proc.pid}/children"

  def workers_started():
    try:
      with open(children, encoding="utf-8") as f:
        return len(f.read().split()) >= 2
    except OSError:
      return False

  assert _wait_for(workers_started, proc), "the writer ended before its workers started"
  time.sleep(0.3)  # the workers are importing TensorFlow (seconds): the run is under way
  os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the parent and its workers
  stdout, stderr = proc.communicate(timeout=120)
  assert proc.returncode == 130, (stdout[-2000:], stderr[-3000:])
  assert "interrupted: finished outputs are kept; rerun the same command to resume." in stderr
  assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
  assert not os.path.exists(os.path.join(out, ".lock-write_tfrecords.0-of-1"))
  again = run("data_prep.write_tfrecords", *writer_args(corpus, vec, out))
  assert again.returncode == 0, again.stderr[-3000:]
  assert shard_bytes(out) == shard_bytes(ref_out)
