"""Evaluation of a trained model on TFRecord partitions (AVEC 2017 convention).

  * CCC (paper Eq. 8) per dimension over the concatenation of all valid frames of a partition
    (the AVEC convention, what the paper reports), and its mean over arousal/valence/liking;
  * the mean over recordings of each recording's CCC (a second, per-recording view);
  * per-recording prediction CSVs `name;time;arousal;valence;liking` at 10 Hz, no header (the
    labels contract of DESIGN.md), `time` = frame index * hop (0.1 s);
  * a 95 % bootstrap confidence interval of each concatenated CCC and of their mean, resampling
    recordings with replacement (emotion_tf.training.stats; seed and number of resamples recorded);
  * a JSON summary.

The partition is read in eval mode (chunks in order, no shuffling), its chunks are stitched
back into whole recordings (only valid frames), and each recording is predicted by the one
inference path (`emotion_tf.serving.inference.predict_frames`: 10 s chunks in chunk_index
order with the LSTM state carried from chunk to chunk, reset between recordings), which is
what `emotion_tf.predict` runs on the same audio.
"""

import dataclasses
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from emotion_tf import LABEL_NAMES
from emotion_tf.data import pipeline, schema
from emotion_tf.model import model_dir as model_dir_lib
from emotion_tf.model import models  # noqa: F401  (registers the serializable model and layers)
from emotion_tf.model.ccc import concordance_cc_numpy
from emotion_tf.serving import inference, prediction_csv
from emotion_tf.serving import postprocess as postprocess_lib
from emotion_tf.training import plots as plotting
from emotion_tf.training import stats, unseen_words
from emotion_tf.util import config as config_lib
from emotion_tf.util import fileio

SUMMARY_FILENAME = "evaluation.json"


@dataclasses.dataclass(frozen=True)
class EvalConfig:
  """What `python -m emotion_tf.evaluate` evaluates; its flags are derived from these fields."""

  model_dir: str = config_lib.field(
    "",
    "Model directory written by `emotion_tf.train` (best.keras / last.keras, model_config.json).",
  )
  which: str = config_lib.field(
    "best",
    "Which saved model to evaluate; 'best' falls back to last.keras.",
    choices=tuple(model_dir_lib.MODEL_FILES),
  )
  data_dir: str = config_lib.field("", "Directory with the TFRecord shards and metadata.json.")
  partitions: tuple[str, ...] = config_lib.field(
    ("Devel", "Test"), "Comma-separated partitions to evaluate (Train, Devel, Test; any case)."
  )
  out: str = config_lib.field(
    "",
    "Output directory for the JSON summary and the per-recording "
    "prediction CSVs; empty = <model_dir>/evaluation_<which>.",
  )
  batch_size: int = config_lib.field(8, "Chunks per evaluation batch.", lower_bound=1)
  embeddings: str = config_lib.field(
    "",
    "Optional .vec file: replaces the stored semantic vectors by this space's vectors of "
    "each frame's word (via word_index and the shards' vocabulary); its dimension must equal "
    "the model's.",
  )
  plots: bool = config_lib.field(
    True, "Write per-recording gold-vs-prediction PNGs to <out>/plots/<partition>/<id>.png."
  )
  allow_incomplete: bool = config_lib.field(
    False,
    'Evaluate a TFRecord directory whose metadata.json says "complete": false (some '
    "recordings failed to write); by default such a directory is refused, naming them.",
  )
  postprocess: str = config_lib.field(
    "",
    "Post-processing of the predictions (emotion_tf.serving.postprocess): empty = none; "
    "'devel' = "
    "choose a time shift and Gaussian smoothing per dimension on the Devel partition of "
    "--data_dir (written to <out>/postprocess.json) and apply them to every partition; or "
    "the path of such a postprocess.json to apply. The raw CCC stays in 'ccc_raw'.",
  )
  bootstrap_resamples: int = config_lib.field(
    stats.DEFAULT_RESAMPLES,
    "Bootstrap resamples for the 95 % confidence interval of each "
    "partition's CCC (recordings drawn with replacement, concatenated CCC recomputed); "
    "0 = no interval.",
    lower_bound=0,
  )
  bootstrap_seed: int = config_lib.field(0, "Seed of the bootstrap resamples.")
  export: str = config_lib.field(
    "",
    "Score this exported SavedModel from the wav files of --corpus instead of a model "
    "directory on TFRecords (emotion_tf.training.evaluate_export): from the wav alone when the "
    "export carries a speech frontend, or with --word_timings and --embeddings the transcript "
    "path; --postprocess must then be a postprocess.json file; needs --out.",
  )
  corpus: str = config_lib.field("", "SEWA-layout corpus whose wavs and labels --export scores.")
  word_timings: str = config_lib.field(
    "", "With --export: directory of <id>.csv / <id>.TextGrid word timings (transcript path)."
  )


