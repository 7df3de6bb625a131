"""Forced aligner (data_prep.forced_alignment, data_prep.align_words).

DTW and the pause assignment are checked against brute-force enumeration; the aligner against
sentences whose truth is known: each word synthesised separately by espeak-ng with a voice and
rate different from the aligner's reference voice, concatenated with short gaps (some none).
"""

import itertools
import os
import subprocess
import sys
import wave

import numpy as np
import pytest

from data_prep import forced_alignment as fa
from emotion_tf import SAMPLE_RATE
from emotion_tf.data import word_timings as wt

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ------------------------------------------------------------------------------------ DTW


def _all_paths(n, m):
  """Every monotone path (0,0)->(n-1,m-1) with steps (1,1), (1,0), (0,1)."""
  out = []

  def rec(i, j, acc):
    if (i, j) == (n - 1, m - 1):
      out.append(list(acc))
      return
    for di, dj in ((1, 1), (1, 0), (0, 1)):
      if i + di < n and j + dj < m:
        acc.append((i + di, j + dj))
        rec(i + di, j + dj, acc)
        acc.pop()

  rec(0, 0, [(0, 0)])
  return out


def _cost_of(cost, path):
  """Symmetric step weights written out independently: C[0,0], then 2C diagonal, C straight."""
  total = cost[0, 0]
  for (a, b), (c, d) in zip(path[:-1], path[1:], strict=False):
    total += (2.0 if (c - a, d - b) == (1, 1) else 1.0) * cost[c, d]
  return total


def _check_steps(path, n, m):
  assert tuple(path[0]) == (0, 0) and tuple(path[-1]) == (n - 1, m - 1)
  steps = {tuple(s) for s in np.diff(path, axis=0)}
  assert steps <= {(1, 1), (1, 0), (0, 1)}


@pytest.mark.parametrize(
  "n,m,seed", [(1, 1, 0), (1, 4, 1), (4, 1, 2), (3, 4, 3), (5, 5, 4), (4, 6, 5), (6, 3, 6)]
)
def test_dtw_matches_brute_force(n, m, seed):
  cost = np.random.default_rng(seed).random((n, m))
  path = fa.dtw_path(cost)
  _check_steps(path, n, m)
  best = min(_cost_of(cost, p) for p in _all_paths(n, m))
  assert _cost_of(cost, path.tolist()) == pytest.approx(best, rel=1e-12)
  assert fa.path_cost(cost, path) == pytest.approx(best, rel=1e-12)


def test_dtw_band_matches_brute_force_inside_band():
  rng = np.random.default_rng(7)
  n, m, band = 6, 6, 1
  cost = rng.random((n, m))
  path = fa.dtw_path(cost, band=band)
  _check_steps(path, n, m)
  assert all(abs(j - i) <= band for i, j in path)
  inside = [p for p in _all_paths(n, m) if all(abs(j - i) <= band for i, j in p)]
  assert _cost_of(cost, path.tolist()) == pytest.approx(min(_cost_of(cost, p) for p in inside))
  # The band binds: the unconstrained optimum leaves it for this matrix.
  cost[0, 3:] = cost[1:, 5] = 0.0
  cost[0, 0] = 0.0
  free = fa.dtw_path(cost)
  assert any(abs(j - i) > band for i, j in free)
  assert all(abs(j - i) <= band for i, j in fa.dtw_path(cost, band=band))


def test_dtw_recovers_known_warp():
  # A sequence and a time-warped copy (frame k repeated w_k times): DTW on |x_i - y_j| recovers
  # the warp exactly, every y frame matched to the x frame it copies.
  rng = np.random.default_rng(3)
  x = np.cumsum(rng.random(20) + 0.5)  # strictly increasing, distinct values
  reps = rng.integers(1, 4, size=20)
  src = np.repeat(np.arange(20), reps)
  y = x[src]
  path = fa.dtw_path(np.abs(x[:, None] - y[None, :]), band=20)
  assert all(i == src[j] for i, j in path)
  assert sorted({j for _, j in path}) == list(range(len(y)))


