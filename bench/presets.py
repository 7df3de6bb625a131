"""The `paper`, `original_code` and default presets side by side.

    .venv/bin/python bench/presets.py --data_dirs D1,D2 --work DIR [--seeds 3] \
        [--train_steps 600] [--steps_per_epoch 100] \
        [--presets paper,demo,original_code,original_code_no_interlocutor]

For every TFRecord directory (one per corpus, written by data_prep.write_tfrecords with the
subject_turn feature), every preset and seed 0..N-1: `train_lib.train` with the preset's config
(`flags/<preset>.json`; `paper` = flags/paper_train.json = the dataclass defaults, which
follow the paper; `demo` = flags/demo_train.flags) under the same step budget
(`--train_steps`; each preset keeps its own batch size), the best model chosen on Devel (mean
CCC, evaluated every --steps_per_epoch steps), then `evaluate_lib.evaluate_partition` on Test.
Presets ending in `_no_interlocutor` / `_interlocutor` switch the interlocutor-aware frames off /
on, so a pair of rows shows what they do. Finished runs (<work>/<corpus>/<preset>_s<seed>/
bench_row.json) are reused on a rerun. Prints the CPU model, a numpy matmul GFLOP/s, and Test
CCC mean ± sd over seeds per dimension. Prints figures only; asserts nothing.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import cpu_model, matmul_gflops  # noqa: E402  (bench/machine.py)

from emotion_tf import LABEL_NAMES  # noqa: E402
from emotion_tf.model import model_dir as model_dir_lib  # noqa: E402
from emotion_tf.model.models import ModelConfig  # noqa: E402
from emotion_tf.training import (
  evaluate_lib,  # noqa: E402
  stats,  # noqa: E402
  train_lib,  # noqa: E402
)
from emotion_tf.util import config as config_lib  # noqa: E402
from emotion_tf.util import fileio  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUFFIXES = {"_no_interlocutor": False, "_interlocutor": True}


def flagfile_sections(path: str):
  """{'model': {...}, 'train': {...}} of a flagfile's `--name=value` lines (by field name)."""
  import dataclasses

  fields = {
    s: {f.name for f in dataclasses.fields(c)}
    for s, c in (("model", ModelConfig), ("train", train_lib.TrainConfig))
  }
  sections = {"model": {}, "train": {}}
  with open(path, encoding="utf-8") as f:
    for line in f:
      line = line.strip()
      if not line.startswith("--") or "=" not in line:
        continue
      name, value = line[2:].split("=", 1)
      for section, names in fields.items():
        if name in names:
          sections[section][name] = value
  return sections


def preset_sections(preset: str):
  """({'model': {...}, 'train': {...}}) of a preset name (see the module docstring)."""
  base, interlocutor = preset, None
  for suffix, value in SUFFIXES.items():
    if preset.endswith(suffix):
      base, interlocutor = preset[: -len(suffix)], value
      break
  if base == "default":
    sections = {"model": {}, "train": {}}
  elif base == "demo":
    sections = flagfile_sections(os.path.join(ROOT, "flags", "demo_train.flags"))
  else:
    path = os.path.join(ROOT, "flags", f"{base}.json" if base != "paper" else "paper_train.json")
    sections = config_lib.read_config_file(path)
  model = dict(sections.get("model", {}))
  if interlocutor is not None:
    model["interlocutor_frames"] = interlocutor
  return model, dict(sections.get("train", {}))


def run_one(
  data_dir: str, preset: str, seed: int, work: str, train_steps: int, steps_per_epoch: int
):
  """Test CCC [3] of one preset and seed (reused from bench_row.json when there)."""
  model_dir = os.path.join(work, f"{preset}_s{seed}")
  row_path = os.path.join(model_dir, "bench_row.json")
  if os.path.exists(row_path):
    with open(row_path, encoding="utf-8") as f:
      return json.load(f)
  model_section, train_section = preset_sections(preset)
  dim = train_lib.semantic_dim_of(data_dir)
  model_config = ModelConfig.from_dict({**model_section, "semantic_dim": dim})
  config = config_lib.build(
    train_lib.TrainConfig,
    train_section,
    {
      "data_dir": data_dir,
      "model_dir": model_dir,
      "seed": seed,
      "train_steps": train_steps,
      "steps_per_epoch": steps_per_epoch,
      "eval_partition": "Devel",
    },
  )
  t0 = time.time()
  trained = train_lib.train(config, model_config)
  model = model_dir_lib.load_trained_model(model_dir, "best")  # chosen on Devel
  summary = evaluate_lib.evaluate_partition(model, data_dir, "test", batch_size=config.batch_size)
  row = {
    "preset": preset,
    "seed": seed,
    "test_ccc": [summary["ccc"][n] for n in LABEL_NAMES],
    "best_devel_ccc": trained["best_eval_ccc"],
    "steps": trained["global_step"],
    "batch_size": config.batch_size,
    "seconds": round(time.time() - t0, 1),
  }
  row.update(_test_statistics(summary))
  fileio.write_json(row_path, row)
  return row


