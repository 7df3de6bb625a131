"""Ablation: waveform augmentation per kind and waveform normalisation, on a corpus whose Test
voices and room differ from Train.

    .venv/bin/python bench/augment_ablation.py --data_dir TFRECORDS --work DIR \
        [--baseline BASELINE_DIR] [--seeds 2] [--train_steps 120] [--steps_per_epoch 30] \
        [--variants paralinguistic,disentangled_attention] [--settings none,noise,...] \
        [--small]

Corpus (BUILD.md, "Augmentation and normalisation"): `data_prep.synthesize --design sewa` splits
its voices 50/25/25 % over Train/Devel/Test, so Test voices are unseen; the same command with
`--rt60 --snr` gives the same recordings in a noisy reverberant room, and the Test files of
that copy replace the dry ones (Train and Devel dry). For every variant, setting and seed
0..N-1: `train_lib.train` (batch 8, Adam 1e-3 as flags/demo_train.flags, --train_steps
updates, Devel evaluated every --steps_per_epoch steps, the best model by Devel mean CCC kept),
then Devel and Test arousal CCC of that model (`evaluate_lib.evaluate_partition`). The
setting of each variant with the best mean Devel arousal CCC is named; the eGeMAPS baseline's
Test arousal (`python -m emotion_tf.baseline --out BASELINE_DIR`) is printed beside it.
--small trains a reduced model (CNN filters 16/32/32, LSTM 64, d_u 64) so the grid fits a
shared CPU. Finished runs (<work>/<variant>/<setting>_s<seed>/row.json) are reused. Prints the
CPU model and a numpy matmul GFLOP/s; prints figures only, asserts nothing.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import cpu_model, matmul_gflops  # noqa: E402

from emotion_tf.model import model_dir as model_dir_lib  # noqa: E402
from emotion_tf.model.models import ModelConfig  # noqa: E402
from emotion_tf.training import (
  evaluate_lib,  # noqa: E402
  train_lib,  # noqa: E402
)
from emotion_tf.util import config as config_lib  # noqa: E402
from emotion_tf.util import fileio  # noqa: E402

SETTINGS = {  # name -> (TrainConfig fields, ModelConfig fields)
  "none": ({}, {}),
  "noise": ({"aug_noise_prob": 0.5}, {}),
  "babble": ({"aug_babble_prob": 0.5}, {}),
  "reverb": ({"aug_reverb_prob": 0.5}, {}),
  "gain_eq": ({"aug_gain_prob": 0.5, "aug_eq_prob": 0.5}, {}),
  "speed": ({"aug_speed_prob": 0.5}, {}),
  "all": (
    {
      "aug_noise_prob": 0.5,
      "aug_babble_prob": 0.3,
      "aug_reverb_prob": 0.5,
      "aug_gain_prob": 0.5,
      "aug_eq_prob": 0.5,
      "aug_speed_prob": 0.3,
    },
    {},
  ),
  "norm": ({}, {"waveform_norm": "sequence_rms"}),
  "frame_norm": ({}, {"waveform_norm": "frame_rms"}),
  # Annotation-delay compensation (models.delay_compensate): 0.5 s, the arousal shift the
  # Devel-tuned post-processing picked on every built-in corpus (BUILD.md, "Annotation delay").
  "delay": ({}, {"label_delay_frames": 5}),
  # The delay with the paralinguistic skip of disentangled attention (BUILD.md, same section).
  "skip+delay": ({}, {"label_delay_frames": 5, "paralinguistic_skip": True}),
  "all+norm": (
    {
      "aug_noise_prob": 0.5,
      "aug_babble_prob": 0.3,
      "aug_reverb_prob": 0.5,
      "aug_gain_prob": 0.5,
      "aug_eq_prob": 0.5,
      "aug_speed_prob": 0.3,
    },
    {"waveform_norm": "sequence_rms"},
  ),
}
SMALL = {"cnn_filters": (16, 32, 32), "lstm_units": 64, "fusion_units": 64}


def run_one(data_dir, variant, setting, seed, work, args):
  """{'devel': arousal CCC, 'test': arousal CCC, ...} of one trained run (cached in row.json)."""
  model_dir = os.path.join(work, variant, f"{setting}_s{seed}")
  row_path = os.path.join(model_dir, "row.json")
  if os.path.exists(row_path):
    with open(row_path, encoding="utf-8") as f:
      return json.load(f)
  train_fields, model_fields = SETTINGS[setting]
  model_config = ModelConfig.from_dict(
    {
      "variant": variant,
      "semantic_dim": train_lib.semantic_dim_of(data_dir),
      **(SMALL if args.small else {}),
      **model_fields,
    }
  )
  config = config_lib.build(
    train_lib.TrainConfig,
    {
      "data_dir": data_dir,
      "model_dir": model_dir,
      "seed": seed,
      "batch_size": 8,
      "learning_rate": 1e-3,
      "train_steps": args.train_steps,
      "steps_per_epoch": args.steps_per_epoch,
      "eval_partition": "Devel",
      "log_every_steps": 10,
    },
    train_fields,
  )
  t0 = time.time()
  trained = train_lib.train(config, model_config)
  model = model_dir_lib.load_trained_model(model_dir, "best")  # chosen on Devel
  row = {
    "variant": variant,
    "setting": setting,
    "seed": seed,
    "steps": trained["global_step"],
    "best_devel_mean_ccc": trained["best_eval_ccc"],
  }
  for partition in ("devel", "test"):
    summary = evaluate_lib.evaluate_partition(model, data_dir, partition, batch_size=8)
    row[partition] = summary["ccc"]["arousal"]
  row["seconds"] = round(time.time() - t0, 1)
  fileio.write_json(row_path, row)
  return row


def baseline_arousal(baseline_dir):
  """Test (and Devel) arousal CCC of `emotion_tf.baseline`'s evaluation.json, or None."""
  path = os.path.join(baseline_dir, evaluate_lib.SUMMARY_FILENAME) if baseline_dir else ""
  if not path or not os.path.exists(path):
    return None
  with open(path, encoding="utf-8") as f:
    summary = json.load(f)
  out = {}
  for name, part in (summary.get("partitions") or summary).items():
    if isinstance(part, dict) and "ccc" in part:
      out[name.lower()] = part["ccc"]["arousal"]
  return out


