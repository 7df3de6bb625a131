"""Unseen-word valence: CCC on the frames whose word never occurs in the labelled Train partition.

The paper's claim (Sec. 1, 3.1) is that aligned speech vectors carry the text space's meaning,
so valence is recognised from words the emotion model never saw labelled. When Test words also
occur in Train, any distinct vector per word (an identity) lets the model memorise each word's
valence and the partition CCC cannot tell meaning from identity. This module restricts the CCC
to the frames whose word is unseen:

  seen(Train)  = { word_index k > 0 : k occurs at some valid frame of a Train shard }
  unseen frame = a valid frame f of the evaluated partition with word_index[f] > 0 and
                 word_index[f] not in seen(Train)
  unseen-word CCC = CCC (Eq. 8's concordance, Lin 1989) over all unseen frames of all
                    recordings, concatenated (the AVEC convention of `evaluate_lib`)

and reports the same figure for the frames of seen words beside it. Word identities come from
the shards' per-frame `word_index` (DESIGN.md "TFRecord example"; the vocabulary in vocab.txt
covers every timed word of every partition), so no transcript is read again.
"""

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf
from absl import logging

from emotion_tf.data import pipeline, schema
from emotion_tf.model.ccc import concordance_cc_numpy

TRAIN_PARTITION = "train"


def read_word_index(data_dir: str, partition: str) -> dict[str, np.ndarray]:
  """Per-frame word indices of every recording of `partition`, chunks stitched in order.

  Returns:
    {recording_id: int64 [valid frames]} (0 = no word), the frames `evaluate_lib` scores.

  Raises:
    FileNotFoundError: no shard of the partition (naming the directory and pattern).
  """
  meta = schema.read_metadata(data_dir)
  frames = meta.frames_per_chunk
  files = pipeline.shard_files(data_dir, partition)
  spec = {
    schema.RECORDING_ID: tf.io.FixedLenFeature([], tf.string),
    schema.CHUNK_INDEX: tf.io.FixedLenFeature([], tf.int64),
    schema.NUM_FRAMES: tf.io.FixedLenFeature([], tf.int64),
    schema.WORD_INDEX: tf.io.FixedLenFeature([frames], tf.int64),
  }
  ids, chunks, nums, words = [], [], [], []
  ds = (
    tf.data.TFRecordDataset(list(files)).batch(256).map(lambda raw: tf.io.parse_example(raw, spec))
  )
  for ex in ds.as_numpy_iterator():
    ids.extend(ex[schema.RECORDING_ID].tolist())
    chunks.append(ex[schema.CHUNK_INDEX])
    nums.append(ex[schema.NUM_FRAMES])
    words.append(ex[schema.WORD_INDEX])
  stacked = np.concatenate(words)[..., None]  # [N, F, 1]
  stitched = pipeline.stitch_predictions(ids, np.concatenate(chunks), np.concatenate(nums), stacked)
  return {rid: np.rint(v[:, 0]).astype(np.int64) for rid, v in stitched.items()}


def seen_words(word_index: Mapping[str, np.ndarray]) -> np.ndarray:
  """Sorted unique word indices > 0 of {recording_id: [frames]} (e.g. the Train partition's)."""
  if not word_index:
    return np.zeros(0, np.int64)
  all_words = np.concatenate([np.asarray(v, np.int64) for v in word_index.values()])
  return np.unique(all_words[all_words > 0])


def _ccc_or_none(gold: np.ndarray, pred: np.ndarray, names: Sequence[str]) -> dict[str, Any]:
  if gold.shape[0] < 2:
    return {n: None for n in names}
  return dict(zip(names, map(float, concordance_cc_numpy(gold, pred, axis=0)), strict=False))