def run_eval_config(config: EvalConfig) -> dict[str, Any]:
  """`run_evaluation` of an EvalConfig."""
  return run_evaluation(
    config.model_dir,
    config.data_dir,
    config.partitions,
    out_dir=config.out or None,
    which=config.which,
    batch_size=config.batch_size,
    embeddings=config.embeddings or None,
    plots=config.plots,
    allow_incomplete=config.allow_incomplete,
    postprocess=config.postprocess,
    bootstrap_resamples=config.bootstrap_resamples,
    bootstrap_seed=config.bootstrap_seed,
  )


# -------------------------------------------------------------------------------------- metrics


def ccc_summary(
  labels: Mapping[str, np.ndarray],
  predictions: Mapping[str, np.ndarray],
  label_names: Sequence[str] = LABEL_NAMES,
) -> dict[str, Any]:
  """CCC figures of whole recordings (Eq. 8).

  Args:
    labels, predictions: {recording_id: [frames, dims]} with the same ids and shapes (valid
      frames only).
    label_names: names of the `dims` columns.

  Returns:
    {'num_recordings', 'num_frames',
     'ccc': {name: CCC over all frames of all recordings concatenated}, 'ccc_mean',
     'per_recording_ccc': {name: mean over recordings of the recording's CCC},
     'per_recording_ccc_mean',
     'recordings': {id: {'num_frames', 'ccc': {name: ...}, 'ccc_mean',
                         'statistics': [6][dims] sufficient statistics (`stats`)}}}.
  """
  ids = sorted(labels)
  if not ids:
    raise ValueError("no recordings to evaluate")
  if sorted(predictions) != ids:
    raise ValueError(
      f"predictions and labels cover different recordings: {sorted(set(ids) ^ set(predictions))}"
    )
  names = list(label_names)
  per_rec: dict[str, Any] = {}
  rec_values = []
  for rid in ids:
    gold = np.asarray(labels[rid], np.float64)
    pred = np.asarray(predictions[rid], np.float64)
    if gold.shape != pred.shape or gold.ndim != 2 or gold.shape[1] != len(names):
      raise ValueError(
        f"{rid}: labels {gold.shape} and predictions {pred.shape} must both be "
        f"[frames, {len(names)}]"
      )
    values = concordance_cc_numpy(gold, pred, axis=0)
    rec_values.append(values)
    per_rec[rid] = {
      "num_frames": int(gold.shape[0]),
      "ccc": dict(zip(names, map(float, values), strict=False)),
      "ccc_mean": float(np.mean(values)),
      "statistics": stats.recording_statistics({rid: gold}, {rid: pred})[0].tolist(),
    }
  gold_all = np.concatenate([np.asarray(labels[r], np.float64) for r in ids])
  pred_all = np.concatenate([np.asarray(predictions[r], np.float64) for r in ids])
  overall = concordance_cc_numpy(gold_all, pred_all, axis=0)
  rec_mean = np.mean(np.stack(rec_values), axis=0)
  return {
    "num_recordings": len(ids),
    "num_frames": int(gold_all.shape[0]),
    "ccc": dict(zip(names, map(float, overall), strict=False)),
    "ccc_mean": float(np.mean(overall)),
    "per_recording_ccc": dict(zip(names, map(float, rec_mean), strict=False)),
    "per_recording_ccc_mean": float(np.mean(rec_mean)),
    "recordings": per_rec,
  }


