"""Catalogue of bad inputs, round two (data side): label times, truncated audio,
overlapping / empty transcripts, unreadable inputs, compressed or binary word vectors.

As in test_bad_inputs_data.py, each case asserts the exit code of `emotion_tf.util.cli`
(0 ok, 1 some
recordings failed, 2 bad input), that the message names the file and the problem, and that no
good output is lost: the good recordings beside a bad one are written and read back equal to
their inputs. One writer subprocess covers every refused recording; flags are checked through
one more; the rest calls the library in-process.
"""

import gzip
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
from data_fixtures import copy_recording, write_wav
from test_bad_inputs_data import (
  FRAMES,
  RATE,
  WORDS,
  _signal,
  add_recording,
  run,
  shard_contents,
  write_vec,
  writer_args,
)

HOP = 0.1
GOOD_IDS = ("Devel_01", "Train_01")
OVERLAP = ((0.2, 1.4, "hello good day"), (1.1, 2.0, "happy people"), (2.2, 2.8, "smile"))


# ---------------------------------------------------------------------------------- damage


def _shift_label_times(path, offset):
  """Adds `offset` seconds to every label row's time (same rows, same values)."""
  with open(path, encoding="utf-8") as f:
    rows = [line.split(";") for line in f.read().splitlines()]
  with open(path, "w", encoding="utf-8") as f:
    f.writelines(f"{r[0]};{float(r[1]) + offset:.3f};{';'.join(r[2:])}\n" for r in rows)


def _cut_wav_bytes(path, seconds):
  """Removes the last `seconds` of sample bytes, leaving the header's sizes as they were."""
  with open(path, "rb") as f:
    data = f.read()
  with open(path, "wb") as f:
    f.write(data[: len(data) - int(round(seconds * RATE)) * 2])


def _rewrite_wav_shorter(path, seconds):
  """A valid wav (header matching its data) holding only the first `seconds`."""
  write_wav(path, _signal(RATE)[: int(round(seconds * RATE))], RATE, 2)


def _overlapping_transcript(path):
  with open(path, "w", encoding="utf-8") as f:
    f.writelines(f"{s};{e};'{text}'\n" for s, e, text in OVERLAP)


def _replace_by_directory(path):
  os.remove(path)
  os.makedirs(path)


# id -> (damaged file (sub, ext), damage(path), [how the FAILED line starts, then fragments it
# holds]); {damaged}, {wav}, {labels}, {tr} stand for the recording's files. These recordings
# have no word_timings/<id>.csv: their words come from the transcript.
BAD = {
  "Train_02": (
    ("labels", ".csv"),
    lambda p: _shift_label_times(p, 0.8),
    [
      "{damaged}:1: label time 0.8 s of row 1 is +0.8 s off the frame grid",
      "refused, labels are never shifted",
      "--resample_labels",
    ],
  ),
  "Train_03": (
    ("labels", ".csv"),
    lambda p: _shift_label_times(p, 0.05),
    [
      "{damaged}:1: label time 0.05 s of row 1 is +0.05 s off the frame grid",
      "refused, labels are never shifted",
    ],
  ),
  "Train_04": (
    ("audio", ".wav"),
    lambda p: _cut_wav_bytes(p, 0.5),
    [
      "{damaged}: wav header claims 3.00 s of audio but the file holds 2.50 s",
      "looks truncated; refused (pass --allow_truncated_audio",
    ],
  ),
  "Train_05": (
    ("audio", ".wav"),
    lambda p: _cut_wav_bytes(p, 1.2),
    ["{damaged}: wav header claims 3.00 s of audio but the file holds 1.80 s"],
  ),
  "Train_06": (
    ("transcriptions", ".csv"),
    lambda p: open(p, "wb").close(),
    ["{damaged}: transcription file is empty (0 bytes)"],
  ),
  "Train_07": (
    ("audio", ".wav"),
    _replace_by_directory,
    ["{damaged}: is a directory, not an audio file"],
  ),
  "Train_08": (
    ("audio", ".wav"),
    lambda p: _rewrite_wav_shorter(p, 1.8),
    [
      "{labels}: labels cover 3.00 s but {wav} lasts 1.80 s",
      "the audio looks truncated (the last word in {tr} ends at 2.80 s, after the "
      "end of the audio)",
    ],
  ),
  "Train_09": (
    ("labels", ".csv"),
    lambda p: _append_label_rows(p, range(FRAMES, FRAMES + 25)),
    [
      "{damaged}: labels cover 5.50 s but {wav} lasts 3.00 s",
      "the labels look too long (the last word in {tr} ends at 2.80 s, within the audio)",
    ],
  ),
}
WARNED = "Train_11"  # overlapping transcript sentences: written, with a warning


