"""TFRecord writer: a SEWA-layout corpus + word vectors -> 10 s chunk shards (emotion_tf.data.schema).

Binary: flags and main; the library is data_prep/write_tfrecords_lib.py.

    python -m data_prep.write_tfrecords --corpus DIR --embeddings FILE.vec --out DIR \
        [--word_timings DIR] [--num_workers 2] [--num_shards 1 --shard_index 0] \
        [--records_per_shard 8 | --shards_per_partition N] [--label_tolerance_s 1.0] \
        [--oov zeros|hash] [--audio_dtype float32|int16]
"""

import os
import sys
from typing import Dict, Sequence

from absl import flags

from data_prep import write_tfrecords_lib
from emotion_tf import cli
from emotion_tf.data import corpus
from emotion_tf.semantic import vectors as vec_io


def define_flags() -> None:
  flags.DEFINE_string("corpus", None, "SEWA-layout corpus directory.")
  flags.DEFINE_string("embeddings", None, "Word vectors (.vec text format).")
  flags.DEFINE_string("out", None, "Output directory for shards and metadata.")
  flags.DEFINE_string("word_timings", "", "Directory of <id>.csv / <id>.TextGrid word timings; "
                      "empty = uniform split of the transcripts.")
  flags.DEFINE_integer("num_workers", max(1, min(2, os.cpu_count() or 1)), "Worker processes.")
  flags.DEFINE_integer("num_shards", 1, "Split the work into this many machine slices.")
  flags.DEFINE_integer("shard_index", 0, "The slice this machine writes (0..num_shards-1).")
  flags.DEFINE_integer("records_per_shard", 8, "Recordings per output shard.")
  flags.DEFINE_integer("shards_per_partition", 0, "If > 0, shards per partition "
                       "(overrides --records_per_shard).")
  flags.DEFINE_float("label_tolerance_s", 1.0, "Max |label duration - audio duration| (s).")
  flags.DEFINE_enum("oov", "zeros", ["zeros", "hash"], "Vector of words missing from the "
                    "embeddings: zeros, or a deterministic per-word vector.")
  flags.DEFINE_enum("audio_dtype", "float32", ["float32", "int16"], "Audio storage.")
  flags.DEFINE_list("partitions", ["train", "devel", "test"], "Partitions to write.")
  flags.mark_flags_as_required(["corpus", "embeddings", "out"])


def format_report(result: Dict[str, object]) -> str:
  """A table of per-recording reports and a summary line."""
  lines = [f"{'recording':<16}{'status':<8}{'dur_s':>8}{'frames':>8}{'words':>7}{'oov':>7}"
           f"{'gap_s':>8}"]
  for r in result["recordings"]:
    lines.append(f"{r['recording_id']:<16}{r['status']:<8}{r.get('duration_s', float('nan')):>8.1f}"
                 f"{r.get('frames', 0):>8}{r.get('words', 0):>7}{r.get('oov_rate', 0.0):>7.2f}"
                 f"{r.get('label_audio_gap_s', float('nan')):>8.2f}")
  for rid, err in result["errors"].items():
    lines.append(f"FAILED {rid}: {err}")
  lines.append(f"{len(result['recordings']) - len(result['failed'])} recordings written, "
               f"{len(result['failed'])} failed; shards written {len(result['shards_written'])}, "
               f"skipped {len(result['shards_skipped'])}; {result['audio_seconds']:.0f} s audio "
               f"in {result['wall_s']:.1f} s")
  return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
  del argv
  f = flags.FLAGS
  try:
    result = write_tfrecords_lib.write_tfrecords(
        f.corpus, f.embeddings, f.out, word_timings_dir=f.word_timings or None,
        num_workers=f.num_workers, num_shards=f.num_shards, shard_index=f.shard_index,
        records_per_shard=f.records_per_shard, shards_per_partition=f.shards_per_partition,
        label_tolerance_s=f.label_tolerance_s, oov=f.oov, audio_dtype=f.audio_dtype,
        partitions=f.partitions, progress=True)
  except (vec_io.VecFormatError, corpus.CorpusError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  print(format_report(result))
  print(f"report: {os.path.join(f.out, write_tfrecords_lib.REPORT_FILE)}")
  return 0 if result["ok"] else 1


def console_main() -> None:
  """Entry point of the `emotion-tf-write-tfrecords` console script."""
  define_flags()
  cli.run(main)


if __name__ == "__main__":
  console_main()
