"""Ablations of the paper's Tables 2 and 3 (library of `python -m emotion_tf.ablate --run_dir DIR`).

Trains one model per row on the same TFRecords and reports CCC on the Devel
partition in the paper's columns (Arousal, Valence, Liking, Avg):

  Table 2 (vector spaces, single views)     Table 3 (fusion strategies)
    Word2Vec            semantic + word2vec     Concatenation           concat + aligned
    Speech2Vec          semantic + speech2vec   Disentangled attention  attention + aligned
    Align Speech2Vec    semantic + aligned
    Paralinguistic      paralinguistic

The semantic space is swapped through the shards' `word_index` (one TFRecord set
serves every space). With `--run_dir` (what `make demo` printed) the paths are
found there; each can be given explicitly too. When the corpus is known (`--corpus`,
default <run_dir>/corpus) the AVEC 2017 baseline (eGeMAPS + ridge, emotion_tf.baseline)
is a "Table 4" row, tuned on Devel and reported on the same partition. Finished rows
are skipped on a rerun; results go to `<out>/ablation.json` and `<out>/ablation.md`, and
TensorBoard HParams (variant, space, epochs, lr, seed -> CCC per dimension) to
`<out>/hparams`.
"""

import json
import os
from typing import Any, Dict, List, Optional, Sequence

from absl import logging

from emotion_tf import LABEL_NAMES
from emotion_tf import baseline_lib
from emotion_tf import evaluate_lib
from emotion_tf import fileio
from emotion_tf import model_dir as model_dir_lib
from emotion_tf import train_lib
from emotion_tf.data import schema
from emotion_tf.models import ModelConfig

ROWS = (
    # (table, row name, variant, space)
    ("Table 2", "Word2Vec", "semantic", "word2vec"),
    ("Table 2", "Speech2Vec", "semantic", "speech2vec"),
    ("Table 2", "Align Speech2Vec", "semantic", "aligned"),
    ("Table 2", "Paralinguistic", "paralinguistic", None),
    ("Table 3", "Concatenation", "concat", "aligned"),
    ("Table 3", "Disentangled attention", "disentangled_attention", "aligned"),
)


BASELINE_ROW = baseline_lib.ROW_NAME


def row_key(name: str) -> str:
  return name.lower().replace(" ", "_")


def format_tables(results: Sequence[Dict[str, Any]], partition: str = "devel") -> str:
  """The paper's Table 2 / Table 3 layout, CCC with 3 decimals."""
  lines: List[str] = []
  titles = {"Table 2": "Model", "Table 3": "Fusion strategy", "Table 4": "Method"}
  for table, title in titles.items():
    rows = [r for r in results if r["table"] == table]
    if not rows:
      continue
    lines.append(f"{table} ({partition} CCC)")
    lines.append(f"{title:<28}{'Arousal':>9}{'Valence':>9}{'Liking':>9}{'Avg':>9}")
    for r in rows:
      c = r["ccc"]
      values = [c[n] for n in LABEL_NAMES] + [r["ccc_mean"]]
      lines.append(f"{r['name']:<28}" + "".join(f"{v:>9.3f}" for v in values))
    lines.append("")
  return "\n".join(lines).rstrip() + "\n"


def check_expectations(results: Sequence[Dict[str, Any]]) -> List[str]:
  """What the synthetic corpus is built to show (see data_prep/synthesize.py); returns
  the statements that hold / fail, each prefixed with OK or DIFFERS."""
  by = {r["name"]: r for r in results}
  out = []
  singles = [n for n in ("Word2Vec", "Speech2Vec", "Align Speech2Vec", "Paralinguistic")
             if n in by]
  if "Paralinguistic" in by and len(singles) > 1:
    best = max(singles, key=lambda n: by[n]["ccc"]["arousal"])
    out.append(f"{'OK' if best == 'Paralinguistic' else 'DIFFERS'}: best single view on "
               f"arousal is {best}")
  semantic = [n for n in singles if n != "Paralinguistic"]
  if "Paralinguistic" in by and semantic:
    best_sem = max(semantic, key=lambda n: by[n]["ccc"]["valence"])
    margin = by[best_sem]["ccc"]["valence"] - by["Paralinguistic"]["ccc"]["valence"]
    out.append(f"{'OK' if margin > 0.05 else 'DIFFERS'}: semantic ({best_sem}) leads on "
               f"valence by {margin:+.3f} over paralinguistic")
  if {"Concatenation", "Disentangled attention"} <= set(by) and singles:
    best_single = max(by[n]["ccc_mean"] for n in singles)
    da, cc = by["Disentangled attention"]["ccc_mean"], by["Concatenation"]["ccc_mean"]
    out.append(f"{'OK' if da >= cc else 'DIFFERS'}: disentangled attention {da:.3f} "
               f">= concatenation {cc:.3f}")
    out.append(f"{'OK' if cc >= best_single else 'DIFFERS'}: concatenation {cc:.3f} >= best "
               f"single view {best_single:.3f}")
  return out


