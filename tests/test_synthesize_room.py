"""data_prep.synthesize off the espeak-ng template: flite voices and room acoustics."""

import os
import shutil

import numpy as np
import pytest
import soundfile as sf

from data_prep import synthesize_designs
from data_prep import synthesize_lib as synthesize
from emotion_tf import SAMPLE_RATE
from emotion_tf.data import word_timings as wt
from emotion_tf.util import cli

needs_flite = pytest.mark.skipif(shutil.which("flite") is None, reason="flite not installed")


def test_impulse_response_has_the_asked_rt60_and_drr():
  rng = np.random.default_rng(0)
  h = synthesize.room_impulse_response(rng, 0.6, 3.0)
  assert h[0] == 1.0
  tail = h[1:]
  assert 10 * np.log10(1.0 / np.sum(tail**2)) == pytest.approx(3.0, abs=1e-6)
  # Schroeder backward integration: the -5 .. -25 dB slope extrapolated to -60 dB.
  edc = 10 * np.log10(np.cumsum(tail[::-1] ** 2)[::-1] / np.sum(tail**2))
  t = np.arange(len(edc)) / SAMPLE_RATE
  sel = (edc <= -5) & (edc >= -25)
  slope = np.polyfit(t[sel], edc[sel], 1)[0]
  assert -60.0 / slope == pytest.approx(0.6, rel=0.1)


def test_noise_at_the_asked_snr_against_the_word_spans():
  rng = np.random.default_rng(1)
  audio = np.zeros(SAMPLE_RATE * 4)
  audio[SAMPLE_RATE : 2 * SAMPLE_RATE] = 0.1 * np.sin(np.arange(SAMPLE_RATE) * 0.3)
  timings = [wt.WordTiming(1.0, 2.0, "word")]
  config = synthesize.RoomSynthConfig(snr_db=10.0)
  out = synthesize.apply_room(audio, timings, config, rng)
  noise = out - audio
  snr = 10 * np.log10(np.mean(audio[SAMPLE_RATE : 2 * SAMPLE_RATE] ** 2) / np.mean(noise**2))
  assert snr == pytest.approx(10.0, abs=0.2)


def test_room_wav_rate_and_channels(tmp_path):
  x = 0.5 * np.sin(np.arange(SAMPLE_RATE) * 2 * np.pi * 440 / SAMPLE_RATE)
  path = str(tmp_path / "a.wav")
  synthesize.write_room_wav(path, x, synthesize.RoomSynthConfig(out_rate=44100, channels=2))
  y, rate = sf.read(path)
  assert rate == 44100 and y.shape == (44100, 2)
  rms = np.sqrt(np.mean(y[1000:-1000] ** 2, axis=0))
  assert 20 * np.log10(rms[1] / rms[0]) == pytest.approx(-2.0, abs=0.01)
  assert rms[0] == pytest.approx(0.5 / np.sqrt(2), rel=0.01)


def test_room_options_are_checked():
  with pytest.raises(cli.InputError, match="--snr must be"):
    synthesize.check_room({"snr_db": 500.0})
  with pytest.raises(cli.InputError, match="design 'sewa' only"):
    synthesize_designs.synthesize_design(
      "podcast", "/nonexistent/x", 3, 3.0, 0, None, 1, room={"rt60_s": 0.3}
    )


@needs_flite
def test_flite_voice_prosody_and_unknown_voice():
  slow = synthesize.espeak_synth("wonderful", "flite:slt", 120, 50, 100)
  fast = synthesize.espeak_synth("wonderful", "flite:slt", 240, 50, 100)
  assert slow.dtype == np.float32 and len(slow) > 1.5 * len(fast)
  assert synthesize.unknown_voices(["flite:slt", "flite:nosuch", "en"]) == ["flite:nosuch"]


@needs_flite
def test_flite_corpus_with_room_acoustics(tmp_path):
  out = str(tmp_path / "c")
  voices = ["flite:slt", "flite:kal16", "flite:rms"]
  synthesize_designs.synthesize_design(
    "sewa",
    out,
    3,
    4.0,
    0,
    voices,
    1,
    room={"rt60_s": 0.4, "snr_db": 20.0, "out_rate": 44100, "channels": 2},
  )
  for rid in ("Train_01", "Devel_01", "Test_01"):
    y, rate = sf.read(os.path.join(out, "audio", rid + ".wav"))
    assert rate == 44100 and y.ndim == 2 and y.shape[1] == 2
    assert len(y) == pytest.approx(4.0 * 44100, abs=2)
    words = wt.read_timings_csv(os.path.join(out, "word_timings", rid + ".csv"))
    assert words
    # Speech inside the true word spans is louder than the noise outside them.
    mono = y[:, 0]
    inside = np.zeros(len(mono), bool)
    for w in words:
      inside[int(w.start * rate) : int(w.end * rate)] = True
    speech, gaps = np.mean(mono[inside] ** 2), np.mean(mono[~inside] ** 2)
    assert speech > 10 * gaps
    # The room's noise and reverberation tails fill the gaps (the dry design's floor is
    # -60 dBFS, ~40 dB below its speech).
    assert gaps > 1e-3 * speech


def test_room_partitions_put_only_test_in_the_room(tmp_path):
  """--room_partitions test: Test as in the all-partitions room, Train and Devel as dry."""
  room = {"rt60_s": 0.5, "snr_db": 15.0}
  outs = {}
  for name, extra in (
    ("all", {}),
    ("test", {"room_partitions": ("test",)}),
    ("dry", None),
  ):
    outs[name] = str(tmp_path / name)
    synthesize_designs.synthesize_design(
      "sewa", outs[name], 3, 4.0, 0, None, 1, room=None if extra is None else {**room, **extra}
    )

  def audio(name, rid):
    return sf.read(os.path.join(outs[name], "audio", rid + ".wav"))[0]

  np.testing.assert_array_equal(audio("test", "Test_01"), audio("all", "Test_01"))
  for rid in ("Train_01", "Devel_01"):
    dry, roomy = audio("dry", rid), audio("test", rid)
    assert np.max(np.abs(dry - roomy)) <= 1.5 / 32768  # the same signal (16-bit rounding)
    assert np.max(np.abs(audio("all", rid) - dry)) > 0.01
  with pytest.raises(cli.InputError, match="--room_partitions"):
    synthesize.check_room({**room, "room_partitions": ("tset",)})
