"""Word normalisation and the three word-timing sources (uniform split, CSV, TextGrid)."""

import os
import pathlib

import numpy as np
import pytest

from emotion_tf.data import corpus
from emotion_tf.data import frames as frames_lib
from emotion_tf.data import word_timings as wt

W = wt.WordTiming


@pytest.mark.parametrize(
  "token,want",
  [
    ("Hello,", "hello"),
    ("Don't!", "dont"),
    ("(Really?)", "really"),
    ("<laughter>", "laugh"),
    ("<Laughter>", "laugh"),
    ("<filler>", "um"),
    ("<sigh>", "sigh"),
    ("<noise>", "<noise>"),
    ("< breathing >", "breath"),
    ("...", ""),
    ("", ""),
    ("Über", "über"),
  ],
)
def test_normalize_word(token, want):
  assert wt.normalize_word(token) == want


def test_tokenize():
  assert wt.tokenize("Well, I don't <laughter> know-how... yes<sigh>!") == [
    "well",
    "i",
    "dont",
    "laugh",
    "know",
    "how",
    "yes",
    "sigh",
  ]
  assert wt.tokenize("<filler>") == ["um"]
  assert wt.tokenize(" -- ") == []


def test_uniform_timings_splits_each_span_evenly():
  got = wt.uniform_timings(
    [(1.0, 2.0, "one two three four"), (3.0, 3.5, "<laughter>"), (4.0, 5.0, "...")]
  )
  assert got == [
    W(1.0, 1.25, "one"),
    W(1.25, 1.5, "two"),
    W(1.5, 1.75, "three"),
    W(1.75, 2.0, "four"),
    W(3.0, 3.5, "laugh"),
  ]


def test_csv_round_trip_and_ids(tmp_path):
  timings = [W(0.5, 0.9, "hello"), W(1.0, 1.4, "there"), W(2.5, 2.9, "again")]
  path = str(tmp_path / "t.csv")
  wt.write_timings_csv(path, timings)
  text = pathlib.Path(path).read_text(encoding="utf-8")
  assert text == "s0w0;0.5000;0.9000;hello\ns0w1;1.0000;1.4000;there\ns1w0;2.5000;2.9000;again\n"
  assert wt.read_timings_csv(path) == timings
  wt.write_timings_csv(path, timings, sentences=[3, 3, 3])
  assert pathlib.Path(path).read_text(encoding="utf-8").splitlines()[2].startswith("s3w2;")
  with open(path, "w", encoding="utf-8") as f:
    f.write("id;start;end;word\ns0w0;0.1;0.2;Hi!\n")
  assert wt.read_timings_csv(path) == [W(0.1, 0.2, "hi")]


@pytest.mark.parametrize(
  "body,match",
  [
    ("s0w0;0.1;0.2\n", ":1: expected 'id;start;end;word'"),
    ("s0w0;0.1;0.2;a\ns0w1;x;0.2;b\n", ":2: start 'x' is not a number"),
    ("s0w0;0.5;0.2;a\n", ":1: bad word span"),
  ],
)
def test_csv_errors(tmp_path, body, match):
  p = tmp_path / "t.csv"
  p.write_text(body)
  with pytest.raises(corpus.CorpusError, match=match):
    wt.read_timings_csv(str(p))


LONG_TG = '''File type = "ooTextFile"
Object class = "TextGrid"

xmin = 0
xmax = 3.0
tiers? <exists>
size = 2
item []:
    item [1]:
        class = "IntervalTier"
        name = "phones"
        xmin = 0
        xmax = 3.0
        intervals: size = 1
        intervals [1]:
            xmin = 0
            xmax = 3.0
            text = "AH"
    item [2]:
        class = "IntervalTier"
        name = "Words"
        xmin = 0
        xmax = 3.0
        intervals: size = 4
        intervals [1]:
            xmin = 0
            xmax = 0.5
            text = ""
        intervals [2]:
            xmin = 0.5
            xmax = 1.25
            text = "Hello"
        intervals [3]:
            xmin = 1.25
            xmax = 2
            text = "sp"
        intervals [4]:
            xmin = 2
            xmax = 3.0
            text = "say ""hi"""
'''

