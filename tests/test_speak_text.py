"""speak_text: a text corpus spoken word by word into the LibriSpeech layout; word spans are
where the speech is, output deterministic per seed, reruns resume."""

import os

import numpy as np
import pytest

from data_prep import speak_text_lib
from emotion_tf import SAMPLE_RATE
from emotion_tf.data import corpus
from emotion_tf.semantic import pretrain_corpus

SENTENCES = ["the happy dog ran home", "we felt a terrible storm", "this is a lovely day"]


def _config(tmp_path, hours=0.004, voices=("en+m1", "flite:slt"), seed=3):
  text = os.path.join(str(tmp_path), "text.txt")
  with open(text, "w") as f:
    f.write("\n".join(SENTENCES) + "\n\n")
  return speak_text_lib.SpeakConfig(text, hours, voices, seed, utterances_per_chapter=2)


def _bytes(d):
  out = {}
  for name in speak_text_lib.speak_file_names(d):
    if name != speak_text_lib.SETTINGS_FILE:
      with open(os.path.join(d, name), "rb") as f:
        out[name] = f.read()
  return out


def test_layout_spans_and_determinism(tmp_path):
  cfg = _config(tmp_path)
  a, b = os.path.join(str(tmp_path), "a"), os.path.join(str(tmp_path), "b")
  summary = speak_text_lib.speak_corpus(a, cfg)
  speak_text_lib.speak_corpus(b, cfg, num_workers=2)
  assert _bytes(a) == _bytes(b)  # same seed, any worker count: the same corpus
  assert summary["seconds_of_audio"] >= cfg.hours * 3600
  utts, failures = pretrain_corpus.list_utterances(a)
  assert not failures and len(utts) == summary["utterances"] >= 4
  assert {" ".join(u.transcript) for u in utts} <= set(SENTENCES)
  assert len({u.speaker for u in utts}) == 2
  for utt in utts:
    timings = pretrain_corpus.utterance_timings(utt)
    assert [t.word for t in timings] == list(utt.transcript)
    wav = corpus.load_audio(utt.audio_path)
    inside = np.zeros(len(wav), bool)
    for t in timings:
      seg = wav[int(round(t.start * SAMPLE_RATE)) : int(round(t.end * SAMPLE_RATE))]
      assert np.sqrt(np.mean(seg**2)) > 0.01, (utt.utterance_id, t)  # speech in every span
      inside[int(round(t.start * SAMPLE_RATE)) : int(round(t.end * SAMPLE_RATE))] = True
    assert np.abs(wav[~inside]).max() < 0.01  # only the -60 dBFS noise outside the spans
  other = speak_text_lib.speak_corpus(os.path.join(str(tmp_path), "c"), _config(tmp_path, seed=4))
  assert other["utterances"] >= 1 and _bytes(os.path.join(str(tmp_path), "c")) != _bytes(a)


def test_rerun_resumes_and_checks_settings(tmp_path):
  cfg = _config(tmp_path)
  out = os.path.join(str(tmp_path), "a")
  speak_text_lib.speak_corpus(out, cfg)
  before = _bytes(out)
  wavs = sorted(n for n in before if n.endswith(".wav"))
  os.remove(os.path.join(out, wavs[0]))
  kept = os.path.join(out, wavs[1])
  mtime = os.path.getmtime(kept)
  speak_text_lib.speak_corpus(out, cfg)
  assert _bytes(out) == before and os.path.getmtime(kept) == mtime
  bigger = speak_text_lib.speak_corpus(out, _config(tmp_path, hours=0.008))
  assert bigger["utterances"] > len(wavs) and all(_bytes(out)[n] == before[n] for n in before)
  with pytest.raises(ValueError, match="other settings"):
    speak_text_lib.speak_corpus(out, _config(tmp_path, seed=9))
  with pytest.raises(ValueError, match="cannot speak"):
    speak_text_lib.speak_corpus(out, _config(tmp_path, voices=("en+m1", "xx-nonexistent")))