def _append_label_rows(path, frames):
  """Appends label rows `x;<k / 10>;0;0;0` for k in `frames` (labels longer than the audio)."""
  with open(path, "a", encoding="utf-8") as f:
    f.writelines(f"x;{k / 10:.1f};0;0;0\n" for k in frames)


def _paths(corpus, rid):
  return {
    "wav": os.path.join(corpus, "audio", rid + ".wav"),
    "labels": os.path.join(corpus, "labels", rid + ".csv"),
    "tr": os.path.join(corpus, "transcriptions", rid + ".csv"),
  }


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
  """(corpus, vec, out, CompletedProcess, expected) of one writer run over every bad recording
  of BAD, the overlapping-transcript one and two good ones; `expected` = {id: (audio, labels)}
  as written by add_recording, before any damage."""
  d = str(tmp_path_factory.mktemp("bad2_corpus"))
  expected = {rid: add_recording(d, rid, k) for k, rid in enumerate(GOOD_IDS)}
  for k, (rid, ((sub, ext), damage, _)) in enumerate(BAD.items()):
    expected[rid] = add_recording(d, rid, 10 + k, timings=False)
    damage(os.path.join(d, sub, rid + ext))
  expected[WARNED] = add_recording(d, WARNED, 30, timings=False)
  _overlapping_transcript(os.path.join(d, "transcriptions", WARNED + ".csv"))
  vec = write_vec(os.path.join(d, "words.vec"))
  out = os.path.join(d, "out")
  res = run("data_prep.write_tfrecords", *writer_args(d, vec, out))
  return d, vec, out, res, expected


def _assert_good_kept(out, expected, ids):
  got = shard_contents(out)
  assert sorted(got) == sorted(ids)
  for rid in ids:
    np.testing.assert_allclose(got[rid][0], expected[rid][0][: FRAMES * 2205], atol=2e-5)
    np.testing.assert_allclose(got[rid][1], expected[rid][1], atol=1e-6)


@pytest.mark.parametrize("rid", sorted(BAD))
def test_bad_recording_is_named_and_the_rest_written(bad, rid):
  corpus, _, out, res, expected = bad
  (sub, ext), _, fragments = BAD[rid]
  assert res.returncode == 1, res.stderr[-3000:]
  paths = dict(_paths(corpus, rid), damaged=os.path.join(corpus, sub, rid + ext))
  line = next((l for l in res.stdout.splitlines() if l.startswith(f"FAILED {rid}: ")), "")
  assert line.startswith(f"FAILED {rid}: {fragments[0].format(**paths)}"), (
    line,
    res.stdout[-3000:],
  )
  for fragment in fragments[1:]:
    assert fragment.format(**paths) in line, line
  assert "Traceback" not in res.stderr and "Error:" not in line
  _assert_good_kept(out, expected, GOOD_IDS + (WARNED,))


