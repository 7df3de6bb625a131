"""Ablations of the paper's Tables 2 and 3: `python -m emotion_tf.ablate --run_dir DIR`.

Trains one model per row on the same TFRecords and reports CCC on the Devel
partition in the paper's columns (Arousal, Valence, Liking, Avg):

  Table 2 (vector spaces, single views)     Table 3 (fusion strategies)
    Word2Vec            semantic + word2vec     Concatenation           concat + aligned
    Speech2Vec          semantic + speech2vec   Disentangled attention  attention + aligned
    Align Speech2Vec    semantic + aligned
    Paralinguistic      paralinguistic

The semantic space is swapped through the shards' `word_index` (one TFRecord set
serves every space). With `--run_dir` (what `make demo` printed) the paths are
found there; each can be given explicitly too. Finished rows are skipped on a
rerun; results go to `<out>/ablation.json` and `<out>/ablation.md`.
"""

import json
import os
import sys
from typing import Any, Dict, List, Optional, Sequence

from absl import flags
from absl import logging

from emotion_tf import LABEL_NAMES
from emotion_tf import cli

ROWS = (
    # (table, row name, variant, space)
    ("Table 2", "Word2Vec", "semantic", "word2vec"),
    ("Table 2", "Speech2Vec", "semantic", "speech2vec"),
    ("Table 2", "Align Speech2Vec", "semantic", "aligned"),
    ("Table 2", "Paralinguistic", "paralinguistic", None),
    ("Table 3", "Concatenation", "concat", "aligned"),
    ("Table 3", "Disentangled attention", "disentangled_attention", "aligned"),
)


def row_key(name: str) -> str:
  return name.lower().replace(" ", "_")


def format_tables(results: Sequence[Dict[str, Any]], partition: str = "devel") -> str:
  """The paper's Table 2 / Table 3 layout, CCC with 3 decimals."""
  lines: List[str] = []
  for table in ("Table 2", "Table 3"):
    rows = [r for r in results if r["table"] == table]
    if not rows:
      continue
    title = "Model" if table == "Table 2" else "Fusion strategy"
    lines.append(f"{table} ({partition} CCC)")
    lines.append(f"{title:<24}{'Arousal':>9}{'Valence':>9}{'Liking':>9}{'Avg':>9}")
    for r in rows:
      c = r["ccc"]
      values = [c[n] for n in LABEL_NAMES] + [r["ccc_mean"]]
      lines.append(f"{r['name']:<24}" + "".join(f"{v:>9.3f}" for v in values))
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


def run_ablation(data_dir: str, spaces: Dict[str, str], out_dir: str, *, epochs: int,
                 learning_rate: float, batch_size: int = 25, seed: int = 0,
                 rows: Optional[Sequence[str]] = None, partition: str = "Devel",
                 model_overrides: Optional[Dict[str, Any]] = None,
                 allow_incomplete: bool = False) -> List[Dict[str, Any]]:
  """Trains and evaluates the ablation rows; returns one result dict per row.

  Args:
    data_dir: TFRecords (any stored space; rows swap it via word_index).
    spaces: {'word2vec' | 'speech2vec' | 'aligned': path of a .vec}.
    out_dir: one model directory per row beneath it, plus ablation.json/.md.
    rows: row names to run (default all whose space is available).
    model_overrides: extra ModelConfig fields (e.g. smaller LSTM for tests).
    allow_incomplete: train on a TFRecord directory marked `"complete": false`.

  Raises:
    training.TrainingSetupError: for bad data, embeddings or output paths (before the first
      row trains, when the data directory itself is bad).
  """
  # TensorFlow is imported only when work starts (flag errors and --help answer at once).
  # pylint: disable=g-import-not-at-top
  from emotion_tf import evaluation
  from emotion_tf import training
  from emotion_tf.data import schema
  from emotion_tf.models import ModelConfig
  # pylint: enable=g-import-not-at-top
  if rows:
    known = {row_key(name) for _, name, _, _ in ROWS} | {name for _, name, _, _ in ROWS}
    unknown = [r for r in rows if r not in known]
    if unknown:
      raise training.TrainingSetupError(
          f"--rows: unknown row(s) {', '.join(unknown)}; choose from "
          f"{', '.join(row_key(name) for _, name, _, _ in ROWS)}")
  training.semantic_dim_of(data_dir)   # a missing/bad data_dir fails here, naming the file
  results = []
  for table, name, variant, space in ROWS:
    if rows and name not in rows and row_key(name) not in rows:
      continue
    if space is not None and not spaces.get(space):
      logging.warning("ablation row %r skipped: no %s embeddings given", name, space)
      continue
    model_dir = os.path.join(out_dir, row_key(name))
    result_path = os.path.join(model_dir, "ablation_row.json")
    if os.path.exists(result_path):
      with open(result_path, encoding="utf-8") as f:
        results.append(json.load(f))
      logging.info("ablation row %r: done earlier, reusing %s", name, result_path)
      continue
    embeddings = spaces.get(space, "") if space else ""
    dim = training.semantic_dim_of(data_dir, embeddings)
    model_config = ModelConfig(variant=variant, semantic_dim=dim, **(model_overrides or {}))
    config = training.TrainConfig(data_dir=data_dir, model_dir=model_dir, embeddings=embeddings,
                                  epochs=epochs, learning_rate=learning_rate,
                                  batch_size=batch_size, seed=seed, eval_partition=partition,
                                  allow_incomplete=allow_incomplete)
    logging.info("ablation row %r: training %s on %s", name, variant, embeddings or "audio")
    trained = training.train(config, model_config)
    model = evaluation.load_trained_model(model_dir, "best")
    matrix = schema.load_embedding_matrix(data_dir, embeddings) if embeddings else None
    summary = evaluation.evaluate_partition(model, data_dir, partition, batch_size=batch_size,
                                            embedding_matrix=matrix)
    row = {"table": table, "name": name, "variant": variant, "space": space,
           "embeddings": embeddings, "ccc": summary["ccc"], "ccc_mean": summary["ccc_mean"],
           "per_recording_ccc_mean": summary.get("per_recording_ccc_mean"),
           "epochs": trained["epochs_completed"], "steps": trained["global_step"]}
    evaluation.write_json(result_path, row)
    results.append(row)
  table_text = format_tables(results, partition.lower())
  notes = check_expectations(results)
  evaluation.write_json(os.path.join(out_dir, "ablation.json"),
                        {"rows": results, "expectations": notes, "partition": partition})
  schema.atomic_write(os.path.join(out_dir, "ablation.md"),
                      ("```\n" + table_text + "\n" + "\n".join(notes) + "\n```\n").encode())
  return results