def test_assign_pauses_matches_brute_force():
  rng = np.random.default_rng(11)
  for _ in range(30):
    n, m, radius = int(rng.integers(1, 5)), int(rng.integers(0, 5)), 4.0
    cuts = np.sort(rng.choice(np.arange(1, 60), size=2 * m, replace=False))
    pauses = [(int(a), int(b)) for a, b in zip(cuts[::2], cuts[1::2], strict=False)]
    bounds = list(np.sort(rng.random(n) * 60))

    def cost(assign, bounds=bounds, pauses=pauses, radius=radius):
      total = 0.0
      for b, j in zip(bounds, assign, strict=False):
        if j is None:
          total += radius
        else:
          a, e = pauses[j]
          d = max(0.0, a - b, b - (e - 1))
          if d > radius:
            return np.inf
          total += d
      return total

    best = np.inf
    for assign in itertools.product([None] + list(range(m)), repeat=n):
      used = [j for j in assign if j is not None]
      if used == sorted(set(used)):  # monotone and each pause once
        best = min(best, cost(assign))
    got = fa.assign_pauses(bounds, pauses, radius)
    used = [j for j in got if j is not None]
    assert used == sorted(set(used))
    assert cost(got) == pytest.approx(best)


# ------------------------------------------------------------------------ synthetic speech

REAL_VOICE, REAL_RATE = "en-us+f3", 240  # the "speaker"; the aligner's reference is en @ 175
SENTENCES = [
  "the little boat sailed across the quiet river",
  "she bought seven green apples yesterday morning",
  "please remember to close the window tonight",
]


def _trim(x):
  loud = np.nonzero(np.abs(x) > 0.02 * np.abs(x).max())[0]
  return x[max(0, loud[0] - 110) : loud[-1] + 110]


def _synthetic_recording(seed=0):
  """(audio float32 [S] at 22 050 Hz, transcript rows, true WordTimings): words spoken one by
  one by REAL_VOICE at REAL_RATE, gaps 0-60 ms (a third of them none), 1 s pauses."""
  engine = fa.espeak_engine()
  rng = np.random.default_rng(seed)
  pieces, rows, truth = [np.zeros(int(0.4 * SAMPLE_RATE))], [], []
  t = len(pieces[0])
  for text in SENTENCES:
    s_start = t
    for k, word in enumerate(text.split()):
      if k:
        gap = int(rng.choice([0.0, rng.uniform(0.01, 0.06)]) * SAMPLE_RATE)
        pieces.append(np.zeros(gap))
        t += gap
      x, _ = engine.synthesize(word, REAL_VOICE, REAL_RATE)
      x = _trim(x) * rng.uniform(0.5, 1.0)
      truth.append(wt.WordTiming(t / SAMPLE_RATE, (t + len(x)) / SAMPLE_RATE, word))
      pieces.append(x)
      t += len(x)
    rows.append((s_start / SAMPLE_RATE, t / SAMPLE_RATE, text))
    pieces.append(np.zeros(SAMPLE_RATE))
    t += SAMPLE_RATE
  audio = np.concatenate(pieces)
  audio = audio + rng.standard_normal(len(audio)) * 1e-3  # -60 dBFS noise
  return audio.astype(np.float32), rows, truth


def _errors(est, truth):
  assert [e.word for e in est] == [t.word for t in truth]
  err = np.abs(
    [[e.start - t.start, e.end - t.end] for e, t in zip(est, truth, strict=False)]
  ).ravel()
  inside = np.mean(
    [t.start <= (e.start + e.end) / 2 <= t.end for e, t in zip(est, truth, strict=False)]
  )
  return float(np.median(err)), float(inside)


@pytest.fixture(scope="module")
def recording():
  return _synthetic_recording()


def test_synthesize_words_gives_ordered_starts():
  audio, starts = fa.synthesize_words(["hello", "wonderful", "world"], "en", 175)
  assert audio.dtype == np.float32 and len(starts) == 3
  assert 0 <= starts[0] < starts[1] < starts[2] < len(audio)


@pytest.mark.parametrize("method", ["tts_dtw", "auto"])
def test_align_other_voice_and_rate(recording, method):
  audio, rows, truth = recording
  est, sentences = fa.align_recording(audio, SAMPLE_RATE, rows, fa.AlignConfig(method=method))
  assert sentences == [k for k, (_, _, text) in enumerate(rows) for _ in text.split()]
  median, inside = _errors(est, truth)
  uniform_median, uniform_inside = _errors(wt.uniform_timings(rows), truth)
  assert inside >= 0.95, (inside, uniform_inside)
  assert median <= 0.03, (median, uniform_median)
  assert median < uniform_median
  for a, b in zip(
    est[:-1], est[1:], strict=False
  ):  # in order, non-overlapping, inside the sentence spans
    assert a.start <= a.end <= b.start + 1e-9