def _cell(values):
  values = np.asarray(values, float)
  sd = values.std(ddof=1) if len(values) > 1 else 0.0
  return f"{values.mean():>7.3f}±{sd:.3f}"


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--data_dir", required=True)
  p.add_argument("--work", required=True)
  p.add_argument("--baseline", default="", help="output dir of python -m emotion_tf.baseline")
  p.add_argument("--seeds", type=int, default=2)
  p.add_argument("--train_steps", type=int, default=120)
  p.add_argument("--steps_per_epoch", type=int, default=30)
  p.add_argument("--variants", default="paralinguistic,disentangled_attention")
  p.add_argument("--settings", default=",".join(SETTINGS))
  p.add_argument("--small", action="store_true", help="reduced model (SMALL)")
  a = p.parse_args()
  print(
    f"CPU: {cpu_model()} ({os.cpu_count()} cores); numpy float32 matmul 2048^2: "
    f"{matmul_gflops():.1f} GFLOP/s",
    flush=True,
  )
  work = os.path.abspath(a.work)
  table = {}
  for variant in [v for v in a.variants.split(",") if v]:
    for setting in [s for s in a.settings.split(",") if s]:
      if SETTINGS[setting][1].get("paralinguistic_skip") and variant != "disentangled_attention":
        continue  # the skip exists in the fusion model only
      rows = [run_one(a.data_dir, variant, setting, s, work, a) for s in range(a.seeds)]
      table[(variant, setting)] = rows
      print(
        f"{variant} {setting}: Devel {_cell([r['devel'] for r in rows])} Test "
        f"{_cell([r['test'] for r in rows])} ({np.mean([r['seconds'] for r in rows]):.0f} "
        "s/run)",
        flush=True,
      )
  base = baseline_arousal(a.baseline)
  print(
    f"\nArousal CCC, model chosen on Devel per run; {a.train_steps} steps at batch 8, "
    f"mean ± sd over {a.seeds} seed(s){'; reduced model' if a.small else ''}"
  )
  print(f"{'variant':<24}{'setting':<12}{'Devel':>14}{'Test':>14}")
  for variant in dict.fromkeys(v for v, _ in table):
    best = max(
      (s for v, s in table if v == variant),
      key=lambda s: np.mean([r["devel"] for r in table[(variant, s)]]),
    )
    for (v, setting), rows in table.items():
      if v == variant:
        mark = "  <- best on Devel" if setting == best else ""
        print(
          f"{variant:<24}{setting:<12}{_cell([r['devel'] for r in rows]):>14}"
          f"{_cell([r['test'] for r in rows]):>14}{mark}"
        )
  if base:
    print(
      f"{'eGeMAPS baseline':<36}"
      + "".join(f"{base[k]:>14.3f}" if k in base else f"{'-':>14}" for k in ("devel", "test"))
    )


if __name__ == "__main__":
  main()
