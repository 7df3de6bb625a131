"""Automatic segmentation of speech into word-like units (no transcript, no aligner).

Used by prediction when no word timings are given, so Speech2Vec token vectors
(`emotion_tf.semantic.tokens`) can be computed from a wav alone. Energy/VAD and pause based:

  1. frame log energy e_t (dB) over `window_s` windows every `hop_s` (numpy, no TF);
  2. noise-floor-adaptive threshold: the floor is the `floor_percentile`-th percentile of e_t
     over the whole recording, the peak level the `peak_percentile`-th; a frame is voiced when
     e_t > floor + max(`min_snr_db`, `threshold_ratio` * (peak - floor));
  3. pauses shorter than `min_pause_s` inside voiced runs are closed (stop closures), voiced
     runs shorter than `min_word_s` are dropped (clicks);
  4. runs longer than `split_above_s` are split recursively at the minimum of the smoothed
     energy (moving average over `smooth_s`), searched at least `min_word_s` from either end,
     until every piece is shorter than `split_above_s` (word-length pieces, `typical_word_s`
     guides where the search looks first: minima nearest to multiples of it win ties);
  5. each segment is widened by `pad_s` on both sides (clipped to the audio and to its
     neighbours' midpoints).

Defaults: threshold_ratio 0.1, min_word_s 0.1 and split_above_s 1.0 come from a grid search
by boundary F1 + word hits on the Train recordings of the built-in synthetic corpus
(`bench/segmenter.py --tune`). min_snr_db 4 and min_pause_s 0.02 were chosen on Devel by the
emotion CCC they lead to (`bench/segmenter_devel.py`: the wav-only, snapped export of the three
README demo models, 23 settings over 2-10 dB x 0.01-0.03 s; Devel mean CCC .674 against .654
for the former 6 dB / 0.015 s; BUILD.md, "Segmenter thresholds chosen on Devel").
"""

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class SegmenterConfig:
  """Segmenter parameters (seconds / dB)."""

  sample_rate: int = 22050
  window_s: float = 0.010
  hop_s: float = 0.005
  floor_percentile: float = 5.0
  peak_percentile: float = 95.0
  min_snr_db: float = 4.0
  threshold_ratio: float = 0.1
  min_pause_s: float = 0.02
  min_word_s: float = 0.1
  split_above_s: float = 1.0
  typical_word_s: float = 0.4
  smooth_s: float = 0.03
  pad_s: float = 0.0

  def to_dict(self) -> dict:
    return dataclasses.asdict(self)


def frame_energy_db(waveform: np.ndarray, config: SegmenterConfig) -> np.ndarray:
  """Log energy 10 log10(mean(x^2) + 1e-12) of frames t*hop .. t*hop + window: [T] float64."""
  x = np.asarray(waveform, np.float64).reshape(-1)
  win = max(int(round(config.window_s * config.sample_rate)), 1)
  hop = max(int(round(config.hop_s * config.sample_rate)), 1)
  if x.shape[0] < win:
    return np.zeros(0)
  csum = np.concatenate([[0.0], np.cumsum(x * x)])
  starts = np.arange(0, x.shape[0] - win + 1, hop)
  power = (csum[starts + win] - csum[starts]) / win
  return 10.0 * np.log10(power + 1e-12)


def voiced_mask(energy_db: np.ndarray, config: SegmenterConfig) -> np.ndarray:
  """[T] bool: frames above the noise-floor-adaptive threshold (step 2)."""
  if energy_db.size == 0:
    return np.zeros(0, bool)
  floor = np.percentile(energy_db, config.floor_percentile)
  peak = np.percentile(energy_db, config.peak_percentile)
  threshold = floor + max(config.min_snr_db, config.threshold_ratio * (peak - floor))
  return energy_db > threshold


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
  """[(start, end)) index pairs of the True runs of a bool array."""
  padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
  edges = np.flatnonzero(np.diff(padded))
  return list(zip(edges[0::2].tolist(), edges[1::2].tolist(), strict=False))


def _split(
  run: tuple[int, int], smooth: np.ndarray, max_len: int, min_len: int, typical: int
) -> list[tuple[int, int]]:
  """Recursively splits run [a, b) at smoothed-energy minima until every piece < max_len."""
  a, b = run
  if b - a <= max_len or b - a < 2 * min_len + 1:
    return [run]
  lo, hi = a + min_len, b - min_len
  cand = np.arange(lo, hi)
  values = smooth[lo:hi]
  # Prefer minima near a multiple of the typical word length (tiny tie-break, 0.5 dB per word).
  dist = np.abs(((cand - a) + typical / 2) % typical - typical / 2) / max(typical, 1)
  cut = int(cand[np.argmin(values + 0.5 * dist)])
  return _split((a, cut), smooth, max_len, min_len, typical) + _split(
    (cut, b), smooth, max_len, min_len, typical
  )