def test_bad_corpus_summary_and_metadata(bad):
  _, _, out, res, _ = bad
  assert f"{len(GOOD_IDS) + 1} recordings written, {len(BAD)} failed" in res.stdout
  from emotion_tf.data import schema

  meta = schema.read_metadata(out)
  assert not meta.complete and sorted(meta.failed_recordings) == sorted(BAD)
  assert meta.fields["resample_labels"] is False and meta.fields["allow_truncated_audio"] is False


def test_overlapping_sentences_are_warned_and_written(bad):
  """Both sentences' words are kept; where two words overlap the later-starting one marks the
  frame (reference: per frame centre, the covering word with the latest start)."""
  corpus, _, out, res, expected = bad
  tr = _paths(corpus, WARNED)["tr"]
  assert (
    f"WARNING {tr}:2: sentence 1.10-2.00 s overlaps the sentence on line 1 (0.20-1.40 s); "
    "both are kept"
  ) in res.stdout, res.stdout[-3000:]
  audio, labels, word_index = shard_contents(out)[WARNED]
  np.testing.assert_allclose(audio, expected[WARNED][0][: FRAMES * 2205], atol=2e-5)
  np.testing.assert_allclose(labels, expected[WARNED][1], atol=1e-6)
  from emotion_tf.data import schema

  vocab = schema.read_vocab(out)
  spans = []  # uniform split of each sentence, by hand
  for s, e, text in OVERLAP:
    words = text.split()
    spans += [
      (s + k * (e - s) / len(words), s + (k + 1) * (e - s) / len(words), w)
      for k, w in enumerate(words)
    ]
  want = np.zeros(FRAMES, np.int64)
  for f in range(FRAMES):
    c = (f + 0.5) * HOP
    covering = [(s, vocab.index(w)) for s, e, w in spans if s <= c < e]
    want[f] = max(covering)[1] if covering else 0
  np.testing.assert_array_equal(word_index, want)
  assert vocab[want[12]] == "happy" and vocab[want[10]] == "day"  # 1.25 s: happy over day


def _label_file(path):
  """(times [T], values [T, 3]) parsed with numpy, independently of the reader."""
  table = np.loadtxt(path, delimiter=";", usecols=(1, 2, 3, 4), ndmin=2)
  return table[:, 0], table[:, 1:]


def test_flags_resample_labels_and_allow_truncated_audio(bad, tmp_path):
  """With --resample_labels the 0.8 s and 0.05 s offset labels are written as numpy.interp of
  the file onto the 0.1 s grid, with a warning; with --allow_truncated_audio the wav that
  lost 0.5 s is written from the samples present (zero-padded to the labels), with a warning."""
  src, vec, _, _, expected = bad
  corpus = str(tmp_path / "corpus")
  for rid in ("Train_01", "Train_02", "Train_03", "Train_04"):
    copy_recording(src, rid, corpus, rid)
  out = str(tmp_path / "out")
  res = run(
    "data_prep.write_tfrecords",
    *writer_args(corpus, vec, out, "--resample_labels", "--allow_truncated_audio"),
  )
  assert res.returncode == 0, (res.stdout[-3000:], res.stderr[-3000:])
  got = shard_contents(out)
  for rid, frames in (("Train_02", 38), ("Train_03", 30)):
    times, values = _label_file(_paths(corpus, rid)["labels"])
    grid = np.arange(frames) * HOP
    want = np.stack([np.interp(grid, times, values[:, j]) for j in range(3)], 1)
    np.testing.assert_allclose(got[rid][1], want, atol=1e-6)
    audio = expected[rid][0][: frames * 2205]
    np.testing.assert_allclose(
      got[rid][0], np.pad(audio, (0, frames * 2205 - len(audio))), atol=2e-5
    )
  labels = _paths(corpus, "Train_02")["labels"]
  assert (
    (f"WARNING {labels}:1: label time 0.8 s of row 1 is +0.8 s off the frame grid") in res.stdout
    and "resampled 30 rows onto 38 frames by linear interpolation (8 frames "
    "before 0.8 s take the first row's value)"
    in res.stdout
  )
  wav = _paths(corpus, "Train_04")["wav"]
  assert (
    f"WARNING {wav}: wav header claims 3.00 s of audio but the file holds 2.50 s"
  ) in res.stdout
  present = expected["Train_04"][0][: int(2.5 * RATE)]
  np.testing.assert_allclose(
    got["Train_04"][0], np.pad(present, (0, FRAMES * 2205 - len(present))), atol=2e-5
  )
  np.testing.assert_allclose(got["Train_04"][1], expected["Train_04"][1], atol=1e-6)
  np.testing.assert_allclose(got["Train_01"][1], expected["Train_01"][1], atol=1e-6)
  from emotion_tf.data import schema

  meta = schema.read_metadata(out)
  assert meta.complete and meta.fields["resample_labels"] and meta.fields["allow_truncated_audio"]