SHORT_TG = """File type = "ooTextFile"
Object class = "TextGrid"

0
2
<exists>
1
"IntervalTier"
"words"
0
2
2
0
1.5e-1
"<laughter>"
0.15
2
"fine"
"""


def test_read_textgrid_long_format_word_tier(tmp_path):
  p = tmp_path / "a.TextGrid"
  p.write_text(LONG_TG, encoding="utf-8")
  assert wt.read_textgrid(str(p)) == [W(0.5, 1.25, "hello"), W(2.0, 3.0, "say"), W(2.0, 3.0, "hi")]
  assert wt.read_textgrid(str(p), tier="phones") == [W(0.0, 3.0, "ah")]
  with pytest.raises(corpus.CorpusError, match="no tier 'nope'"):
    wt.read_textgrid(str(p), tier="nope")


def test_read_textgrid_short_format_and_utf16(tmp_path):
  p = tmp_path / "b.TextGrid"
  p.write_bytes(SHORT_TG.encode("utf-16"))
  assert wt.read_textgrid(str(p)) == [W(0.0, 0.15, "laugh"), W(0.15, 2.0, "fine")]


def test_textgrid_write_read_round_trip_and_malformed(tmp_path):
  timings = [W(0.25, 0.5, "a"), W(0.5, 1.0, "b"), W(1.5, 1.75, "c")]
  p = str(tmp_path / "c.TextGrid")
  wt.write_textgrid(p, timings, duration=2.0)
  assert wt.read_textgrid(p) == timings
  with open(p, "w", encoding="utf-8") as f:
    f.write(LONG_TG[: LONG_TG.index("intervals [3]")])
  with pytest.raises(corpus.CorpusError, match="malformed TextGrid"):
    wt.read_textgrid(p)


def test_load_word_timings_source_order(tiny_corpus, tmp_path):  # noqa: F811
  rid = "Train_01"
  uniform = wt.load_word_timings(tiny_corpus, rid)
  rows = corpus.read_transcription(os.path.join(tiny_corpus, "transcriptions", rid + ".csv"))
  assert uniform == wt.uniform_timings(rows)
  truth_dir = os.path.join(tiny_corpus, "word_timings")
  truth = wt.load_word_timings(tiny_corpus, rid, truth_dir)
  assert truth == wt.read_timings_csv(os.path.join(truth_dir, rid + ".csv"))
  # Same words, in the same order, from either source; true spans lie inside the sentence spans.
  assert [t.word for t in truth] == [t.word for t in uniform]
  assert truth != uniform
  tg_dir = tmp_path / "tg"
  tg_dir.mkdir()
  wt.write_textgrid(str(tg_dir / (rid + ".TextGrid")), truth, duration=24.0)
  assert wt.load_word_timings(tiny_corpus, rid, str(tg_dir)) == truth
  empty_dir = tmp_path / "none"
  empty_dir.mkdir()
  assert wt.load_word_timings(tiny_corpus, rid, str(empty_dir)) == uniform
  assert wt.load_word_timings(str(tmp_path), "Train_09") == []


def test_frame_word_index_matches_brute_force():
  timings = [
    W(0.0, 0.32, "a"),
    W(0.37, 0.39, "b"),
    W(0.5, 1.0, "c"),
    W(0.8, 1.2, "d"),
    W(2.05, 2.15, "a"),
    W(1.3, 1.9, "c"),
    W(1.4, 1.5, "b"),
  ]
  vocab = {"<none>": 0, "a": 1, "b": 2, "c": 3, "d": 4}
  got = frames_lib.frame_word_index(timings, vocab, 25)
  want = np.zeros(25, np.int64)
  for k in range(25):
    c = (k + 0.5) * 0.1
    covering = [t for t in timings if t.start <= c < t.end]
    if covering:
      want[k] = vocab[max(covering, key=lambda t: t.start).word]
  np.testing.assert_array_equal(got, want)
  assert got[3] == 0 and got[9] == 4 and got[20] == 1 and got[16] == 3  # 'c' outlives 'b'
  assert 2 not in got[:5]  # the first 'b' covers no frame centre
