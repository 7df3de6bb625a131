"""Wav-only prediction on a labelled partition: CCC per dimension and mean.

  python bench/speech_only.py --audio_dir runs/demo/corpus/audio \
      --labels_dir runs/demo/corpus/labels --export runs/demo/export [--partition Test]
      [--word_timings DIR] [--embeddings FILE.vec]

For every `<Partition>_*.wav` in --audio_dir with a label file `<id>.csv` in --labels_dir,
runs `emotion_tf.inference.predict_recording` exactly as `python -m emotion_tf.predict --model
EXPORT --audio FILE.wav` does. Modes (all frames of the partition pooled, as the AVEC metric):
  * default: the wav alone (the export's semantic frontend on automatic segments);
  * --word_timings DIR: speech tokens on those timings (no --embeddings), or lookup by word
    string with --embeddings (the transcript path).
Prints one line per mode run: CCC arousal, valence, liking, mean, frames, wall time.
"""

import argparse
import glob
import os
import sys
import time

import numpy as np

from emotion_tf import LABEL_NAMES  # noqa: E402
from emotion_tf.data import corpus  # noqa: E402
from emotion_tf.model import ccc  # noqa: E402
from emotion_tf.serving import (
  export_lib,  # noqa: E402
  predict_lib,  # noqa: E402
)


def run(model, wavs, labels_dir, timings_dir=None, embeddings=None):
  golds, preds = [], []
  for wav in wavs:
    rid = os.path.splitext(os.path.basename(wav))[0]
    _, labels = corpus.read_labels(os.path.join(labels_dir, rid + ".csv"))
    timings = os.path.join(timings_dir, rid + ".csv") if timings_dir else None
    pred, _ = predict_lib.predict_recording(model, wav, timings, embeddings)
    n = min(len(pred), len(labels))
    golds.append(labels[:n])
    preds.append(pred[:n])
  gold, pred = np.concatenate(golds), np.concatenate(preds)
  return ccc.concordance_cc_numpy(gold, pred, axis=0), len(gold)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--audio_dir", required=True)
  parser.add_argument("--labels_dir", required=True)
  parser.add_argument("--export", required=True)
  parser.add_argument("--partition", default="Test")
  parser.add_argument("--word_timings", default="", help="also run with these timings")
  parser.add_argument("--embeddings", default="", help="with --word_timings: lookup mode")
  args = parser.parse_args()
  wavs = sorted(
    w
    for w in glob.glob(os.path.join(args.audio_dir, f"{args.partition}_*.wav"))
    if os.path.exists(os.path.join(args.labels_dir, os.path.basename(w)[:-4] + ".csv"))
  )
  if not wavs:
    sys.exit(f"error: no {args.partition}_*.wav with labels in {args.audio_dir}")
  model = export_lib.ExportedModel(args.export)
  has_frontend = "semantic_frontend" in model.metadata
  modes = []
  if has_frontend:
    modes.append(("wav only (segmenter)", None, None))
  else:
    print(f"note: {args.export} carries no semantic frontend; wav-only semantic input is zeros")
    modes.append(("wav only (no semantic)", None, None))
  if args.word_timings:
    name = "lookup (transcript)" if args.embeddings else "speech tokens (true timings)"
    modes.append((name, args.word_timings, args.embeddings or None))
  print(f"{len(wavs)} {args.partition} recordings, export {args.export}")
  print(
    f"{'mode':<30}" + "".join(f"{n:>9}" for n in LABEL_NAMES) + f"{'mean':>9}"
    f"{'frames':>8}{'wall_s':>8}"
  )
  for name, timings, embeddings in modes:
    t0 = time.time()
    values, frames = run(model, wavs, args.labels_dir, timings, embeddings)
    print(
      f"{name:<30}" + "".join(f"{v:>9.3f}" for v in values) + f"{values.mean():>9.3f}"
      f"{frames:>8}{time.time() - t0:>8.1f}",
      flush=True,
    )


if __name__ == "__main__":
  main()