def test_audio_truncated_by_40_percent_blames_the_audio(bad, tmp_path):
  """Let through by allow_truncated_audio, the 1.8 s left of a 3 s wav still fails the length
  check, and the message names the audio (its header) as the suspect, not the labels."""
  from data_prep import write_tfrecords_lib

  src, vec, _, _, expected = bad
  corpus = str(tmp_path / "corpus")
  for rid in ("Train_01", "Train_05"):
    copy_recording(src, rid, corpus, rid)
  out = str(tmp_path / "out")
  result = write_tfrecords_lib.write_tfrecords(
    write_tfrecords_lib.WriteJobConfig(
      corpus=corpus,
      embeddings=vec,
      out=out,
      word_timings=os.path.join(corpus, "word_timings"),
      records_per_shard=1,
      allow_truncated_audio=True,
      num_workers=1,
    )
  )
  p = _paths(corpus, "Train_05")
  assert result["failed"] == ["Train_05"]
  assert result["errors"]["Train_05"] == (
    f"{p['labels']}: labels cover 3.00 s but {p['wav']} lasts 1.80 s (gap +1.20 s beyond "
    "--label_tolerance_s=1.0): the audio looks truncated (its header claims 3.00 s, 1.80 s "
    "present)"
  )
  _assert_good_kept(out, expected, ("Train_01",))


# ------------------------------------------------------------------------- library units


def test_label_grid_tolerance_and_drift():
  """1 ms tolerance: rows 0.9 ms off the grid pass unchanged, 1.1 ms off are refused; a
  0.1004 s step drifts past it at row 4 (1.2 ms late) and is refused there."""
  from emotion_tf.data import corpus

  values = np.random.default_rng(0).uniform(-1, 1, (50, 3)).astype(np.float32)
  lines = list(range(1, 51))
  k = np.arange(50)
  got, warning = corpus.labels_on_grid("l.csv", k * HOP + 0.0009, values, lines, HOP)
  assert warning is None and got is values
  with pytest.raises(
    corpus.CorpusError,
    match=r"^l\.csv:1: label time 0\.0011 s of row 1 is "
    r"\+0\.0011 s off",
  ):
    corpus.labels_on_grid("l.csv", k * HOP + 0.0011, values, lines, HOP)
  with pytest.raises(
    corpus.CorpusError,
    match=r"^l\.csv:4: label time 0\.3012 s of row 4 is "
    r"\+0\.0012 s off",
  ):
    corpus.labels_on_grid("l.csv", k * 0.1004, values, lines, HOP)
  got, warning = corpus.labels_on_grid("l.csv", k * 0.1004, values, lines, HOP, resample=True)
  frames = 50  # grid points 0, 0.1, .., 4.9 up to the last row's time 49 x 0.1004 = 4.9196 s
  want = np.stack(
    [np.interp(np.arange(frames) * HOP, k * 0.1004, values[:, j]) for j in range(3)], 1
  )
  np.testing.assert_allclose(got, want, atol=1e-6)
  assert "resampled 50 rows onto 50 frames" in warning and "take the first" not in warning