def define_flags() -> None:
  flags.DEFINE_string("run_dir", "runs/demo", "Run directory of `make demo` (paths below "
                      "default to its layout).")
  flags.DEFINE_string("data_dir", "", "TFRecords; default <run_dir>/tfrecords.")
  flags.DEFINE_string("word2vec", "", "Word2Vec .vec; default <run_dir>/word2vec.vec.")
  flags.DEFINE_string("speech2vec", "", "Speech2Vec .vec; default "
                      "<run_dir>/speech2vec/speech2vec.vec.")
  flags.DEFINE_string("aligned", "", "Aligned Speech2Vec .vec; default "
                      "<run_dir>/alignment/aligned_speech2vec.vec.")
  flags.DEFINE_string("out", "", "Output directory; default <run_dir>/ablation.")
  flags.DEFINE_list("rows", [], "Subset of rows (e.g. paralinguistic,word2vec); default all.")
  flags.DEFINE_integer("epochs", 15, "Epochs per model.", lower_bound=1)
  flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate (see README: the paper's 1e-4 "
                     "needs many more steps than the demo corpus gives).", lower_bound=0.0)
  flags.DEFINE_integer("batch_size", 25, "Global batch size.", lower_bound=1)
  flags.DEFINE_integer("seed", 0, "Seed.")
  flags.DEFINE_string("partition", "Devel", "Partition the tables report.")
  flags.DEFINE_boolean("allow_incomplete", False, "Train on a TFRecord directory whose "
                       "metadata.json says \"complete\": false (refused by default).")


def main(argv):
  if len(argv) > 1:
    cli.usage_error(f"unexpected arguments: {argv[1:]}")
  f = flags.FLAGS
  run = f.run_dir
  data_dir = f.data_dir or os.path.join(run, "tfrecords")
  spaces = {
      "word2vec": f.word2vec or os.path.join(run, "word2vec.vec"),
      "speech2vec": f.speech2vec or os.path.join(run, "speech2vec", "speech2vec.vec"),
      "aligned": f.aligned or os.path.join(run, "alignment", "aligned_speech2vec.vec"),
  }
  for key, path in list(spaces.items()):
    if not os.path.exists(path):
      logging.warning("%s embeddings not found at %s; its rows are skipped", key, path)
      spaces[key] = ""
  out = f.out or os.path.join(run, "ablation")
  metadata = os.path.join(data_dir, "metadata.json")
  if not os.path.exists(metadata):
    raise cli.InputError(f"{metadata}: missing; write the TFRecords with "
                         "`python -m data_prep.write_tfrecords` or pass --data_dir/--run_dir")
  from emotion_tf import evaluation  # pylint: disable=g-import-not-at-top
  from emotion_tf import training  # pylint: disable=g-import-not-at-top
  try:
    results = run_ablation(data_dir, spaces, out, epochs=f.epochs,
                           learning_rate=f.learning_rate, batch_size=f.batch_size, seed=f.seed,
                           rows=f.rows, partition=f.partition,
                           allow_incomplete=f.allow_incomplete)
  except (training.TrainingSetupError, evaluation.ModelDirError) as e:
    raise cli.InputError(str(e)) from e
  except training.TrainingDivergedError as e:
    logging.error("%s", e)
    sys.stderr.write(f"error: {e}\n")
    return cli.EXIT_FAILURE
  sys.stdout.write("\n" + format_tables(results, f.partition.lower()) + "\n")
  sys.stdout.write("\n".join(check_expectations(results)) + "\n")
  sys.stdout.write(f"\nablation results: {os.path.join(out, 'ablation.md')}\n")
  return cli.EXIT_OK


if __name__ == "__main__":
  define_flags()
  cli.run(main)
