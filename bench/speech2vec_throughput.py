"""Prints Speech2Vec training throughput (centre word segments/s; each with up to 2k neighbours).

    python bench/speech2vec_throughput.py [--segments 2000 --epochs 2 --frames 40 --units 128
        --dim 100]

Synthetic MFCC segments (random lengths 20..frames frames, 13 features) in recordings of
200 words, so the numbers measure the model, not the front end. The first epoch includes
tracing; the figure printed is from the last epoch.
"""

import argparse
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from emotion_tf.semantic import mfcc, segments, speech2vec


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--segments", type=int, default=2000)
  p.add_argument("--epochs", type=int, default=2)
  p.add_argument("--frames", type=int, default=40)
  p.add_argument("--units", type=int, default=128)
  p.add_argument("--dim", type=int, default=100)
  p.add_argument("--batch", type=int, default=32)
  a = p.parse_args()
  rng = np.random.default_rng(0)
  n = a.segments
  lengths = rng.integers(20, a.frames + 1, size=n).astype(np.int32)
  feats = rng.normal(size=(n, a.frames, 13)).astype(np.float32)
  feats *= np.arange(a.frames)[None, :, None] < lengths[:, None, None]
  starts = np.arange(n) * 0.5
  segs = segments.Segments(
    feats,
    lengths,
    [f"w{i % 300}" for i in range(n)],
    [f"Train_{i // 200}" for i in range(n)],
    starts,
    starts + 0.4,
  )
  norm = mfcc.Normalizer.fit(feats, lengths)
  cfg = speech2vec.Speech2VecConfig(
    max_frames=a.frames,
    encoder_units=a.units,
    decoder_units=a.units,
    embedding_dim=a.dim,
    batch_size=a.batch,
    epochs=a.epochs,
  )
  with tempfile.TemporaryDirectory() as d:
    _, res = speech2vec.train(segs, norm, cfg, d)
  print(
    f"speech2vec training: {res.history[-1]['segments_per_second']:.0f} centre segments/s "
    f"(x{2 * cfg.window} neighbour sequences decoded), units {a.units}, d_s {a.dim}, "
    f"batch {a.batch}, "
    f"<= {a.frames} frames; epoch 1 (with tracing) {res.history[0]['segments_per_second']:.0f}/s"
  )


if __name__ == "__main__":
  main()
