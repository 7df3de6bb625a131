"""Ablation rows for speech-token semantics, and automatic-segment timings.

  # 1. word-like segments of every recording from the automatic segmenter, as timings CSVs
  python bench/speech_tokens.py segments --corpus runs/demo/corpus --out DIR
  # 2. ablation rows (Devel/Test CCC), semantic-only and disentangled-attention variants:
  python bench/speech_tokens.py ablate --lookup_data runs/demo/tfrecords \
      --speech_data TFREC_SPEECH_TRUE --auto_data TFREC_SPEECH_AUTO --out DIR [--epochs 30]

Rows (each variant):
  lookup (transcript)          trained + evaluated on type vectors looked up by word string
  speech tokens, true timings  trained + evaluated on speech-token TFRecords (true timings)
  speech tokens, auto segments the same model, evaluated on speech-token TFRecords whose
                               segments come from `emotion_tf.semantic.segmenter`
The TFRecords are written by `data_prep.write_tfrecords` (`--semantic_source lookup|speech`;
for the auto rows `--word_timings` = the output of step 1). Finished models are reused.
"""

import argparse
import json
import os

from emotion_tf import LABEL_NAMES  # noqa: E402
from emotion_tf.data import corpus  # noqa: E402
from emotion_tf.data import word_timings as wt  # noqa: E402

SEGMENT_WORD = "<seg>"
VARIANTS = ("semantic", "disentangled_attention")


def write_segments(corpus_dir, out_dir):
  """Writes `<id>.csv` segmenter timings (word `<seg>`) for every recording of the corpus."""
  from emotion_tf.semantic import segmenter

  os.makedirs(out_dir, exist_ok=True)
  total = 0
  for rec in corpus.list_recordings(corpus_dir):
    audio = corpus.load_audio(rec.audio_path, 22050)
    segs = segmenter.segment(audio)
    wt.write_timings_csv(
      os.path.join(out_dir, rec.recording_id + ".csv"),
      [wt.WordTiming(s, e, SEGMENT_WORD) for s, e in segs],
    )
    total += len(segs)
  print(f"wrote segmenter timings ({total} segments) to {out_dir}")


def train_and_eval(train_dir, eval_dirs, model_dir, variant, epochs, lr, seed):
  from emotion_tf.model import model_dir as model_dir_lib
  from emotion_tf.model.models import ModelConfig
  from emotion_tf.training import (
    evaluate_lib,
    train_lib,
  )

  if not os.path.exists(os.path.join(model_dir, "best.keras")) or not os.path.exists(
    os.path.join(model_dir, "done.json")
  ):
    dim = train_lib.semantic_dim_of(train_dir, "")
    config = train_lib.TrainConfig(
      data_dir=train_dir, model_dir=model_dir, epochs=epochs, learning_rate=lr, seed=seed
    )
    train_lib.train(config, ModelConfig(variant=variant, semantic_dim=dim))
    with open(os.path.join(model_dir, "done.json"), "w", encoding="utf-8") as f:
      json.dump({"epochs": epochs}, f)
  model = model_dir_lib.load_trained_model(model_dir, "best")
  out = {}
  for name, data_dir in eval_dirs.items():
    out[name] = {p: evaluate_lib.evaluate_partition(model, data_dir, p) for p in ("Devel", "Test")}
  return out


def ablate(args):
  rows = []
  for variant in args.variants.split(","):
    res = train_and_eval(
      args.lookup_data,
      {"lookup (transcript)": args.lookup_data},
      os.path.join(args.out, f"lookup_{variant}"),
      variant,
      args.epochs,
      args.learning_rate,
      args.seed,
    )
    res.update(
      train_and_eval(
        args.speech_data,
        {
          "speech tokens, true timings": args.speech_data,
          "speech tokens, auto segments": args.auto_data,
        },
        os.path.join(args.out, f"speech_{variant}"),
        variant,
        args.epochs,
        args.learning_rate,
        args.seed,
      )
    )
    for name, parts in res.items():
      rows.append(
        {
          "variant": variant,
          "row": name,
          **{p: {"ccc": parts[p]["ccc"], "ccc_mean": parts[p]["ccc_mean"]} for p in parts},
        }
      )
  with open(os.path.join(args.out, "speech_tokens.json"), "w", encoding="utf-8") as f:
    json.dump(rows, f, indent=1)
  for part in ("Devel", "Test"):
    print(f"\n{part} CCC ({args.epochs} epochs)")
    print(
      f"{'variant':<24}{'semantic input':<30}"
      + "".join(f"{n:>9}" for n in LABEL_NAMES)
      + f"{'mean':>9}"
    )
    for r in rows:
      c = r[part]["ccc"]
      print(
        f"{r['variant']:<24}{r['row']:<30}"
        + "".join(f"{c[n]:>9.3f}" for n in LABEL_NAMES)
        + f"{r[part]['ccc_mean']:>9.3f}"
      )


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  sub = parser.add_subparsers(dest="cmd", required=True)
  s = sub.add_parser("segments")
  s.add_argument("--corpus", required=True)
  s.add_argument("--out", required=True)
  a = sub.add_parser("ablate")
  a.add_argument("--lookup_data", required=True)
  a.add_argument("--speech_data", required=True)
  a.add_argument("--auto_data", required=True)
  a.add_argument("--out", required=True)
  a.add_argument("--epochs", type=int, default=30)
  a.add_argument("--learning_rate", type=float, default=1e-3)
  a.add_argument("--seed", type=int, default=0)
  a.add_argument("--variants", default=",".join(VARIANTS))
  args = parser.parse_args()
  if args.cmd == "segments":
    write_segments(args.corpus, args.out)
  else:
    ablate(args)


if __name__ == "__main__":
  main()