def add_bootstrap_ci(
  result: dict[str, Any],
  labels: Mapping[str, np.ndarray],
  predictions: Mapping[str, np.ndarray],
  resamples: int,
  seed: int,
  label_names: Sequence[str] = LABEL_NAMES,
) -> None:
  """Adds 'ccc_ci' {name: [lo, hi], 'mean': [lo, hi]} to a `ccc_summary` result: the 95 %
  percentile bootstrap interval over recordings (`stats.bootstrap_ccc_ci`) of the concatenated
  CCC of `predictions` ({recording_id: [frames, dims]}) against `labels`. No-op for
  resamples == 0."""
  if resamples <= 0:
    return
  per_rec = stats.recording_statistics(labels, predictions)
  result["ccc_ci"] = stats.bootstrap_ccc_ci(per_rec, resamples, seed, label_names=label_names)["ci"]


def bootstrap_record(resamples: int, seed: int) -> dict[str, Any]:
  """{'bootstrap': {'resamples', 'seed', 'confidence', 'unit': 'recording'}} for the summary;
  {} when resamples == 0."""
  if resamples <= 0:
    return {}
  return {
    "bootstrap": {
      "resamples": int(resamples),
      "seed": int(seed),
      "confidence": stats.DEFAULT_CONFIDENCE,
      "unit": "recording",
    }
  }


# ------------------------------------------------------------------------------------ prediction


def _check_data_matches_model(
  data_dir: str, model: models.EmotionRecognitionModel, embedding_matrix: np.ndarray | None
) -> None:
  meta = schema.read_metadata(data_dir)
  c = model.config
  path = meta.path
  for key, want in (("sample_rate", c.sample_rate), ("samples_per_frame", c.samples_per_frame)):
    if getattr(meta, key) != int(want):
      raise ValueError(f"{path}: {key} {getattr(meta, key)} differs from the model's {want}")
  if c.uses_semantic:
    dim = embedding_matrix.shape[1] if embedding_matrix is not None else meta.semantic_dim
    if int(dim) != c.semantic_dim:
      what = "the --embeddings space" if embedding_matrix is not None else path
      raise ValueError(
        f"{what}: semantic dimension {dim} differs from the model's semantic_dim {c.semantic_dim}"
      )