def segment(
  waveform: np.ndarray, config: SegmenterConfig = SegmenterConfig()
) -> list[tuple[float, float]]:
  """Word-like segments of one recording.

  Args:
    waveform: [samples] float32 mono at `config.sample_rate`.
    config: SegmenterConfig.
  Returns:
    (start, end) pairs in seconds, in time order, non-overlapping.
  """
  energy = frame_energy_db(waveform, config)
  if energy.size == 0:
    return []
  # Frame times use the integer sample hop/window actually used by `frame_energy_db`.
  hop = max(int(round(config.hop_s * config.sample_rate)), 1) / config.sample_rate
  window = max(int(round(config.window_s * config.sample_rate)), 1) / config.sample_rate
  voiced = voiced_mask(energy, config)
  # Step 3: close short pauses, then drop short runs.
  min_pause = int(round(config.min_pause_s / hop))
  runs = _runs(voiced)
  merged: list[list[int]] = []
  for a, b in runs:
    if merged and a - merged[-1][1] < min_pause:
      merged[-1][1] = b
    else:
      merged.append([a, b])
  min_word = max(int(round(config.min_word_s / hop)), 1)
  kept = [(a, b) for a, b in merged if b - a >= min_word]
  # Step 4: split long runs at energy minima.
  width = max(int(round(config.smooth_s / hop)), 1)
  smooth = np.convolve(energy, np.ones(width) / width, mode="same")
  max_len = max(int(round(config.split_above_s / hop)), 1)
  typical = max(int(round(config.typical_word_s / hop)), 1)
  pieces = [p for run in kept for p in _split(run, smooth, max_len, min_word, typical)]
  # Frame t covers samples [t*hop, t*hop + window): a run [a, b) spans a*hop .. (b-1)*hop+window.
  total = np.asarray(waveform).reshape(-1).shape[0] / config.sample_rate
  out = []
  for i, (a, b) in enumerate(pieces):
    start = a * hop
    end = (b - 1) * hop + window
    if config.pad_s > 0:
      prev_end = out[-1][1] if out else 0.0
      nxt = pieces[i + 1][0] * hop if i + 1 < len(pieces) else total
      start = max(start - config.pad_s, prev_end, 0.0)
      end = min(end + config.pad_s, (end + nxt) / 2 if nxt > end else end, total)
    if out and start < out[-1][1]:
      start = out[-1][1]
    out.append((float(start), float(min(end, total))))
  return [(s, e) for s, e in out if e > s]


# ---------------------------------------------------------------------------------- evaluation


def boundary_f1(
  predicted: list[tuple[float, float]],
  reference: list[tuple[float, float]],
  tolerance_s: float = 0.05,
) -> dict[str, float]:
  """Boundary precision/recall/F1: every start and every end is a boundary; a predicted and a
  reference boundary match when within `tolerance_s` (one-to-one, greedy by distance).

  Returns {'precision', 'recall', 'f1', 'matched', 'predicted', 'reference'}.
  """
  p = np.sort(np.array([t for seg in predicted for t in seg], np.float64))
  r = np.sort(np.array([t for seg in reference for t in seg], np.float64))
  matched = 0
  if p.size and r.size:
    pairs = []
    for i, t in enumerate(p):
      lo, hi = np.searchsorted(r, t - tolerance_s), np.searchsorted(r, t + tolerance_s, "right")
      pairs.extend((abs(t - r[j]), i, j) for j in range(lo, hi))
    used_p, used_r = set(), set()
    for _, i, j in sorted(pairs):
      if i not in used_p and j not in used_r:
        used_p.add(i)
        used_r.add(j)
    matched = len(used_p)
  precision = matched / p.size if p.size else 0.0
  recall = matched / r.size if r.size else 0.0
  f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
  return {
    "precision": precision,
    "recall": recall,
    "f1": f1,
    "matched": matched,
    "predicted": int(p.size),
    "reference": int(r.size),
  }


def words_hit(
  predicted: list[tuple[float, float]], reference: list[tuple[float, float]]
) -> dict[str, float]:
  """Word hit rates.

  'centre_hit': share of reference words whose span [start, end) contains the centre of at
  least one predicted segment; 'one_to_one': share of reference words containing exactly one
  predicted centre (the word got one token, neither missed nor split); 'overlap_50': share of
  reference words of which one predicted segment covers >= 50 % and whose own extent is >= 50 %
  inside the word.
  """
  if not reference:
    return {"centre_hit": 0.0, "one_to_one": 0.0, "overlap_50": 0.0}
  centres = np.sort(np.array([(s + e) / 2 for s, e in predicted], np.float64))
  hit = one = over = 0
  for s, e in reference:
    k = int(np.searchsorted(centres, e, "left") - np.searchsorted(centres, s, "left"))
    hit += k >= 1
    one += k == 1
    for ps, pe in predicted:
      inter = min(e, pe) - max(s, ps)
      if inter > 0 and inter >= 0.5 * (e - s) and inter >= 0.5 * (pe - ps):
        over += 1
        break
  n = float(len(reference))
  return {"centre_hit": hit / n, "one_to_one": one / n, "overlap_50": over / n}
