"""LibriSpeech-layout pretraining corpus: real-speech fixtures arranged as <speaker>/<chapter>/,
read back to the expected (word, start, end) segments; bad files reported, others kept."""

import os
import shutil

import numpy as np
import pytest
import soundfile

from emotion_tf.data import corpus
from emotion_tf.semantic import mfcc as mfcc_lib
from emotion_tf.semantic import pretrain_corpus, segment_shards
from emotion_tf.semantic import segments as segments_lib

REAL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "real_speech")
# Word tier of mary.TextGrid / bobby.TextGrid (praatio's examples), silences dropped.
MARY = [
  ("mary", 0.3154201182247563, 0.6755499913498981),
  ("rolled", 0.6755499913498981, 0.9839070294779999),
  ("the", 0.9839070294779999, 1.063725623583),
  ("barrel", 1.063725623583, 1.5182538944627297),
]
LIBRI = [("he", 0.50, 0.62), ("began", 0.62, 1.00), ("a", 1.00, 1.08)]


def _tree(tmp_path):
  root = os.path.join(str(tmp_path), "libri")
  ch = os.path.join(root, "100", "7")
  os.makedirs(ch)
  with open(os.path.join(ch, "100-7.trans.txt"), "w") as f:
    f.write(
      "100-7-0000 MARY ROLLED THE BARREL\n100-7-0001 BOBBY RIPPED THE LEDGER\n"
      "100-7-0002 BROKEN AUDIO\n100-7-0003 NO AUDIO AT ALL\n"
    )
  for uid, name in (("100-7-0000", "mary"), ("100-7-0001", "bobby"), ("100-7-0002", "mary")):
    shutil.copy(os.path.join(REAL, name + ".flac"), os.path.join(ch, uid + ".flac"))
    shutil.copy(os.path.join(REAL, name + ".TextGrid"), os.path.join(ch, uid + ".TextGrid"))
  with open(os.path.join(ch, "100-7-0002.flac"), "wb") as f:
    f.write(b"fLaC" + b"\x00garbage" * 50)
  ch2 = os.path.join(root, "61", "70968")
  os.makedirs(ch2)
  with open(os.path.join(ch2, "61-70968.trans.txt"), "w") as f:
    f.write("61-70968-0000 HE BEGAN A CONFUSED COMPLAINT\n")
  x, sr = soundfile.read(os.path.join(REAL, "61-70968-0000.flac"))
  soundfile.write(os.path.join(ch2, "61-70968-0000.wav"), x, sr)  # wav as well as flac
  timings = os.path.join(str(tmp_path), "aligned")
  os.makedirs(timings)
  with open(os.path.join(timings, "61-70968-0000.csv"), "w") as f:
    f.write("".join(f"s0w{k};{s:.4f};{e:.4f};{w}\n" for k, (w, s, e) in enumerate(LIBRI)))
  return root, timings