def test_label_files_of_both_synthesizers_are_on_the_grid(tmp_path):
  """Both built-in corpus designs write row k at k * 0.1 s: an hour of labels reads back on
  the grid, values unchanged."""
  from data_prep import (
    synthesize_lib,
    synthesize_podcast,
  )
  from emotion_tf.data import corpus

  curves = np.random.default_rng(1).uniform(-1, 1, (36000, 3))
  for name, module in (("sewa", synthesize_lib), ("podcast", synthesize_podcast)):
    path = str(tmp_path / f"{name}.csv")
    with open(path, "w", encoding="utf-8") as f:
      f.write(module._label_lines("Train_01", curves))
    times, values, lines = corpus.read_label_rows(path)
    got, warning = corpus.labels_on_grid(path, times, values, lines, HOP)
    assert warning is None and len(got) == 36000
    np.testing.assert_allclose(got, curves, atol=1e-6)


def test_builtin_corpus_writes_without_warnings(tiny_tfrecords):
  _, report = tiny_tfrecords
  assert report["ok"] and report["warnings"] == []


def _riff(chunks):
  body = b"WAVE" + b"".join(
    cid + len(data).to_bytes(4, "little") + data + b"\0" * (len(data) & 1) for cid, data in chunks
  )
  return b"RIFF" + len(body).to_bytes(4, "little") + body


FMT = (
  (1).to_bytes(2, "little")
  + (2).to_bytes(2, "little")
  + (8000).to_bytes(4, "little")
  + (32000).to_bytes(4, "little")
  + (4).to_bytes(2, "little")
  + (16).to_bytes(2, "little")
)


def test_wav_truncation_reads_the_chunks(tmp_path):
  """data chunk found after an odd-sized LIST chunk (padded); 8 kHz stereo 16-bit = 4-byte
  blocks: 1 s declared, 0.25 s present -> claimed 1.0 s, present 0.25 s, 24000 bytes missing.
  Complete files, unknown sizes (0xFFFFFFFF) and non-RIFF files are not truncations."""
  from emotion_tf.data import corpus

  full = _riff([(b"fmt ", FMT), (b"LIST", b"abc"), (b"data", b"\1" * 32000)])
  path = tmp_path / "a.wav"
  path.write_bytes(full)
  assert corpus.wav_truncation(str(path)) is None
  path.write_bytes(full[: len(full) - 24000])
  t = corpus.wav_truncation(str(path))
  assert (t.claimed_s, t.present_s, t.missing_bytes) == (1.0, 0.25, 24000)
  assert t.message().startswith(
    f"{path}: wav header claims 1.00 s of audio but the file holds 0.25 s (24000 bytes"
  )
  path.write_bytes(full[: len(full) - 3])  # less than one block short: not a truncation
  assert corpus.wav_truncation(str(path)) is None
  unknown = full.replace(b"data" + (32000).to_bytes(4, "little"), b"data\xff\xff\xff\xff")
  path.write_bytes(unknown[: len(unknown) - 24000])
  assert corpus.wav_truncation(str(path)) is None
  path.write_bytes(b"fLaC" + full[4:])
  assert corpus.wav_truncation(str(path)) is None


# ------------------------------------------------------------------- embeddings (exit 2)


def _gzip_vec(path):
  text = pathlib.Path(write_vec(str(path) + ".txt")).read_bytes()
  path.write_bytes(gzip.compress(text))


def _binary_vec(path):
  from gensim.models import KeyedVectors

  kv = KeyedVectors(4)
  kv.add_vectors(WORDS, np.random.default_rng(2).standard_normal((len(WORDS), 4)))
  kv.save_word2vec_format(str(path), binary=True)