def _write_wav(path, audio, rate, channels):
  pcm = np.clip(np.round(audio * 32767), -32768, 32767).astype("<i2")
  with wave.open(path, "wb") as w:
    w.setnchannels(channels)
    w.setsampwidth(2)
    w.setframerate(rate)
    w.writeframes(pcm.tobytes())


def _write_corpus(root, recording):
  from scipy import signal

  audio, rows, _ = recording
  os.makedirs(os.path.join(root, "audio"))
  os.makedirs(os.path.join(root, "transcriptions"))
  x48 = signal.resample_poly(audio, 320, 147)  # 22 050 -> 48 000 Hz
  stereo = np.stack([x48 * 0.9, x48 * 0.6], axis=1).ravel()
  _write_wav(os.path.join(root, "audio", "Train_01.wav"), stereo, 48000, 2)
  with open(os.path.join(root, "transcriptions", "Train_01.csv"), "w") as f:
    f.writelines(f"{s:.4f};{e:.4f};'{t}'\n" for s, e, t in rows)
  _write_wav(os.path.join(root, "audio", "Devel_01.wav"), audio, SAMPLE_RATE, 1)
  with open(os.path.join(root, "transcriptions", "Devel_01.csv"), "w") as f:
    f.write("0.5;1.5;'fine'\n1.7;oops;'broken row'\n")


def test_corpus_48k_stereo_and_bad_transcript(tmp_path, recording):
  root = str(tmp_path / "corpus")
  _write_corpus(root, recording)
  out = os.path.join(root, "word_timings")
  result = fa.align_corpus(root, out)
  status = {r["recording_id"]: r for r in result["recordings"]}
  assert status["Train_01"]["status"] == "aligned"
  assert status["Devel_01"]["status"] == "failed" and not result["ok"]
  assert "transcriptions/Devel_01.csv:2" in status["Devel_01"]["error"]
  assert not os.path.exists(os.path.join(out, "Devel_01.csv"))
  est = wt.read_timings_csv(os.path.join(out, "Train_01.csv"))
  median, inside = _errors(est, recording[2])
  assert inside >= 0.9 and median <= 0.03, (median, inside)
  with open(os.path.join(out, "Train_01.csv")) as f:
    assert f.readline().startswith("s0w0;")
  # A rerun skips the up-to-date output; a newer transcript is aligned again.
  again = {r["recording_id"]: r["status"] for r in fa.align_corpus(root, out)["recordings"]}
  assert again["Train_01"] == "skipped"
  tr = os.path.join(root, "transcriptions", "Train_01.csv")
  later = os.path.getmtime(os.path.join(out, "Train_01.csv")) + 5
  os.utime(tr, (later, later))
  again = {r["recording_id"]: r["status"] for r in fa.align_corpus(root, out)["recordings"]}
  assert again["Train_01"] == "aligned"


def test_binary_exit_codes(tmp_path, recording):
  root = str(tmp_path / "corpus")
  _write_corpus(root, recording)
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  cmd = [sys.executable, "-m", "data_prep.align_words", "--corpus", root, "--num_workers", "1"]
  res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert res.returncode == 1, res.stderr[-2000:]
  assert "Devel_01" in res.stderr and "Devel_01.csv:2" in res.stderr
  assert "sentences by method: acoustic 3, tts_dtw 0, uniform 0" in res.stdout, res.stdout
  assert os.path.exists(os.path.join(root, "word_timings", "Train_01.csv"))
  res = subprocess.run(
    cmd + ["--voice", "no-such-voice"],
    cwd=ROOT,
    env=env,
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert res.returncode == 2 and "no-such-voice" in res.stderr


def test_binaries_default_to_corpus_word_timings(tmp_path):
  root = tmp_path / "corpus"
  root.mkdir()
  assert wt.resolve_timings_dir(str(root)) is None  # no directory: uniform split
  (root / "word_timings").mkdir()
  assert wt.resolve_timings_dir(str(root)) == str(root / "word_timings")
  assert wt.resolve_timings_dir(str(root), "elsewhere") == "elsewhere"
  assert wt.resolve_timings_dir(str(root), "") == str(root / "word_timings")