def test_reads_expected_word_segments_and_reports_bad_files(tmp_path):
  root, timings = _tree(tmp_path)
  utts, failures = pretrain_corpus.list_utterances(root)
  assert [u.utterance_id for u in utts] == [
    "100-7-0000",
    "100-7-0001",
    "100-7-0002",
    "61-70968-0000",
  ]
  assert utts[0].speaker == "100" and utts[0].chapter == "7"
  assert utts[0].transcript == ("mary", "rolled", "the", "barrel")
  assert list(failures) == [os.path.join(root, "100", "7", "100-7-0003.flac")]
  cfg = mfcc_lib.MfccConfig()
  failures = {}
  segs = list(pretrain_corpus.utterance_segments([root], cfg, 100, 0, timings, failures))
  assert [s.recording_ids[0] for s in segs] == ["0/100-7-0000", "0/100-7-0001", "0/61-70968-0000"]
  got = list(zip(segs[0].words, segs[0].starts, segs[0].ends, strict=False))
  assert [w for w, _, _ in got] == [w for w, _, _ in MARY]
  np.testing.assert_allclose([(s, e) for _, s, e in got], [(s, e) for _, s, e in MARY], atol=1e-9)
  assert segs[1].words == ["bobby", "ripped", "the", "ledger"]
  assert segs[2].words == [w for w, _, _ in LIBRI]
  np.testing.assert_allclose(segs[2].starts, [s for _, s, _ in LIBRI])
  # 10 ms frames, 25 ms window: a word of d seconds has 1 + floor((d - 0.025) / 0.01) frames.
  want = [
    int(
      mfcc_lib.num_frames_for(
        int(round(e * cfg.sample_rate)) - int(round(s * cfg.sample_rate)), cfg
      )
    )
    for _, s, e in MARY
  ]
  np.testing.assert_array_equal(segs[0].lengths, want)
  assert any("100-7-0002.flac" in k for k in failures) and any("100-7-0003" in k for k in failures)
  bad = [v for k, v in failures.items() if k.endswith("100-7-0002.flac")][0]
  assert "100-7-0002.flac" in bad


def test_write_segments_round_trip_and_resume(tmp_path):
  root, timings = _tree(tmp_path)
  cfg = mfcc_lib.MfccConfig()
  out = os.path.join(str(tmp_path), "segs")
  meta = pretrain_corpus.write_segments([root], out, cfg, 100, 24, timings)
  assert meta["segments"] == 11 and meta["recordings"] == 3 and meta["frames"] == 24
  assert len(meta["source"]["failures"]) == 2
  back = list(segment_shards.read_recordings(out))
  assert [b.words for b in back][0] == [w for w, _, _ in MARY]
  mtime = os.path.getmtime(os.path.join(out, segment_shards.META_FILE))
  again = pretrain_corpus.write_segments([root], out, cfg, 100, 24, timings)
  assert (
    again["segments"] == 11
    and os.path.getmtime(os.path.join(out, segment_shards.META_FILE)) == mtime
  )
  with pytest.raises(ValueError, match="other settings"):
    pretrain_corpus.write_segments([root], out, cfg, 100, 30, timings)


def test_no_word_spans_and_not_a_corpus_are_named(tmp_path):
  root, _ = _tree(tmp_path)
  failures = {}
  segs = list(
    pretrain_corpus.utterance_segments([root], mfcc_lib.MfccConfig(), 100, 0, None, failures)
  )
  assert len(segs) == 2
  msg = failures[os.path.join(root, "61", "70968", "61-70968-0000.wav")]
  assert "no word spans" in msg and "61-70968-0000" in msg
  with pytest.raises(corpus.CorpusError, match="no <speaker>-<chapter>.trans.txt"):
    pretrain_corpus.list_utterances(str(tmp_path / "aligned"))


def test_batched_mfcc_equals_one_utterance_at_a_time(tmp_path):
  root, timings = _tree(tmp_path)
  cfg = mfcc_lib.MfccConfig()
  utts = [u for u in pretrain_corpus.list_utterances(root)[0] if u.utterance_id != "100-7-0002"]
  one = [
    segments_lib.extract_segments(
      corpus.load_audio(u.audio_path),
      pretrain_corpus.utterance_timings(u, timings),
      f"0/{u.utterance_id}",
      cfg,
      100,
    )[0]
    for u in utts
  ]
  many = list(pretrain_corpus.utterance_segments([root], cfg, 100, 0, timings, batch_utterances=8))
  assert len(one) == len(many) == 3
  for a, b in zip(one, many, strict=False):
    assert a.words == b.words and a.recording_ids == b.recording_ids
    np.testing.assert_array_equal(a.lengths, b.lengths)
    np.testing.assert_allclose(a.starts, b.starts, atol=1e-9)
    np.testing.assert_allclose(a.ends, b.ends, atol=1e-9)
    np.testing.assert_allclose(a.features, b.features, atol=1e-4)