@pytest.mark.parametrize(
  "make,fragment",
  [
    (
      _gzip_vec,
      ": looks like a gzip-compressed file, not a word2vec text file; decompress it "
      "first (gunzip -k ",
    ),
    (
      _binary_vec,
      ": looks like the binary word2vec format (6 words x 4 float32), not the text "
      "format; convert with gensim: KeyedVectors.load_word2vec_format(path, "
      "binary=True).save_word2vec_format(out, binary=False)",
    ),
  ],
)
def test_compressed_or_binary_vec_named_by_format(bad, tmp_path, make, fragment):
  corpus = bad[0]
  vec = tmp_path / "words.vec"
  make(vec)
  out = tmp_path / "out"
  res = run("data_prep.write_tfrecords", *writer_args(corpus, str(vec), str(out)))
  assert res.returncode == 2, res.stderr[-3000:]
  assert f"error: {vec}{fragment}" in res.stderr and "UTF-8" not in res.stderr
  assert "Traceback" not in res.stderr and not out.exists()


# ------------------------------------------------------------- unreadable files (root: setpriv)


def _unprivileged():
  """Command prefix under which mode-000 files cannot be read, or None (skip): nothing when not
  root; for root, setpriv without the two capabilities that bypass file permissions."""
  if os.geteuid() != 0:
    return []
  setpriv = shutil.which("setpriv")
  drop = [setpriv, "--bounding-set=-dac_override,-dac_read_search"] if setpriv else None
  if drop and subprocess.run(drop + ["true"], capture_output=True).returncode == 0:
    return drop
  return None


def test_unreadable_files_are_named(bad, tmp_path):
  prefix = _unprivileged()
  if prefix is None:
    pytest.skip("running as root without setpriv: file permissions cannot be enforced")
  src, vec, _, _, expected = bad
  corpus = str(tmp_path / "corpus")
  for rid in ("Train_01", "Train_02", "Train_03"):
    copy_recording(src, "Train_01", corpus, rid)
  os.chmod(os.path.join(corpus, "audio", "Train_02.wav"), 0)
  os.chmod(os.path.join(corpus, "labels", "Train_03.csv"), 0)
  out = str(tmp_path / "out")
  res = subprocess.run(
    prefix + [sys.executable, "-m", "data_prep.write_tfrecords", *writer_args(corpus, vec, out)],
    cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert res.returncode == 1, (res.stdout[-3000:], res.stderr[-3000:])
  assert (
    f"FAILED Train_02: {corpus}/audio/Train_02.wav: cannot read audio file (Permission denied)"
  ) in res.stdout
  assert (
    f"FAILED Train_03: {corpus}/labels/Train_03.csv: cannot read label file (Permission denied)"
  ) in res.stdout
  assert "Traceback" not in res.stderr
  got = shard_contents(out)
  assert sorted(got) == ["Train_01"]
  np.testing.assert_allclose(
    got["Train_01"][0], expected["Train_01"][0][: FRAMES * 2205], atol=2e-5
  )


def test_predict_readers_warn_on_a_truncated_wav(tmp_path):
  """predict scores the audio present but says the header claims more (corpus.warn_if_truncated,
  called by predict_lib and predict_api before decoding)."""
  import logging

  from emotion_tf.data import corpus

  path = tmp_path / "cut.wav"
  write_wav(str(path), _signal(RATE, seconds=2.0), RATE)  # 2 s of 16-bit mono
  assert corpus.warn_if_truncated(str(path)) is None
  data = path.read_bytes()
  path.write_bytes(data[: len(data) - RATE // 2 * 2])  # the last 0.5 s cut off
  lines = []
  handler = logging.Handler()
  handler.emit = lambda record: lines.append(record.getMessage())
  logging.getLogger("absl").addHandler(handler)
  try:
    found = corpus.warn_if_truncated(str(path))
  finally:
    logging.getLogger("absl").removeHandler(handler)
  assert found is not None and abs(found.claimed_s - 2.0) < 1e-6
  assert abs(found.present_s - 1.5) < 1e-3
  assert any("cut.wav: wav header claims 2.00 s" in x and "1.50 s present" in x for x in lines)
