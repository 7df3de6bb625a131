"""Bootstrap CIs over recordings (emotion_tf.training.stats) vs naive concatenation of frames."""

import numpy as np
import pytest

from emotion_tf.model.ccc import concordance_cc_numpy
from emotion_tf.training import stats


def make_recordings(seed, num=7, noise=0.5, offset=0.0):
  """{id: gold [frames, 3]}, {id: prediction} with recordings of different lengths."""
  rng = np.random.default_rng(seed)
  labels, preds = {}, {}
  for i in range(num):
    frames = int(rng.integers(5, 40))
    gold = np.tanh(np.cumsum(rng.normal(scale=0.3, size=(frames, 3)), 0) + rng.normal(size=3))
    labels[f"r{i}"] = gold
    preds[f"r{i}"] = gold + offset + rng.normal(scale=noise, size=gold.shape)
  return labels, preds


def naive_resampled_ccc(labels, preds, counts):
  """CCC [B, 3] of each resample by literally concatenating the drawn recordings' frames."""
  ids = sorted(labels)
  out = []
  for row in counts:
    drawn = [rid for rid, c in zip(ids, row, strict=False) for _ in range(c)]
    out.append(
      concordance_cc_numpy(
        np.concatenate([labels[r] for r in drawn]), np.concatenate([preds[r] for r in drawn])
      )
    )
  return np.array(out)


def test_pooled_statistics_give_the_ccc_of_the_concatenation():
  labels, preds = make_recordings(0)
  s = stats.recording_statistics(labels, preds)
  assert s.shape == (7, 6, 3)
  ids = sorted(labels)
  want = concordance_cc_numpy(
    np.concatenate([labels[i] for i in ids]), np.concatenate([preds[i] for i in ids])
  )
  np.testing.assert_allclose(stats.ccc_from_statistics(s.sum(0)), want, rtol=1e-10)


def test_resample_counts_draw_with_replacement():
  counts = stats.resample_counts(5, 2000, seed=3)
  assert counts.shape == (2000, 5) and (counts.sum(1) == 5).all() and (counts >= 0).all()
  # each recording is drawn on average once per resample; some resamples repeat a recording
  np.testing.assert_allclose(counts.mean(0), 1.0, atol=0.1)
  assert (counts.max(1) > 1).mean() > 0.9
  np.testing.assert_array_equal(counts, stats.resample_counts(5, 2000, seed=3))
  assert not np.array_equal(counts, stats.resample_counts(5, 2000, seed=4))


def test_resampled_ccc_equals_naive_concatenation_of_drawn_recordings():
  labels, preds = make_recordings(1)
  counts = stats.resample_counts(len(labels), 25, seed=0)
  got = stats.resampled_ccc(stats.recording_statistics(labels, preds), counts)
  np.testing.assert_allclose(got, naive_resampled_ccc(labels, preds, counts), rtol=1e-9, atol=1e-12)


def test_bootstrap_ci_is_the_percentile_interval_of_the_naive_resamples():
  labels, preds = make_recordings(2)
  result = stats.bootstrap_ccc_ci(stats.recording_statistics(labels, preds), resamples=200, seed=5)
  naive = naive_resampled_ccc(labels, preds, stats.resample_counts(7, 200, seed=5))
  naive = np.concatenate([naive, naive.mean(1, keepdims=True)], 1)
  lo, hi = np.quantile(naive, [0.025, 0.975], axis=0)
  for j, key in enumerate(["arousal", "valence", "liking", "mean"]):
    assert result["ci"][key] == pytest.approx([lo[j], hi[j]], rel=1e-9)
    assert result["ci"][key][0] < result["value"][key] < result["ci"][key][1]
  ids = sorted(labels)
  whole = concordance_cc_numpy(
    np.concatenate([labels[i] for i in ids]), np.concatenate([preds[i] for i in ids])
  )
  assert result["value"]["valence"] == pytest.approx(whole[1], rel=1e-10)
  assert result["value"]["mean"] == pytest.approx(whole.mean(), rel=1e-10)
  assert (result["resamples"], result["seed"], result["num_recordings"]) == (200, 5, 7)


def test_bootstrap_ci_narrows_with_more_recordings():
  few = stats.bootstrap_ccc_ci(stats.recording_statistics(*make_recordings(3, num=4)), 500)
  many = stats.bootstrap_ccc_ci(stats.recording_statistics(*make_recordings(3, num=64)), 500)
  width = lambda r: np.diff(r["ci"]["mean"])[0]  # noqa: E731
  assert width(many) < 0.5 * width(few)


