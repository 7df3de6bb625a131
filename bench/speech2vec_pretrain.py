"""Speech2Vec pretraining at corpus scale: segments/s written and trained, peak RSS vs hours.

    python bench/speech2vec_pretrain.py [--hours 0.1,0.3,1 --epochs 1 --work DIR --workers 2]

For each size H (each in its own process, so the peak RSS is that size's alone):
  1. a Word2Vec-style text (`synthesize_lib.write_text_corpus`) spoken into H hours of
     LibriSpeech-layout audio (`data_prep.speak_text`; cached in --work, resumable);
  2. word segments written to sharded TFRecords (`pretrain_corpus.write_segments`): segments/s;
  3. Speech2Vec (default settings) trained on the stream for --epochs (default 2; the first
     includes tracing) (`speech2vec_stream.train_streamed`): centre segments/s of the last epoch;
and the process's peak RSS after each phase (ru_maxrss). Memory is bounded when the peak RSS
stays roughly flat in H. Prints the CPU model and a numpy float32 matmul GFLOP/s first.

    python bench/speech2vec_pretrain.py --synthetic 50000,500000 [--batches 300]

writes random segments (12-word recordings, 5 000 word types) instead and streams --batches
batches of 64 through `speech2vec_stream.stream_dataset` alone: peak RSS at corpus scale
(500 000 segments = about 70 h of the spoken text) without speaking it.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import cpu_model, matmul_gflops  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def peak_rss_mb() -> float:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def one_size(hours: float, work: str, epochs: int, workers: int) -> dict:
  """Runs the three phases for `hours`; returns the figures."""
  from data_prep import speak_text_lib, synthesize_lib
  from emotion_tf.semantic import (
    mfcc,
    pretrain_corpus,
    segment_shards,
    speech2vec,
    speech2vec_stream,
  )

  os.makedirs(work, exist_ok=True)
  text = os.path.join(work, "text.txt")
  if not os.path.exists(text):
    synthesize_lib.write_text_corpus(text, 20000, 0)
  spoken = os.path.join(work, f"spoken_{hours:g}h")
  t0 = time.perf_counter()
  summary = speak_text_lib.speak_corpus(spoken, speak_text_lib.SpeakConfig(text, hours), workers)
  speak_s = time.perf_counter() - t0
  rss_speak = peak_rss_mb()
  cfg = speech2vec.Speech2VecConfig(epochs=epochs)
  mcfg = mfcc.MfccConfig()
  cfg = speech2vec.Speech2VecConfig.from_dict({**cfg.to_dict(), "num_features": mcfg.num_features})
  with tempfile.TemporaryDirectory() as tmp:
    seg_dir = os.path.join(tmp, "segments")
    t0 = time.perf_counter()
    meta = pretrain_corpus.write_segments(
      [spoken], seg_dir, mcfg, cfg.max_frames, cfg.resample_frames
    )
    write_s = time.perf_counter() - t0
    rss_write = peak_rss_mb()
    norm = segment_shards.normalizer_from_meta(meta)
    first = next(segment_shards.read_recordings(seg_dir))
    probe = norm.apply(first.features, first.lengths)
    _, res = speech2vec_stream.train_streamed(
      [seg_dir], norm, cfg, os.path.join(tmp, "model"), probe, first.lengths
    )
  return {
    "hours": summary["seconds_of_audio"] / 3600,
    "words": summary["words"],
    "speak_s": speak_s,
    "segments": meta["segments"],
    "shards": meta["shards"],
    "write_segments_per_s": meta["segments"] / max(write_s, 1e-9),
    "train_segments_per_s": res.history[-1]["segments_per_second"],
    "epoch_s": res.history[-1]["seconds"],
    "rss_after_speak_mb": rss_speak,
    "rss_after_write_mb": rss_write,
    "peak_rss_mb": peak_rss_mb(),
  }


def synthetic_size(num_segments: int, batches: int, work: str) -> dict:
  """Random [24, 13] segments in recordings of 12 words written to shards, then `batches`
  batches of 64 centre words streamed (no model: the stream is the part that grows with
  the corpus); returns the figures."""
  import numpy as np

  from emotion_tf.semantic import segment_shards, segments, speech2vec_stream

  rng = np.random.default_rng(0)
  seg_dir = os.path.join(work, f"synthetic_{num_segments}")
  t0 = time.perf_counter()
  if not os.path.exists(seg_dir):
    writer = segment_shards.ShardWriter(seg_dir, 24, 13)
    for r in range(num_segments // 12):
      starts = np.arange(12) * 0.4
      writer.add(
        segments.Segments(
          rng.normal(size=(12, 24, 13)).astype(np.float32),
          np.full(12, 24, np.int32),
          [f"w{i}" for i in rng.integers(0, 5000, 12)],
          [f"r{r}"] * 12,
          starts,
          starts + 0.3,
        )
      )
    writer.close()
  write_s = time.perf_counter() - t0
  meta = segment_shards.read_meta(seg_dir)
  norm = segment_shards.normalizer_from_meta(meta)
  keep = speech2vec_stream.keep_table(meta["word_counts"], 1e-3)
  ds = speech2vec_stream.stream_dataset([seg_dir], norm, 3, 2.0, 64, 0, keep)
  t0 = time.perf_counter()
  n = 0
  for batch in ds.take(batches):
    n += int(batch[1].shape[0])
  return {
    "segments": meta["segments"],
    "shards": meta["shards"],
    "write_s": write_s,
    "stream_segments_per_s": n / (time.perf_counter() - t0),
    "peak_rss_mb": peak_rss_mb(),
  }


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--hours", default="0.1,0.3,1")
  p.add_argument("--epochs", type=int, default=2)
  p.add_argument("--workers", type=int, default=2, help="speak_text chapters in parallel")
  p.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "speech2vec_pretrain_bench"))
  p.add_argument(
    "--synthetic",
    default="",
    help="segment counts, e.g. 50000,500000: stream "
    "random segments instead of speaking (memory at corpus scale)",
  )
  p.add_argument("--batches", type=int, default=300)
  p.add_argument("--one", type=float, default=None, help=argparse.SUPPRESS)
  p.add_argument("--one_synthetic", type=int, default=None, help=argparse.SUPPRESS)
  a = p.parse_args()
  if a.one is not None:
    print(json.dumps(one_size(a.one, a.work, a.epochs, a.workers)))
    return
  if a.one_synthetic is not None:
    print(json.dumps(synthetic_size(a.one_synthetic, a.batches, a.work)))
    return
  if a.synthetic:
    synthetic_table(a)
    return
  print(
    f"CPU: {cpu_model()}, {os.cpu_count()} cores; "
    f"numpy float32 matmul {matmul_gflops():.1f} GFLOP/s",
    flush=True,
  )
  print(
    "hours  words  segments  shards  speak_s  write seg/s  train seg/s  epoch_s  "
    "RSS speak/write/train MB",
    flush=True,
  )
  for h in [float(x) for x in a.hours.split(",")]:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run(
      [
        sys.executable,
        os.path.abspath(__file__),
        "--one",
        str(h),
        "--work",
        a.work,
        "--epochs",
        str(a.epochs),
        "--workers",
        str(a.workers),
      ],
      env=env,
      capture_output=True,
      text=True,
      check=False,
    )
    if out.returncode != 0:
      print(f"{h:g} h failed:\n{out.stderr[-3000:]}", flush=True)
      continue
    r = json.loads(out.stdout.strip().splitlines()[-1])
    print(
      f"{r['hours']:5.2f}  {r['words']:5d}  {r['segments']:8d}  {r['shards']:6d}  "
      f"{r['speak_s']:7.0f}  "
      f"{r['write_segments_per_s']:11.0f}  {r['train_segments_per_s']:11.0f}  {r['epoch_s']:7.0f}  "
      f"{r['rss_after_speak_mb']:.0f}/{r['rss_after_write_mb']:.0f}/{r['peak_rss_mb']:.0f}",
      flush=True,
    )


def synthetic_table(a) -> None:
  print(
    f"CPU: {cpu_model()}, {os.cpu_count()} cores; "
    f"numpy float32 matmul {matmul_gflops():.1f} GFLOP/s",
    flush=True,
  )
  print("segments  shards  write_s  streamed seg/s  peak RSS MB", flush=True)
  for n in [int(x) for x in a.synthetic.split(",")]:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run(
      [
        sys.executable,
        os.path.abspath(__file__),
        "--one_synthetic",
        str(n),
        "--work",
        a.work,
        "--batches",
        str(a.batches),
      ],
      env=env,
      capture_output=True,
      text=True,
      check=False,
    )
    if out.returncode != 0:
      print(f"{n} segments failed:\n{out.stderr[-3000:]}", flush=True)
      continue
    r = json.loads(out.stdout.strip().splitlines()[-1])
    print(
      f"{r['segments']:8d}  {r['shards']:6d}  {r['write_s']:7.0f}  "
      f"{r['stream_segments_per_s']:14.0f}  {r['peak_rss_mb']:.0f}",
      flush=True,
    )


if __name__ == "__main__":
  main()