def predict_partition(
  model: keras.Model,
  data_dir: str,
  partition: str,
  batch_size: int = EvalConfig.batch_size,
  embedding_matrix: np.ndarray | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
  """Predictions of each recording of a TFRecord partition (`inference.predict_recordings`:
  chunks in order, LSTM state carried across chunks, reset between recordings).

  Args:
    model: an EmotionRecognitionModel (or an `inference` runner).
    data_dir: directory with the shards and metadata.json.
    partition: partition name as in the shard names (e.g. 'devel').
    batch_size: chunks per read batch.
    embedding_matrix: optional [vocab, d] replacing the stored semantic vectors via word_index.

  Returns:
    (predictions, labels): {recording_id: float32 [valid frames, 3]} each.
  """
  if isinstance(model, models.EmotionRecognitionModel):
    _check_data_matches_model(data_dir, model, embedding_matrix)
  interlocutor = bool(getattr(getattr(model, "config", None), "interlocutor_frames", False))
  recordings = inference.tfrecord_recordings(
    data_dir, partition, embedding_matrix, interlocutor, batch_size
  )
  return inference.predict_recordings(model, recordings)


def _decode_keys(d: Mapping[Any, np.ndarray]) -> dict[str, np.ndarray]:
  return {(k.decode("utf-8") if isinstance(k, bytes) else str(k)): v for k, v in d.items()}


def evaluate_partition(
  model: keras.Model,
  data_dir: str,
  partition: str,
  batch_size: int = EvalConfig.batch_size,
  embedding_matrix: np.ndarray | None = None,
  return_predictions: bool = False,
  predicted: tuple[dict[str, np.ndarray], dict[str, np.ndarray]] | None = None,
) -> dict[str, Any]:
  """CCC of `model` on one partition (see `ccc_summary` for the keys).

  Adds 'partition', 'unseen_words' (`unseen_words.evaluation_entry`: CCC on the frames whose
  word never occurs in the Train shards); with `return_predictions`, also 'predictions' and 'labels'
  ({recording_id: [frames, 3]} arrays, not JSON-serialisable). `predicted`: the partition's
  (predictions, labels) of `predict_partition` when already computed (not run again).
  """
  predictions, labels = predicted or predict_partition(
    model, data_dir, partition, batch_size, embedding_matrix
  )
  names = getattr(getattr(model, "config", None), "label_names", LABEL_NAMES)
  result = {"partition": partition}
  result.update(ccc_summary(labels, predictions, names))
  result.update(unseen_words.evaluation_entry(data_dir, partition, labels, predictions, names))
  logging.info(
    "%s: CCC %s (mean %.4f) over %d recordings / %d frames",
    partition,
    ", ".join(f"{k} {v:.4f}" for k, v in result["ccc"].items()),
    result["ccc_mean"],
    result["num_recordings"],
    result["num_frames"],
  )
  if return_predictions:
    result["predictions"] = predictions
    result["labels"] = labels
  return result


# ------------------------------------------------------------------------------------------ I/O

format_prediction_csv = prediction_csv.format_prediction_csv
write_prediction_csv = prediction_csv.write_prediction_csv


def _checked_data_dir(
  data_dir: str, partitions: Sequence[str], allow_incomplete: bool
) -> schema.Metadata:
  """metadata.json of `data_dir` once its shards pass `pipeline.check_complete` and
  `pipeline.validate_shards` (raises ValueError when no requested partition has shards)."""
  meta = schema.read_metadata(data_dir)
  present = []
  for partition in partitions:
    try:
      pipeline.shard_files(data_dir, partition)
      present.append(partition)
    except FileNotFoundError:
      pass
  if not present:
    raise ValueError(
      f"{data_dir}: no shards for partition(s) {', '.join(partitions)} "
      f"(pattern {schema.shard_pattern('<partition>')})"
    )
  pipeline.check_complete(data_dir, meta, present, allow_incomplete)
  for partition in present:
    pipeline.validate_shards(data_dir, partition, meta)
  return meta


def run_evaluation(
  model_dir: str,
  data_dir: str,
  partitions: Iterable[str],
  out_dir: str | None = None,
  which: str = "best",
  batch_size: int = EvalConfig.batch_size,
  embeddings: str | None = None,
  plots: bool = True,
  allow_incomplete: bool = False,
  postprocess: str = "",
  bootstrap_resamples: int = 1000,
  bootstrap_seed: int = 0,
) -> dict[str, Any]:
  """Evaluates `<model_dir>/<which>.keras` on `partitions` and writes the results.

  Writes `<out_dir>/evaluation.json` (the summary returned, without per-frame arrays),
  `<out_dir>/predictions/<partition>/<recording_id>.csv` and, with `plots`,
  `<out_dir>/plots/<partition>/<recording_id>.png` (gold vs prediction per dimension with the
  recording's CCC, `emotion_tf.training.plots`). `out_dir` defaults to
  `<model_dir>/evaluation_<which>`. `embeddings`: optional .vec file swapped in via word_index.
  A partition that fails (e.g. no shards) is reported under 'errors' and the others still run.
  `out_dir` is locked while it is written (`.lock-evaluate.run`, fileio.DirLock: a second
  live evaluation into it is refused naming the holder); temps of killed runs are removed.

  `postprocess` ('' = none, 'devel', or a postprocess.json path; see EvalConfig): the CCC
  figures, CSVs and plots are those of the post-processed predictions, each partition's raw
  CCC is kept under 'ccc_raw' / 'ccc_mean_raw', and the settings under 'postprocess'.
  `bootstrap_resamples` > 0: 'ccc_ci' per partition (`add_bootstrap_ci`) and 'bootstrap'.

  Before any partition runs, the shards of every requested partition are read once and their
  first records checked against metadata.json (`pipeline.validate_shards`), and a directory
  marked `"complete": false` is refused unless `allow_incomplete`.

  Raises:
    ModelDirError / ValueError (pipeline.DataDirError for a corrupt, mismatched or incomplete
    TFRecord directory; ValueError when no requested partition has shards) before anything is
    written, for a bad model dir, metadata, shard or embedding file; RuntimeError after
    writing the summary when every partition failed.
  """
  partitions = [p.strip().lower() for p in partitions if p.strip()]
  if not partitions:
    raise ValueError("no partitions given")
  out_dir = out_dir or model_dir_lib.evaluation_dir(model_dir, which)
  model = model_dir_lib.load_trained_model(model_dir, which)
  meta = _checked_data_dir(data_dir, partitions, allow_incomplete)
  hop = meta.hop_seconds
  matrix = _embedding_matrix(data_dir, embeddings, model) if embeddings else None
  summary: dict[str, Any] = {
    "model_dir": os.path.abspath(model_dir),
    "model_file": model_dir_lib.trained_model_path(model_dir, which),
    "data_dir": os.path.abspath(data_dir),
    "embeddings": os.path.abspath(embeddings) if embeddings else None,
    "variant": model.config.variant,
    "partitions": {},
    "errors": {},
  }
  summary.update(bootstrap_record(bootstrap_resamples, bootstrap_seed))
  try:
    lock = fileio.DirLock(out_dir, "run", "evaluate", prefix=".lock-evaluate.").acquire()
  except fileio.LockError as e:
    raise ValueError(f"{e} (another `emotion_tf.evaluate` is writing this --out)") from e
  try:
    return _evaluate_into(
      out_dir,
      summary,
      model,
      data_dir,
      partitions,
      batch_size,
      matrix,
      hop,
      plots,
      postprocess,
      (bootstrap_resamples, bootstrap_seed),
    )
  finally:
    lock.release()


def _evaluate_into(
  out_dir: str,
  summary: dict[str, Any],
  model: keras.Model,
  data_dir: str,
  partitions: Sequence[str],
  batch_size: int,
  matrix: np.ndarray | None,
  hop: float,
  plots: bool,
  postprocess: str,
  bootstrap: tuple[int, int],
) -> dict[str, Any]:
  """The writing part of `run_evaluation` (its `out_dir` lock held): predictions, plots,
  post-processing and the summary. `bootstrap`: (resamples, seed) of the CIs."""
  bootstrap_resamples, bootstrap_seed = bootstrap
  fileio.remove_stale_temps(out_dir)
  names = getattr(model.config, "label_names", LABEL_NAMES)
  post, predicted = None, {}
  if postprocess:
    post, predicted = _postprocessing(
      postprocess, model, data_dir, batch_size, matrix, out_dir, hop
    )
    summary["postprocess"] = dict(post.to_json(), source=postprocess)
  for partition in partitions:
    try:
      result = evaluate_partition(
        model,
        data_dir,
        partition,
        batch_size,
        matrix,
        return_predictions=True,
        predicted=predicted.get(partition),
      )
    except (ValueError, OSError, tf.errors.OpError) as e:
      logging.error("%s: partition %s failed: %s", data_dir, partition, e)
      summary["errors"][partition] = str(e)
      continue
    if post is not None:
      _apply_postprocessing(result, post, names)
    predictions = result.pop("predictions")
    labels = result.pop("labels")
    add_bootstrap_ci(result, labels, predictions, bootstrap_resamples, bootstrap_seed, names)
    pred_dir = os.path.join(out_dir, "predictions", partition)
    for rid, pred in predictions.items():
      write_prediction_csv(os.path.join(pred_dir, rid + ".csv"), rid, pred, hop)
    result["predictions_dir"] = pred_dir
    if plots:
      plot_dir = os.path.join(out_dir, "plots", partition)
      plotting.write_recording_pngs(plot_dir, labels, predictions, names, hop, partition)
      result["plots_dir"] = plot_dir
    summary["partitions"][partition] = result
  fileio.write_json(os.path.join(out_dir, SUMMARY_FILENAME), summary)
  if not summary["partitions"]:
    raise RuntimeError(f"every partition failed: {summary['errors']}")
  return summary


def _embedding_matrix(data_dir: str, embeddings: str, model: keras.Model) -> np.ndarray:
  """[vocab, d] of `embeddings` via the shards' vocabulary; d must be the model's."""
  matrix = schema.load_embedding_matrix(data_dir, embeddings)
  if matrix.shape[1] != model.config.semantic_dim:
    raise ValueError(
      f"{embeddings}: vectors have dimension {matrix.shape[1]}, the model "
      f"expects semantic_dim {model.config.semantic_dim}"
    )
  return matrix


def _apply_postprocessing(
  result: dict[str, Any], post: postprocess_lib.PostProcessing, names: Sequence[str]
) -> None:
  """Replaces the figures and 'predictions' of an `evaluate_partition` result (with
  predictions) by those of the post-processed predictions; the raw CCC goes to 'ccc_raw' /
  'ccc_mean_raw'."""
  raw = {"ccc_raw": result["ccc"], "ccc_mean_raw": result["ccc_mean"]}
  result["predictions"] = post.apply_all(result["predictions"])
  result.update(ccc_summary(result["labels"], result["predictions"], names), **raw)
  logging.info(
    "%s post-processed: CCC %s (mean %.4f)",
    result["partition"],
    ", ".join(f"{k} {v:.4f}" for k, v in result["ccc"].items()),
    result["ccc_mean"],
  )


def _postprocessing(
  postprocess: str,
  model: keras.Model,
  data_dir: str,
  batch_size: int,
  matrix: np.ndarray | None,
  out_dir: str,
  hop: float,
) -> tuple[postprocess_lib.PostProcessing, dict[str, Any]]:
  """The PostProcessing of `postprocess`: fitted on Devel ('devel', written to
  <out_dir>/postprocess.json) or read from a file (checked against the model's labels/hop),
  and {'devel': (predictions, labels)} when Devel was predicted for it (else {})."""
  names = tuple(getattr(model.config, "label_names", LABEL_NAMES))
  if postprocess.strip().lower() == "devel":
    predictions, labels = predict_partition(model, data_dir, "devel", batch_size, matrix)
    post, report = postprocess_lib.fit_postprocessing(predictions, labels, names, hop)
    postprocess_lib.write(os.path.join(out_dir, postprocess_lib.FILENAME), post, report)
    return post, {"devel": (predictions, labels)}
  return postprocess_lib.read_for(postprocess, names, hop), {}


def format_table(summary: Mapping[str, Any], label_names: Sequence[str] = LABEL_NAMES) -> str:
  """A plain-text CCC table (rows = partitions; columns = dimensions + mean); with a bootstrap
  interval ('ccc_ci') each cell reads `CCC [lo, hi]` (3 decimals), else `CCC` (4 decimals)."""
  parts = summary.get("partitions", {})
  with_ci = any("ccc_ci" in r for r in parts.values())
  width = 24 if with_ci else 10
  keys = list(label_names) + ["mean"]
  header = f"{'partition':<10}" + "".join(f"{n:>{width}}" for n in keys)
  lines = [header]
  for partition, r in parts.items():
    values = [r["ccc"][n] for n in label_names] + [r["ccc_mean"]]
    if "ccc_ci" in r:
      cells = [stats.format_ci(v, r["ccc_ci"][k]) for v, k in zip(values, keys, strict=False)]
    else:
      cells = [f"{v:.4f}" for v in values]
    lines.append(f"{partition:<10}" + "".join(f"{c:>{width}}" for c in cells))
  if "bootstrap" in summary:
    b = summary["bootstrap"]
    lines.append(
      f"[lo, hi]: {b['confidence']:.0%} bootstrap interval over recordings "
      f"({b['resamples']} resamples, seed {b['seed']})"
    )
  return "\n".join(lines)