def test_paired_difference_against_naive_and_its_sign():
  labels, good = make_recordings(4, noise=0.2)
  _, bad = make_recordings(4, noise=0.8)  # same gold (same seed), noisier predictions
  sa = stats.recording_statistics(labels, good)
  sb = stats.recording_statistics(labels, bad)
  r = stats.paired_bootstrap_diff(sa, sb, resamples=300, seed=1)
  counts = stats.resample_counts(7, 300, seed=1)
  diff = naive_resampled_ccc(labels, good, counts) - naive_resampled_ccc(labels, bad, counts)
  lo, hi = np.quantile(diff, [0.025, 0.975], axis=0)
  for j, key in enumerate(["arousal", "valence", "liking"]):
    assert r["ci"][key] == pytest.approx([lo[j], hi[j]], rel=1e-9)
    assert r["ci"][key][0] > 0 and r["fraction_not_positive"][key] == 0.0
  # paired: a model against itself differs by exactly 0 in every resample
  same = stats.paired_bootstrap_diff(sa, sa, resamples=50)
  assert same["ci"]["mean"] == [0.0, 0.0] and same["value"]["mean"] == 0.0
  # the pairing shrinks the interval below that of two independent figures
  ia = stats.bootstrap_ccc_ci(sa, 300, seed=1)["ci"]["mean"]
  ib = stats.bootstrap_ccc_ci(sb, 300, seed=2)["ci"]["mean"]
  assert np.diff(r["ci"]["mean"])[0] < np.hypot(np.diff(ia)[0], np.diff(ib)[0])


def test_paired_difference_refuses_different_gold_and_bad_arguments():
  la, pa = make_recordings(5)
  lb, pb = make_recordings(6)
  with pytest.raises(ValueError, match="not scored on the same gold frames"):
    stats.paired_bootstrap_diff(
      stats.recording_statistics(la, pa), stats.recording_statistics(lb, pb), resamples=10
    )
  with pytest.raises(ValueError, match="resamples must be >= 1"):
    stats.bootstrap_ccc_ci(stats.recording_statistics(la, pa), resamples=0)
  with pytest.raises(ValueError, match=r"r0: labels \(3, 3\) and predictions \(2, 3\)"):
    stats.recording_statistics({"r0": np.zeros((3, 3))}, {"r0": np.zeros((2, 3))})


def test_paired_difference_of_seed_means_against_naive():
  labels, a0 = make_recordings(7, noise=0.3)
  _, a1 = make_recordings(7, noise=0.4)
  _, b0 = make_recordings(7, noise=0.6)
  sa = np.stack([stats.recording_statistics(labels, p) for p in (a0, a1)])  # 2 seeds
  sb = stats.recording_statistics(labels, b0)  # 1 seed
  r = stats.paired_bootstrap_diff(sa, sb, resamples=100, seed=2)
  counts = stats.resample_counts(7, 100, seed=2)
  naive_a = (naive_resampled_ccc(labels, a0, counts) + naive_resampled_ccc(labels, a1, counts)) / 2
  diff = naive_a - naive_resampled_ccc(labels, b0, counts)
  lo, hi = np.quantile(diff.mean(1), [0.025, 0.975])
  assert r["ci"]["mean"] == pytest.approx([lo, hi], rel=1e-9)
  ids = sorted(labels)
  cat = lambda d: np.concatenate([d[i] for i in ids])  # noqa: E731
  want = (
    concordance_cc_numpy(cat(labels), cat(a0)) + concordance_cc_numpy(cat(labels), cat(a1))
  ) / 2 - concordance_cc_numpy(cat(labels), cat(b0))
  assert r["value"]["liking"] == pytest.approx(want[2], rel=1e-9) and r["seeds"] == [2, 1]


def test_bootstrap_ci_of_seed_means_against_naive():
  labels, a0 = make_recordings(8, noise=0.3)
  _, a1 = make_recordings(8, noise=0.7)
  sa = np.stack([stats.recording_statistics(labels, p) for p in (a0, a1)])  # [2, R, 6, 3]
  r = stats.bootstrap_ccc_ci(sa, resamples=150, seed=4)
  counts = stats.resample_counts(7, 150, seed=4)
  naive = (naive_resampled_ccc(labels, a0, counts) + naive_resampled_ccc(labels, a1, counts)) / 2
  for j, key in enumerate(["arousal", "valence", "liking"]):
    assert r["ci"][key] == pytest.approx(np.quantile(naive[:, j], [0.025, 0.975]), rel=1e-9)
  assert r["ci"]["mean"] == pytest.approx(np.quantile(naive.mean(1), [0.025, 0.975]), rel=1e-9)
  ids = sorted(labels)
  cat = lambda d: np.concatenate([d[i] for i in ids])  # noqa: E731
  want = (
    concordance_cc_numpy(cat(labels), cat(a0)) + concordance_cc_numpy(cat(labels), cat(a1))
  ) / 2
  assert r["value"]["valence"] == pytest.approx(want[1], rel=1e-9) and r["num_recordings"] == 7
  with pytest.raises(ValueError, match="statistics must be"):
    stats.bootstrap_ccc_ci(sa[0, 0], resamples=10)


def test_statistics_stored_in_an_evaluation_summary_round_trip_through_json():
  import json

  from emotion_tf.training import evaluate_lib

  labels, preds = make_recordings(8)
  summary = json.loads(json.dumps(evaluate_lib.ccc_summary(labels, preds)))
  ids, s = stats.summary_statistics(summary)
  assert ids == sorted(labels)
  np.testing.assert_array_equal(s, stats.recording_statistics(labels, preds))
  assert list(stats.point_ccc(s)) == pytest.approx(list(summary["ccc"].values()), rel=1e-10)
  del summary["recordings"]["r3"]["statistics"]
  with pytest.raises(ValueError, match="no per-recording statistics for r3"):
    stats.summary_statistics(summary)