def _test_statistics(summary):
  """{'test_ids', 'test_statistics' [R, 6, 3]}: each Test recording's sufficient statistics
  (for paired bootstrap CIs between presets)."""
  ids, per_rec = stats.summary_statistics(summary)
  return {"test_ids": ids, "test_statistics": per_rec.tolist()}


def with_statistics(row, data_dir: str, work: str):
  """`row` with its Test statistics; rows written before they were stored get them by
  evaluating their best.keras on Test again (the same deterministic evaluation)."""
  if "test_statistics" in row:
    return row
  model_dir = os.path.join(work, f"{row['preset']}_s{row['seed']}")
  model = model_dir_lib.load_trained_model(model_dir, "best")
  summary = evaluate_lib.evaluate_partition(model, data_dir, "test", batch_size=row["batch_size"])
  row = dict(row, **_test_statistics(summary))
  fileio.write_json(os.path.join(model_dir, "bench_row.json"), row)
  return row


def paired_rows(rows, reference: str):
  """Lines: paired bootstrap CI of (preset − reference) Test CCC, seed means, recordings
  resampled (stats.paired_bootstrap_diff)."""
  ref = np.array([r["test_statistics"] for r in rows[reference]])
  lines = []
  for preset, runs in rows.items():
    if preset == reference:
      continue
    d = stats.paired_bootstrap_diff(np.array([r["test_statistics"] for r in runs]), ref)
    cells = "  ".join(
      f"{n} {stats.format_ci(d['value'][n], d['ci'][n])}" for n in list(LABEL_NAMES) + ["mean"]
    )
    lines.append(f"  {preset} - {reference}: {cells}")
  return lines


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--data_dirs", required=True, help="comma-separated TFRecord dirs (corpora)")
  p.add_argument("--work", required=True)
  p.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1")
  p.add_argument("--train_steps", type=int, default=600)
  p.add_argument(
    "--steps_per_epoch", type=int, default=0, help="steps between Devel evaluations (0 = one pass)"
  )
  p.add_argument(
    "--presets",
    default="paper,demo,original_code,original_code_no_interlocutor",
    help="default (= paper: the dataclass defaults follow the paper), paper, demo "
    "(flags/demo_train.flags: batch 8, lr 1e-3), original_code; suffix "
    "_no_interlocutor/_interlocutor switches the interlocutor-aware frames",
  )
  a = p.parse_args()
  print(
    f"CPU: {cpu_model()} ({os.cpu_count()} cores); numpy float32 matmul 2048^2: "
    f"{matmul_gflops():.1f} GFLOP/s",
    flush=True,
  )
  presets = [x for x in a.presets.split(",") if x]
  tables = []
  for data_dir in [d for d in a.data_dirs.split(",") if d]:
    name = "_".join(os.path.normpath(os.path.abspath(data_dir)).split(os.sep)[-2:])  # corpus_dir
    rows = {}
    for preset in presets:
      work = os.path.join(os.path.abspath(a.work), name)
      runs = [
        with_statistics(
          run_one(data_dir, preset, s, work, a.train_steps, a.steps_per_epoch), data_dir, work
        )
        for s in range(a.seeds)
      ]
      rows[preset] = runs
    tables.append((data_dir, rows))
  for data_dir, rows in tables:
    print(
      f"\nTest CCC on {data_dir} (model chosen on Devel; {a.train_steps} steps; "
      f"mean ± sd over {a.seeds} seed(s))"
    )
    print(
      f"{'preset':<32}{'batch':>6}"
      + "".join(f"{n:>15}" for n in LABEL_NAMES + ("mean",))
      + f"{'s/run':>8}"
    )
    for preset, runs in rows.items():
      s = np.array([r["test_ccc"] for r in runs])
      full = np.concatenate([s, s.mean(axis=1, keepdims=True)], axis=1)
      m = full.mean(axis=0)
      sd = full.std(axis=0, ddof=1) if len(runs) > 1 else np.zeros_like(m)
      print(
        f"{preset:<32}{runs[0]['batch_size']:>6}"
        + "".join(f"{x:>9.3f}±{y:.3f}" for x, y in zip(m, sd, strict=False))
        + f"{np.mean([r['seconds'] for r in runs]):>8.0f}"
      )
    recordings = len(runs[0]["test_ids"])
    print(
      f"paired bootstrap, 95 % CI of the Test CCC difference (seed means; the {recordings} "
      "Test recordings resampled, 1000 resamples):"
    )
    print("\n".join(paired_rows(rows, next(iter(rows)))))


if __name__ == "__main__":
  main()