def unseen_word_ccc(
  labels: Mapping[str, np.ndarray],
  predictions: Mapping[str, np.ndarray],
  word_index: Mapping[str, np.ndarray],
  seen: np.ndarray,
  label_names: Sequence[str],
) -> dict[str, Any]:
  """CCC on the frames of unseen words and, beside it, of seen words.

  Args:
    labels, predictions: {recording_id: [frames, dims]} (valid frames, as `evaluate_lib`).
    word_index: {recording_id: int [frames]} for the same recordings and frames.
    seen: word indices occurring in labelled Train (`seen_words`).
    label_names: names of the dims.

  Returns:
    {'unseen': {'num_frames', 'word_types', 'ccc': {name: CCC or None (< 2 frames)}},
     'seen': {same keys}, 'word_frames': frames with a word,
     'unseen_frame_share': unseen / word frames (None without word frames)}.

  Raises:
    ValueError: a recording without word indices, or with a different number of frames.
  """
  names = list(label_names)
  seen = np.asarray(seen, np.int64)
  parts: dict[str, list] = {"unseen": [], "seen": []}
  types: dict[str, set] = {"unseen": set(), "seen": set()}
  for rid in sorted(labels):
    if rid not in word_index:
      raise ValueError(f"{rid}: no word indices in the shards for this recording")
    wi = np.asarray(word_index[rid], np.int64)
    gold, pred = np.asarray(labels[rid], np.float64), np.asarray(predictions[rid], np.float64)
    if wi.shape[0] != gold.shape[0] or pred.shape != gold.shape:
      raise ValueError(
        f"{rid}: {wi.shape[0]} word indices for labels {gold.shape} and predictions {pred.shape}"
      )
    is_seen = np.isin(wi, seen)
    for key, mask in (("unseen", (wi > 0) & ~is_seen), ("seen", (wi > 0) & is_seen)):
      parts[key].append((gold[mask], pred[mask]))
      types[key].update(np.unique(wi[mask]).tolist())
  out: dict[str, Any] = {}
  for key, pairs in parts.items():
    dims = len(names)
    gold = np.concatenate([g for g, _ in pairs]) if pairs else np.zeros((0, dims))
    pred = np.concatenate([p for _, p in pairs]) if pairs else np.zeros((0, dims))
    out[key] = {
      "num_frames": int(gold.shape[0]),
      "word_types": len(types[key]),
      "ccc": _ccc_or_none(gold, pred, names),
    }
  word_frames = out["unseen"]["num_frames"] + out["seen"]["num_frames"]
  out["word_frames"] = word_frames
  out["unseen_frame_share"] = out["unseen"]["num_frames"] / word_frames if word_frames else None
  return out


def evaluation_entry(
  data_dir: str,
  partition: str,
  labels: Mapping[str, np.ndarray],
  predictions: Mapping[str, np.ndarray],
  label_names: Sequence[str],
) -> dict[str, Any]:
  """{'unseen_words': `unseen_word_ccc` of `partition` against the Train shards' words}, or {}
  when there is nothing to compare (no Train shards, or the shards cannot be read as words),
  for `evaluate_lib.evaluate_partition`."""
  try:
    seen = seen_words(read_word_index(data_dir, TRAIN_PARTITION))
    words = read_word_index(data_dir, partition)
    result = unseen_word_ccc(labels, predictions, words, seen, label_names)
  except (FileNotFoundError, ValueError, tf.errors.OpError) as e:
    logging.warning("%s: unseen-word CCC of %s not computed: %s", data_dir, partition, e)
    return {}
  result["train_word_types"] = int(len(seen))
  result["predictions"] = "raw (before any post-processing)"
  valence = result["unseen"]["ccc"].get("valence")
  logging.info(
    "%s: unseen-word valence CCC %s over %d frames / %d word types (%.0f %% of word "
    "frames; Train has %d word types)",
    partition,
    "n/a" if valence is None else f"{valence:.4f}",
    result["unseen"]["num_frames"],
    result["unseen"]["word_types"],
    100 * (result["unseen_frame_share"] or 0.0),
    len(seen),
  )
  return {"unseen_words": result}


def unseen_valence(summary: Mapping[str, Any]) -> float | None:
  """The unseen-word valence CCC of an `evaluate_partition` result (None when absent)."""
  entry = summary.get("unseen_words") or {}
  return (entry.get("unseen") or {}).get("ccc", {}).get("valence")
