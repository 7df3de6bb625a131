"""Scores an exported SavedModel from audio files on a labelled corpus: what users are served.

`python -m emotion_tf.evaluate --export EXPORT --corpus CORPUS --out DIR` runs the export on
each recording's wav exactly as `python -m emotion_tf.predict --model EXPORT --audio X.wav`
does (the one stateful inference path, `emotion_tf.serving.inference`): from the wav alone when
the export carries a speech frontend (the paper's setting: text used in training, discarded at
evaluation), or with `--word_timings DIR --embeddings FILE` the transcript path. Labels come
from `<corpus>/labels/<id>.csv`; a recording whose prediction and labels differ in length is
scored on their common frames. Writes `<out>/evaluation.json` (the layout of the TFRecord
evaluation: per partition 'ccc', 'ccc_mean', 'ccc_ci', per-recording statistics) and
`<out>/predictions/<partition>/<id>.csv`, atomically.
"""

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from absl import logging

from emotion_tf.data import corpus
from emotion_tf.data import word_timings as wt
from emotion_tf.serving import postprocess as postprocess_lib
from emotion_tf.serving import predict_api, prediction_csv
from emotion_tf.training import evaluate_lib
from emotion_tf.util import fileio

EVALUATION_FILE = "evaluation.json"


def _recording_predictions(
  predictor: predict_api.Predictor,
  rec: corpus.Recording,
  word_timings_dir: str,
  embeddings: str,
) -> tuple[np.ndarray, np.ndarray]:
  """(labels [n, 3], predictions [n, 3]) of one recording on their common frames."""
  _, labels = corpus.read_labels(rec.labels_path)
  timings = None
  if word_timings_dir:
    timings = wt.find_timings_file(word_timings_dir, rec.recording_id)
    if timings is None:
      raise FileNotFoundError(
        f"{word_timings_dir}: no word timings for {rec.recording_id} (.csv or .TextGrid)"
      )
  predictions = predictor.predict_file_array(rec.audio_path, timings, embeddings or None)
  n = min(len(labels), len(predictions))
  if abs(len(labels) - len(predictions)) > 1:
    logging.warning(
      "%s: %d label frames, %d predicted; scored on the first %d",
      rec.recording_id,
      len(labels),
      len(predictions),
      n,
    )
  return labels[:n].astype(np.float32), predictions[:n]


def evaluate_export(
  export_dir: str,
  corpus_dir: str,
  partitions: Sequence[str],
  out_dir: str,
  word_timings_dir: str = "",
  embeddings: str = "",
  postprocess: str = "",
  bootstrap_resamples: int = 0,
  bootstrap_seed: int = 0,
) -> dict[str, Any]:
  """Scores `export_dir` on the wavs of `partitions` of `corpus_dir` (see the module docstring).

  `postprocess`: a postprocess.json (e.g. of `evaluate --postprocess devel` on the model
  directory) applied to every recording; the raw CCC stays in 'ccc_raw'.

  Returns:
    the summary written to `<out_dir>/evaluation.json`: 'export', 'corpus', 'mode'
    ('wav_only' or 'transcript'), 'partitions' {partition: ccc_summary (+ 'ccc_ci')},
    'errors' {partition: message}, 'bootstrap' (when resampling).

  Raises:
    ValueError: no recording in the requested partitions, or a bad post-processing file.
  """
  predictor = predict_api.load(export_dir)
  post = None
  if postprocess:
    post = postprocess_lib.read_for(postprocess, predictor.label_names, predictor.hop_seconds)
  wanted = [p.strip().lower() for p in partitions if p.strip()]
  recordings = corpus.list_recordings(corpus_dir, wanted)
  if not recordings:
    raise ValueError(f"{corpus_dir}: no recordings in partitions {', '.join(wanted)}")
  summary: dict[str, Any] = {
    "export": os.path.abspath(export_dir),
    "corpus": os.path.abspath(corpus_dir),
    "mode": "transcript" if word_timings_dir else "wav_only",
    "word_timings": os.path.abspath(word_timings_dir) if word_timings_dir else "",
    "embeddings": os.path.abspath(embeddings) if embeddings else "",
    "postprocess": os.path.abspath(postprocess) if postprocess else "",
    "partitions": {},
    "errors": {},
    **evaluate_lib.bootstrap_record(bootstrap_resamples, bootstrap_seed),
  }
  for partition in wanted:
    recs = [r for r in recordings if r.partition == partition]
    if not recs:
      summary["errors"][partition] = f"no recordings of partition {partition} in {corpus_dir}"
      continue
    labels, predictions = {}, {}
    for rec in recs:
      labels[rec.recording_id], predictions[rec.recording_id] = _recording_predictions(
        predictor, rec, word_timings_dir, embeddings
      )
    raw = evaluate_lib.ccc_summary(labels, predictions, predictor.label_names)
    if post is not None:
      predictions = post.apply_all(predictions)
    result = evaluate_lib.ccc_summary(labels, predictions, predictor.label_names)
    if post is not None:
      result["ccc_raw"], result["ccc_raw_mean"] = raw["ccc"], raw["ccc_mean"]
    evaluate_lib.add_bootstrap_ci(
      result, labels, predictions, bootstrap_resamples, bootstrap_seed, predictor.label_names
    )
    for rid, y in predictions.items():
      prediction_csv.write_prediction_csv(
        os.path.join(out_dir, "predictions", partition, rid + ".csv"),
        rid,
        y,
        predictor.hop_seconds,
      )
    summary["partitions"][partition] = result
  fileio.write_json(os.path.join(out_dir, EVALUATION_FILE), summary)
  return summary


def run_config(config: evaluate_lib.EvalConfig) -> dict[str, Any]:
  """`evaluate_export` of an EvalConfig whose `export` is set (`python -m emotion_tf.evaluate
  --export`)."""
  return evaluate_export(
    config.export,
    config.corpus,
    config.partitions,
    config.out,
    word_timings_dir=config.word_timings,
    embeddings=config.embeddings,
    postprocess=config.postprocess,
    bootstrap_resamples=config.bootstrap_resamples,
    bootstrap_seed=config.bootstrap_seed,
  )
