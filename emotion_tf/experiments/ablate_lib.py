"""Ablations of the paper's Tables 2 and 3 (library of `python -m emotion_tf.ablate --run_dir DIR`).

Trains one model per row on the same TFRecords and reports CCC on the Devel
partition in the paper's columns (Arousal, Valence, Liking, Avg):

  Table 2 (vector spaces, single views)     Table 3 (fusion strategies)
    Word2Vec            semantic + word2vec     Concatenation           concat + aligned
    Speech2Vec          semantic + speech2vec   Disentangled attention  attention + aligned
    Align Speech2Vec    semantic + aligned
    Paralinguistic      paralinguistic

  Controls (meaning vs identity; emotion_tf/semantic/controls.py), disentangled attention with
    Random vector per word   a seeded random unit vector per vocabulary word (identity only)
    Word2Vec lookup          the text vector of each word (the text upper bound)
  beside the Table 3 row "Disentangled attention" (aligned Speech2Vec). Every row also gets
  the unseen-word valence (emotion_tf/training/unseen_words.py): valence CCC on the frames whose
  word
  never occurs in the labelled Train partition, printed in a table of its own.

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
from collections.abc import Sequence
from typing import Any

import numpy as np
from absl import logging

from emotion_tf import LABEL_NAMES
from emotion_tf.data import schema
from emotion_tf.experiments import baseline_lib
from emotion_tf.model import model_dir as model_dir_lib
from emotion_tf.model.models import ModelConfig
from emotion_tf.semantic import controls
from emotion_tf.training import evaluate_lib, stats, train_lib, unseen_words
from emotion_tf.util import fileio

ROWS = (
  # (table, row name, variant, space)
  ("Table 2", "Word2Vec", "semantic", "word2vec"),
  ("Table 2", "Speech2Vec", "semantic", "speech2vec"),
  ("Table 2", "Align Speech2Vec", "semantic", "aligned"),
  ("Table 2", "Paralinguistic", "paralinguistic", None),
  ("Table 3", "Concatenation", "concat", "aligned"),
  ("Table 3", "Disentangled attention", "disentangled_attention", "aligned"),
  ("Controls", "Random vector per word", "disentangled_attention", "random"),
  ("Controls", "Word2Vec lookup", "disentangled_attention", "word2vec"),
)


BASELINE_ROW = baseline_lib.ROW_NAME
DEFAULT_SEEDS = 3

# "model A vs B" rows of the paired bootstrap (A - B), when both rows ran.
COMPARISONS = (
  ("Disentangled attention", "Concatenation"),
  ("Concatenation", "Paralinguistic"),
  ("Align Speech2Vec", "Speech2Vec"),
  ("Align Speech2Vec", "Paralinguistic"),
  ("Disentangled attention", BASELINE_ROW),
  ("Disentangled attention", "Random vector per word"),
  ("Word2Vec lookup", "Disentangled attention"),
)
CONTROLS_DIR = "controls"  # <out>/controls/random_vectors.vec


def row_key(name: str) -> str:
  return name.lower().replace(" ", "_")


def format_tables(results: Sequence[dict[str, Any]], partition: str = "devel") -> str:
  """The paper's Table 2 / Table 3 layout, CCC with 3 decimals; rows trained with several
  seeds read `mean±sd` over seeds."""
  lines: list[str] = []
  titles = {
    "Table 2": "Model",
    "Table 3": "Fusion strategy",
    "Table 4": "Method",
    "Controls": "Disentangled attn. with",
  }
  for table, title in titles.items():
    rows = [r for r in results if r["table"] == table]
    if not rows:
      continue
    lines.append(f"{table} ({partition} CCC)")
    w = 14 if any(len(r.get("seeds", ())) > 1 for r in rows) else 9
    lines.append(
      f"{title:<28}" + "".join(f"{h:>{w}}" for h in ("Arousal", "Valence", "Liking", "Avg"))
    )
    for r in rows:
      values = [r["ccc"][n] for n in LABEL_NAMES] + [r["ccc_mean"]]
      if len(r.get("seeds", ())) > 1:
        sds = [r["ccc_sd"][n] for n in LABEL_NAMES] + [r["ccc_mean_sd"]]
        cells = [f"{v:.3f}±{d:.3f}" for v, d in zip(values, sds, strict=False)]
      else:
        cells = [f"{v:.3f}" for v in values]
      lines.append(f"{r['name']:<28}" + "".join(f"{x:>{w}}" for x in cells))
    lines.append("")
  return "\n".join(lines).rstrip() + "\n" + format_unseen(results, partition)


def format_unseen(results: Sequence[dict[str, Any]], partition: str = "devel") -> str:
  """Unseen-word valence of every row (`unseen_words`): valence CCC on the frames whose word
  never occurs in labelled Train, beside the row's valence on all frames; `mean±sd` over seeds;
  n/a where a row has none (the eGeMAPS baseline, rows evaluated before it existed)."""
  if not results:
    return ""
  lines = [
    "",
    f"Unseen-word valence ({partition} frames whose word never occurs in Train)",
    f"{'Row':<36}{'Valence':>14}{'Unseen val.':>14}{'frames':>8}{'types':>7}",
  ]
  for r in results:
    u = r.get("unseen_valence")
    cell = (
      "n/a"
      if u is None
      else (
        f"{u:.3f}±{r.get('unseen_valence_sd') or 0.0:.3f}"
        if len(r.get("seeds", ())) > 1
        else f"{u:.3f}"
      )
    )
    lines.append(
      f"{r['name']:<36}{r['ccc']['valence']:>14.3f}{cell:>14}"
      f"{r.get('unseen_frames', '-')!s:>8}{r.get('unseen_types', '-')!s:>7}"
    )
  return "\n".join(lines) + "\n"


def check_expectations(results: Sequence[dict[str, Any]]) -> list[str]:
  """What the synthetic corpus is built to show (see data_prep/synthesize.py); returns
  the statements that hold / fail, each prefixed with OK or DIFFERS."""
  by = {r["name"]: r for r in results}
  out = []
  singles = [n for n in ("Word2Vec", "Speech2Vec", "Align Speech2Vec", "Paralinguistic") if n in by]
  if "Paralinguistic" in by and len(singles) > 1:
    best = max(singles, key=lambda n: by[n]["ccc"]["arousal"])
    out.append(
      f"{'OK' if best == 'Paralinguistic' else 'DIFFERS'}: best single view on arousal is {best}"
    )
  semantic = [n for n in singles if n != "Paralinguistic"]
  if "Paralinguistic" in by and semantic:
    best_sem = max(semantic, key=lambda n: by[n]["ccc"]["valence"])
    margin = by[best_sem]["ccc"]["valence"] - by["Paralinguistic"]["ccc"]["valence"]
    out.append(
      f"{'OK' if margin > 0.05 else 'DIFFERS'}: semantic ({best_sem}) leads on "
      f"valence by {margin:+.3f} over paralinguistic"
    )
  if {"Concatenation", "Disentangled attention"} <= set(by) and singles:
    best_single = max(by[n]["ccc_mean"] for n in singles)
    da, cc = by["Disentangled attention"]["ccc_mean"], by["Concatenation"]["ccc_mean"]
    out.append(
      f"{'OK' if da >= cc else 'DIFFERS'}: disentangled attention {da:.3f} "
      f">= concatenation {cc:.3f}"
    )
    out.append(
      f"{'OK' if cc >= best_single else 'DIFFERS'}: concatenation {cc:.3f} >= best "
      f"single view {best_single:.3f}"
    )
  return out + control_notes(results)


def control_notes(results: Sequence[dict[str, Any]]) -> list[str]:
  """Meaning vs identity: aligned Speech2Vec (row "Disentangled attention") against the random
  vector per word (should be clearly above it, on unseen words above all) and the Word2Vec
  lookup (the upper bound), on valence and unseen-word valence."""
  by = {r["name"]: r for r in results}
  aligned = by.get("Disentangled attention")
  out = []
  for name, want in (("Random vector per word", "above"), ("Word2Vec lookup", "of")):
    other = by.get(name)
    if aligned is None or other is None:
      continue
    for label, key in (("valence", None), ("unseen-word valence", "unseen_valence")):
      a = aligned["ccc"]["valence"] if key is None else aligned.get(key)
      b = other["ccc"]["valence"] if key is None else other.get(key)
      if a is None or b is None:
        continue
      if want == "above":
        ok = a >= b + 0.2
        out.append(
          f"{'OK' if ok else 'DIFFERS'}: aligned Speech2Vec {label} {a:.3f} >= random "
          f"vector per word {b:.3f} + 0.2 (meaning, not identity)"
        )
      else:
        ratio = a / b if b > 0 else float("nan")
        out.append(
          f"{'OK' if ratio >= 0.8 else 'DIFFERS'}: aligned Speech2Vec {label} {a:.3f} "
          f"is {ratio:.2f} of the Word2Vec lookup's {b:.3f} (>= 0.8)"
        )
  return out


HPARAMS_DIR = "hparams"


def write_hparams(
  log_dir: str,
  row: dict[str, Any],
  *,
  epochs: int,
  learning_rate: float,
  seed: int,
  partition: str = "Devel",
) -> None:
  """TensorBoard HParams of one ablation row: `<log_dir>/<row key>/` holds the trial's
  hparams (variant, semantic_space, epochs, learning_rate, seed) and its metrics
  `<partition>_ccc/<dimension>` and `<partition>_ccc/mean`; `<log_dir>` holds the experiment
  config (written once). View with `tensorboard --logdir <log_dir>` (HPARAMS tab)."""
  import tensorflow as tf
  from tensorboard.plugins.hparams import api as hp

  p = partition.lower()
  metrics = [f"{p}_ccc/{n}" for n in LABEL_NAMES] + [f"{p}_ccc/mean"]
  if not (os.path.isdir(log_dir) and any(n.startswith("events.") for n in os.listdir(log_dir))):
    with tf.summary.create_file_writer(log_dir).as_default():
      hp.hparams_config(
        hparams=[
          hp.HParam("variant", hp.Discrete(sorted({r[2] for r in ROWS}))),
          hp.HParam("semantic_space", hp.Discrete(sorted({r[3] or "none" for r in ROWS}))),
          hp.HParam("epochs", hp.IntInterval(1, 1 << 30)),
          hp.HParam("learning_rate", hp.RealInterval(0.0, 1.0)),
          hp.HParam("seed", hp.IntInterval(-(1 << 31), 1 << 31)),
        ],
        metrics=[hp.Metric(m, display_name=m) for m in metrics],
      )
  writer = tf.summary.create_file_writer(os.path.join(log_dir, row_key(row["name"])))
  with writer.as_default():
    hp.hparams(
      {
        "variant": row["variant"],
        "semantic_space": row["space"] or "none",
        "epochs": int(epochs),
        "learning_rate": float(learning_rate),
        "seed": int(seed),
      },
      trial_id=row_key(row["name"]),
    )
    for name, value in zip(
      metrics, [row["ccc"][n] for n in LABEL_NAMES] + [row["ccc_mean"]], strict=False
    ):
      tf.summary.scalar(name, value, step=0)
  writer.flush()


def _check_rows(rows: Sequence[str] | None) -> None:
  """Raises TrainingSetupError naming unknown `--rows`."""
  known = (
    {row_key(name) for _, name, _, _ in ROWS}
    | {name for _, name, _, _ in ROWS}
    | {BASELINE_ROW, "baseline"}
  )
  unknown = [r for r in rows or () if r not in known]
  if unknown:
    raise train_lib.TrainingSetupError(
      f"--rows: unknown row(s) {', '.join(unknown)}; choose from "
      f"{', '.join(row_key(name) for _, name, _, _ in ROWS)}, baseline"
    )


def run_ablation(
  data_dir: str,
  spaces: dict[str, str],
  out_dir: str,
  *,
  epochs: int,
  learning_rate: float,
  batch_size: int = train_lib.TrainConfig.batch_size,
  seed: int = train_lib.TrainConfig.seed,
  seeds: int = DEFAULT_SEEDS,
  rows: Sequence[str] | None = None,
  partition: str = "Devel",
  model_overrides: dict[str, Any] | None = None,
  corpus_dir: str | None = None,
  allow_incomplete: bool = False,
  bootstrap_resamples: int = stats.DEFAULT_RESAMPLES,
  control_seed: int = 0,
) -> list[dict[str, Any]]:
  """Trains and evaluates the ablation rows; returns one result dict per row.

  Args:
    data_dir: TFRecords (any stored space; rows swap it via word_index).
    spaces: {'word2vec' | 'speech2vec' | 'aligned' | 'random': path of a .vec}; 'random' (the
      identity control) is written to <out_dir>/controls/ when not given (`with_random_control`).
    out_dir: `<row>/seed_<s>` model directories beneath it, plus ablation.json/.md.
    seed, seeds: each row is trained with seeds seed, seed + 1, ..., seed + seeds - 1; its
      'ccc' / 'ccc_mean' are means over seeds, 'ccc_sd' / 'ccc_mean_sd' sample standard
      deviations (ddof 1; 0 for one seed).
    rows: row names to run (default all whose space is available).
    model_overrides: extra ModelConfig fields (e.g. smaller LSTM for tests).
    corpus_dir: the SEWA-layout corpus; when given, adds the eGeMAPS baseline row
      (emotion_tf.experiments.baseline_lib, outputs in <out_dir>/baseline).
    allow_incomplete: train on a TFRecord directory marked `"complete": false`.
    bootstrap_resamples: resamples of the paired bootstrap of `compare_rows` (ablation.json
      'comparisons'); 0 = none. control_seed: seed of the random vector per word type.

  Raises:
    train_lib.TrainingSetupError: for bad data, embeddings or output paths (before the first
      row trains, when the data directory itself is bad) or unknown --rows.
  """
  _check_rows(rows)
  if seeds < 1:
    raise train_lib.TrainingSetupError(f"--seeds must be >= 1, got {seeds}")
  if not rows or any(r not in (BASELINE_ROW, "baseline") for r in rows):
    train_lib.semantic_dim_of(data_dir)  # a missing/bad data_dir fails here, naming the file
  settings = dict(
    epochs=epochs,
    learning_rate=learning_rate,
    batch_size=batch_size,
    partition=partition,
    model_overrides=model_overrides,
    allow_incomplete=allow_incomplete,
  )
  seed_list = [seed + k for k in range(seeds)]
  spaces = with_random_control(data_dir, spaces, out_dir, rows, control_seed)
  results = []
  for table, name, variant, space in ROWS:
    if rows and name not in rows and row_key(name) not in rows:
      continue
    if space is not None and not spaces.get(space):
      logging.warning("ablation row %r skipped: no %s embeddings given", name, space)
      continue
    embeddings = spaces.get(space, "") if space else ""
    row_dir = os.path.join(out_dir, row_key(name))
    result_path = os.path.join(row_dir, "ablation_row.json")
    hparams_dir = os.path.join(out_dir, HPARAMS_DIR)
    reused = _read_json(result_path)
    if reused is not None and reused.get("seeds") == seed_list:
      results.append(reused)
      logging.info("ablation row %r: done earlier, reusing %s", name, result_path)
      if not os.path.isdir(os.path.join(hparams_dir, row_key(name))):
        write_hparams(
          hparams_dir,
          reused,
          epochs=epochs,
          learning_rate=learning_rate,
          seed=seed,
          partition=partition,
        )
      continue
    per_seed = [
      _seed_result(data_dir, embeddings, variant, os.path.join(row_dir, f"seed_{s}"), s, **settings)
      for s in seed_list
    ]
    row = dict(
      table=table,
      name=name,
      variant=variant,
      space=space,
      embeddings=embeddings,
      **aggregate_seeds(per_seed),
    )
    fileio.write_json(result_path, row)
    write_hparams(
      hparams_dir, row, epochs=epochs, learning_rate=learning_rate, seed=seed, partition=partition
    )
    results.append(row)
  if corpus_dir and (not rows or BASELINE_ROW in rows or "baseline" in rows):
    try:
      results.append(_baseline_row(corpus_dir, os.path.join(out_dir, "baseline"), partition))
    except (ValueError, OSError) as e:  # a bad corpus costs the baseline row, not the tables
      logging.error("baseline row skipped: %s", e)
  _write_results(out_dir, results, partition, bootstrap_resamples)
  return results


def _write_results(
  out_dir: str, results: list[dict[str, Any]], partition: str, bootstrap_resamples: int
) -> None:
  """<out_dir>/ablation.json and ablation.md: rows, comparisons, expectations."""
  comparisons = compare_rows(results, bootstrap_resamples) if bootstrap_resamples else []
  intervals = row_intervals(results, bootstrap_resamples) if bootstrap_resamples else []
  table_text = format_tables(results, partition.lower())
  notes = check_expectations(results)
  fileio.write_json(
    os.path.join(out_dir, "ablation.json"),
    {
      "rows": results,
      "expectations": notes,
      "partition": partition,
      "comparisons": comparisons,
      "intervals": intervals,
    },
  )
  fileio.atomic_write_text(
    os.path.join(out_dir, "ablation.md"),
    "```\n"
    + table_text
    + "\n"
    + format_intervals(intervals)
    + "\n"
    + format_comparisons(comparisons)
    + "\n"
    + "\n".join(notes)
    + "\n```\n",
  )


def with_random_control(
  data_dir: str, spaces: dict[str, str], out_dir: str, rows: Sequence[str] | None, seed: int = 0
) -> dict[str, str]:
  """`spaces` plus 'random': the random-vector-per-word control (`controls.write_random_vec`)
  over the shards' vocabulary, written once to <out_dir>/controls/random_vectors.vec, as many
  dimensions as the aligned space (else the stored semantic vectors). Unchanged when given,
  or when no selected row uses it."""
  if spaces.get("random"):
    return spaces
  wanted = [
    n for _, n, _, sp in ROWS if sp == "random" and (not rows or n in rows or row_key(n) in rows)
  ]
  if not wanted:
    return spaces
  path = os.path.join(out_dir, CONTROLS_DIR, f"seed_{seed}", controls.RANDOM_VEC)
  if not os.path.exists(path):
    dim = train_lib.semantic_dim_of(data_dir, spaces.get("aligned", ""))
    controls.write_random_vec(data_dir, path, dim, seed)
    logging.info(
      "ablation: random vector per word type (dim %d, seed %d) written to %s", dim, seed, path
    )
  return dict(spaces, random=path)


def _read_json(path: str) -> dict[str, Any] | None:
  if not os.path.exists(path):
    return None
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def _seed_result(
  data_dir: str,
  embeddings: str,
  variant: str,
  model_dir: str,
  seed: int,
  *,
  epochs: int,
  learning_rate: float,
  batch_size: int,
  partition: str,
  model_overrides: dict[str, Any] | None,
  allow_incomplete: bool,
) -> dict[str, Any]:
  """Trains and evaluates one seed of a row (reused from <model_dir>/ablation_seed.json);
  {'seed', 'ccc', 'ccc_mean', 'per_recording_ccc_mean', 'epochs', 'steps', 'recording_ids',
  'recording_statistics' [R][6][dims] (`stats.summary_statistics`)}."""
  result_path = os.path.join(model_dir, "ablation_seed.json")
  done = _read_json(result_path)
  if done is not None:
    return done
  dim = train_lib.semantic_dim_of(data_dir, embeddings)
  model_config = ModelConfig(variant=variant, semantic_dim=dim, **(model_overrides or {}))
  config = train_lib.TrainConfig(
    data_dir=data_dir,
    model_dir=model_dir,
    embeddings=embeddings,
    epochs=epochs,
    learning_rate=learning_rate,
    batch_size=batch_size,
    seed=seed,
    eval_partition=partition,
    allow_incomplete=allow_incomplete,
  )
  logging.info("ablation: training %s on %s, seed %d", variant, embeddings or "audio", seed)
  trained = train_lib.train(config, model_config)
  model = model_dir_lib.load_trained_model(model_dir, "best")
  matrix = schema.load_embedding_matrix(data_dir, embeddings) if embeddings else None
  summary = evaluate_lib.evaluate_partition(
    model, data_dir, partition, batch_size=batch_size, embedding_matrix=matrix
  )
  ids, per_rec = stats.summary_statistics(summary)
  result = {
    "seed": seed,
    "ccc": summary["ccc"],
    "ccc_mean": summary["ccc_mean"],
    "unseen_words": summary.get("unseen_words"),
    "unseen_valence": unseen_words.unseen_valence(summary),
    "per_recording_ccc_mean": summary.get("per_recording_ccc_mean"),
    "epochs": trained["epochs_completed"],
    "steps": trained["global_step"],
    "recording_ids": ids,
    "recording_statistics": per_rec.tolist(),
  }
  fileio.write_json(result_path, result)
  return result


def aggregate_seeds(per_seed: Sequence[dict[str, Any]]) -> dict[str, Any]:
  """A row's figures from its seeds' results (`_seed_result`): 'ccc' {name: mean over seeds},
  'ccc_sd' {name: sample sd, ddof 1; 0 for one seed}, 'ccc_mean' / 'ccc_mean_sd' (of each
  seed's mean over dimensions), 'seeds', 'per_seed' [{seed, ccc, ccc_mean}], and
  'recording_ids' / 'recording_statistics' [S][R][6][dims] for the paired bootstrap."""
  values = np.array([[r["ccc"][n] for n in LABEL_NAMES] + [r["ccc_mean"]] for r in per_seed])
  mean = values.mean(axis=0)
  sd = values.std(axis=0, ddof=1) if len(per_seed) > 1 else np.zeros_like(mean)
  ids = per_seed[0]["recording_ids"]
  if any(r["recording_ids"] != ids for r in per_seed):
    raise ValueError("seeds of one row were evaluated on different recordings")
  return {
    "ccc": dict(zip(LABEL_NAMES, map(float, mean[:-1]), strict=False)),
    "ccc_mean": float(mean[-1]),
    "ccc_sd": dict(zip(LABEL_NAMES, map(float, sd[:-1]), strict=False)),
    "ccc_mean_sd": float(sd[-1]),
    "per_recording_ccc_mean": float(np.mean([r["per_recording_ccc_mean"] for r in per_seed])),
    "seeds": [r["seed"] for r in per_seed],
    "per_seed": [{"seed": r["seed"], "ccc": r["ccc"], "ccc_mean": r["ccc_mean"]} for r in per_seed],
    "epochs": per_seed[0]["epochs"],
    "steps": per_seed[0]["steps"],
    **_unseen_aggregate(per_seed),
    "recording_ids": ids,
    "recording_statistics": [r["recording_statistics"] for r in per_seed],
  }


def _unseen_aggregate(per_seed: Sequence[dict[str, Any]]) -> dict[str, Any]:
  """'unseen_valence' (mean over seeds; None unless every seed has one), 'unseen_valence_sd'
  (ddof 1; 0 for one seed), 'unseen_frames' / 'unseen_types' (the partition's, same per seed)."""
  values = [r.get("unseen_valence") for r in per_seed]
  if not values or any(v is None for v in values):
    return {"unseen_valence": None}
  entry = per_seed[0].get("unseen_words") or {}
  return {
    "unseen_valence": float(np.mean(values)),
    "unseen_valence_sd": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
    "unseen_frames": (entry.get("unseen") or {}).get("num_frames"),
    "unseen_types": (entry.get("unseen") or {}).get("word_types"),
  }


def compare_rows(
  results: Sequence[dict[str, Any]], resamples: int = stats.DEFAULT_RESAMPLES, seed: int = 0
) -> list[dict[str, Any]]:
  """Paired bootstrap (`stats.paired_bootstrap_diff`) of CCC(A) - CCC(B) for the COMPARISONS
  whose rows both ran and carry per-recording statistics of the same recordings: the
  difference of the seed-mean CCCs, recordings resampled (the same draws for both rows and
  every seed), seeds not. Pairs scored on different recordings or frames (e.g. the baseline
  reads its labels from the corpus) are left out with a log line."""
  by = {r["name"]: r for r in results if r.get("recording_statistics")}
  out = []
  for a, b in COMPARISONS:
    if a not in by or b not in by:
      continue
    if by[a]["recording_ids"] != by[b]["recording_ids"]:
      logging.warning("comparison %s vs %s skipped: different recordings", a, b)
      continue
    try:
      diff = stats.paired_bootstrap_diff(
        np.array(by[a]["recording_statistics"]),
        np.array(by[b]["recording_statistics"]),
        resamples,
        seed,
      )
    except ValueError as e:
      logging.warning("comparison %s vs %s skipped: %s", a, b, e)
      continue
    out.append({"a": a, "b": b, **diff})
  return out


def _ci_table(
  title: str,
  head: str,
  entries: Sequence[tuple[str, dict[str, Any]]],
  fmt,
  widths: tuple[int, int],
) -> str:
  """A fixed-width table: `title`, a header, then one line per (name, {'value', 'ci'}) entry
  with `fmt(value, [lo, hi])` per dimension and the mean; widths = (name column, cell)."""
  keys = list(LABEL_NAMES) + ["mean"]
  name_w, cell_w = widths
  lines = [title, f"{head:<{name_w}}" + "".join(f"{k:>{cell_w}}" for k in keys)]
  for name, e in entries:
    cells = [fmt(e["value"][k], e["ci"][k]) for k in keys]
    lines.append(f"{name:<{name_w}}" + "".join(f"{x:>{cell_w}}" for x in cells))
  return "\n".join(lines) + "\n"


def format_comparisons(comparisons: Sequence[dict[str, Any]]) -> str:
  """One line per comparison: 'A - B' and the difference [95 % CI] per dimension and mean."""
  if not comparisons:
    return ""
  return _ci_table(
    f"Paired bootstrap, CCC difference of seed means [95 % CI over recordings, "
    f"{comparisons[0]['resamples']} resamples]",
    "A - B",
    [(f"{c['a']} - {c['b']}", c) for c in comparisons],
    lambda v, ci: f"{v:+.3f} [{ci[0]:+.3f}, {ci[1]:+.3f}]",
    (44, 25),
  )


def row_intervals(
  results: Sequence[dict[str, Any]], resamples: int = stats.DEFAULT_RESAMPLES, seed: int = 0
) -> list[dict[str, Any]]:
  """Per row with per-recording statistics: the 95 % percentile bootstrap CI of its seed-mean
  CCC over recordings (`stats.bootstrap_ccc_ci` on [seeds, R, 6, dims]; recordings resampled,
  the same draws for every seed) -> [{'name', 'value', 'ci', 'resamples', ...}]."""
  out = []
  for r in results:
    if not r.get("recording_statistics"):
      continue
    ci = stats.bootstrap_ccc_ci(np.array(r["recording_statistics"]), resamples, seed)
    out.append({"name": r["name"], **ci})
  return out


def format_intervals(intervals: Sequence[dict[str, Any]]) -> str:
  """One line per row: the seed-mean CCC [95 % CI over recordings] per dimension and mean."""
  if not intervals:
    return ""
  return _ci_table(
    f"Seed-mean CCC [95 % bootstrap CI over recordings, {intervals[0]['resamples']} resamples]",
    "Row",
    [(c["name"], c) for c in intervals],
    stats.format_ci,
    (28, 24),
  )


def _baseline_row(corpus_dir: str, out_dir: str, partition: str) -> dict[str, Any]:
  """The Table 4 baseline row (reused from <out_dir>/ablation_row.json on a rerun)."""
  result_path = os.path.join(out_dir, "ablation_row.json")
  if os.path.exists(result_path):
    with open(result_path, encoding="utf-8") as f:
      return json.load(f)
  summary = baseline_lib.run_baseline(corpus_dir, out_dir, [partition])
  r = summary["partitions"][partition.lower()]
  row = {
    "table": "Table 4",
    "name": BASELINE_ROW,
    "variant": baseline_lib.VARIANT,
    "space": None,
    "embeddings": "",
    "ccc": r["ccc"],
    "ccc_mean": r["ccc_mean"],
    "per_recording_ccc_mean": r.get("per_recording_ccc_mean"),
    "settings": summary["baseline"]["settings"],
  }
  ids, per_rec = stats.summary_statistics(r)  # deterministic: one "seed"
  row.update(recording_ids=ids, recording_statistics=[per_rec.tolist()])
  fileio.write_json(result_path, row)
  return row