HPARAMS_DIR = "hparams"


def write_hparams(log_dir: str, row: Dict[str, Any], *, epochs: int, learning_rate: float,
                  seed: int, partition: str = "Devel") -> None:
  """TensorBoard HParams of one ablation row: `<log_dir>/<row key>/` holds the trial's
  hparams (variant, semantic_space, epochs, learning_rate, seed) and its metrics
  `<partition>_ccc/<dimension>` and `<partition>_ccc/mean`; `<log_dir>` holds the experiment
  config (written once). View with `tensorboard --logdir <log_dir>` (HPARAMS tab)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tensorboard.plugins.hparams import api as hp  # pylint: disable=g-import-not-at-top
  p = partition.lower()
  metrics = [f"{p}_ccc/{n}" for n in LABEL_NAMES] + [f"{p}_ccc/mean"]
  if not (os.path.isdir(log_dir) and any(n.startswith("events.") for n in os.listdir(log_dir))):
    with tf.summary.create_file_writer(log_dir).as_default():
      hp.hparams_config(
          hparams=[hp.HParam("variant", hp.Discrete(sorted({r[2] for r in ROWS}))),
                   hp.HParam("semantic_space",
                             hp.Discrete(sorted({r[3] or "none" for r in ROWS}))),
                   hp.HParam("epochs", hp.IntInterval(1, 1 << 30)),
                   hp.HParam("learning_rate", hp.RealInterval(0.0, 1.0)),
                   hp.HParam("seed", hp.IntInterval(-(1 << 31), 1 << 31))],
          metrics=[hp.Metric(m, display_name=m) for m in metrics])
  writer = tf.summary.create_file_writer(os.path.join(log_dir, row_key(row["name"])))
  with writer.as_default():
    hp.hparams({"variant": row["variant"], "semantic_space": row["space"] or "none",
                "epochs": int(epochs), "learning_rate": float(learning_rate),
                "seed": int(seed)}, trial_id=row_key(row["name"]))
    for name, value in zip(metrics, [row["ccc"][n] for n in LABEL_NAMES] + [row["ccc_mean"]]):
      tf.summary.scalar(name, value, step=0)
  writer.flush()


def _check_rows(rows: Optional[Sequence[str]]) -> None:
  """Raises TrainingSetupError naming unknown `--rows`."""
  known = ({row_key(name) for _, name, _, _ in ROWS} | {name for _, name, _, _ in ROWS}
           | {BASELINE_ROW, "baseline"})
  unknown = [r for r in rows or () if r not in known]
  if unknown:
    raise train_lib.TrainingSetupError(
        f"--rows: unknown row(s) {', '.join(unknown)}; choose from "
        f"{', '.join(row_key(name) for _, name, _, _ in ROWS)}, baseline")


def run_ablation(data_dir: str, spaces: Dict[str, str], out_dir: str, *, epochs: int,
                 learning_rate: float, batch_size: int = train_lib.TrainConfig.batch_size,
                 seed: int = train_lib.TrainConfig.seed,
                 rows: Optional[Sequence[str]] = None, partition: str = "Devel",
                 model_overrides: Optional[Dict[str, Any]] = None,
                 corpus_dir: Optional[str] = None,
                 allow_incomplete: bool = False) -> List[Dict[str, Any]]:
  """Trains and evaluates the ablation rows; returns one result dict per row.

  Args:
    data_dir: TFRecords (any stored space; rows swap it via word_index).
    spaces: {'word2vec' | 'speech2vec' | 'aligned': path of a .vec}.
    out_dir: one model directory per row beneath it, plus ablation.json/.md.
    rows: row names to run (default all whose space is available).
    model_overrides: extra ModelConfig fields (e.g. smaller LSTM for tests).
    corpus_dir: the SEWA-layout corpus; when given, adds the eGeMAPS baseline row
      (emotion_tf.baseline_lib, outputs in <out_dir>/baseline).
    allow_incomplete: train on a TFRecord directory marked `"complete": false`.

  Raises:
    train_lib.TrainingSetupError: for bad data, embeddings or output paths (before the first
      row trains, when the data directory itself is bad) or unknown --rows.
  """
  _check_rows(rows)
  if not rows or any(r not in (BASELINE_ROW, "baseline") for r in rows):
    train_lib.semantic_dim_of(data_dir)   # a missing/bad data_dir fails here, naming the file
  results = []
  for table, name, variant, space in ROWS:
    if rows and name not in rows and row_key(name) not in rows:
      continue
    if space is not None and not spaces.get(space):
      logging.warning("ablation row %r skipped: no %s embeddings given", name, space)
      continue
    model_dir = os.path.join(out_dir, row_key(name))
    result_path = os.path.join(model_dir, "ablation_row.json")
    hparams_args = dict(epochs=epochs, learning_rate=learning_rate, seed=seed,
                        partition=partition)
    hparams_dir = os.path.join(out_dir, HPARAMS_DIR)
    if os.path.exists(result_path):
      with open(result_path, encoding="utf-8") as f:
        results.append(json.load(f))
      logging.info("ablation row %r: done earlier, reusing %s", name, result_path)
      if not os.path.isdir(os.path.join(hparams_dir, row_key(name))):
        write_hparams(hparams_dir, results[-1], **hparams_args)
      continue
    embeddings = spaces.get(space, "") if space else ""
    dim = train_lib.semantic_dim_of(data_dir, embeddings)
    model_config = ModelConfig(variant=variant, semantic_dim=dim, **(model_overrides or {}))
    config = train_lib.TrainConfig(data_dir=data_dir, model_dir=model_dir, embeddings=embeddings,
                                  epochs=epochs, learning_rate=learning_rate,
                                  batch_size=batch_size, seed=seed, eval_partition=partition,
                                  allow_incomplete=allow_incomplete)
    logging.info("ablation row %r: training %s on %s", name, variant, embeddings or "audio")
    trained = train_lib.train(config, model_config)
    model = model_dir_lib.load_trained_model(model_dir, "best")
    matrix = schema.load_embedding_matrix(data_dir, embeddings) if embeddings else None
    summary = evaluate_lib.evaluate_partition(model, data_dir, partition, batch_size=batch_size,
                                            embedding_matrix=matrix)
    row = {"table": table, "name": name, "variant": variant, "space": space,
           "embeddings": embeddings, "ccc": summary["ccc"], "ccc_mean": summary["ccc_mean"],
           "per_recording_ccc_mean": summary.get("per_recording_ccc_mean"),
           "epochs": trained["epochs_completed"], "steps": trained["global_step"]}
    fileio.write_json(result_path, row)
    write_hparams(hparams_dir, row, **hparams_args)
    results.append(row)
  if corpus_dir and (not rows or BASELINE_ROW in rows or "baseline" in rows):
    try:
      results.append(_baseline_row(corpus_dir, os.path.join(out_dir, "baseline"), partition))
    except (ValueError, OSError) as e:  # a bad corpus costs the baseline row, not the tables
      logging.error("baseline row skipped: %s", e)
  table_text = format_tables(results, partition.lower())
  notes = check_expectations(results)
  fileio.write_json(os.path.join(out_dir, "ablation.json"),
                        {"rows": results, "expectations": notes, "partition": partition})
  fileio.atomic_write_text(os.path.join(out_dir, "ablation.md"),
                           "```\n" + table_text + "\n" + "\n".join(notes) + "\n```\n")
  return results


def _baseline_row(corpus_dir: str, out_dir: str, partition: str) -> Dict[str, Any]:
  """The Table 4 baseline row (reused from <out_dir>/ablation_row.json on a rerun)."""
  result_path = os.path.join(out_dir, "ablation_row.json")
  if os.path.exists(result_path):
    with open(result_path, encoding="utf-8") as f:
      return json.load(f)
  summary = baseline_lib.run_baseline(corpus_dir, out_dir, [partition])
  r = summary["partitions"][partition.lower()]
  row = {"table": "Table 4", "name": BASELINE_ROW, "variant": baseline_lib.VARIANT,
         "space": None, "embeddings": "", "ccc": r["ccc"], "ccc_mean": r["ccc_mean"],
         "per_recording_ccc_mean": r.get("per_recording_ccc_mean"),
         "settings": summary["baseline"]["settings"]}
  fileio.write_json(result_path, row)
  return row

