"""TFRecord writer: a SEWA-layout corpus + word vectors -> 10 s chunk shards
(emotion_tf.data.schema).

Binary: flags and main; the library is data_prep/write_tfrecords_lib.py.

    python -m data_prep.write_tfrecords --corpus DIR --embeddings FILE.vec --out DIR \
        [--word_timings DIR] [--num_workers 2] [--num_shards 1 --shard_index 0] \
        [--records_per_shard 8 | --shards_per_partition N] [--label_tolerance_s 1.0] \
        [--oov zeros|hash] [--audio_dtype float32|int16] [--resample_labels]
        [--allow_truncated_audio]
"""

import os
import sys
from collections.abc import Sequence

from absl import flags

from data_prep import write_tfrecords_lib
from emotion_tf.util import cli
from emotion_tf.util import config as config_lib


def define_flags() -> None:
  config_lib.define_flags_for(write_tfrecords_lib.WriteJobConfig)


def format_report(result: dict[str, object]) -> str:
  """A table of per-recording reports and a summary line."""
  lines = [
    f"{'recording':<16}{'status':<8}{'dur_s':>8}{'frames':>8}{'words':>7}{'oov':>7}{'gap_s':>8}"
  ]
  for r in result["recordings"]:
    lines.append(
      f"{r['recording_id']:<16}{r['status']:<8}{r.get('duration_s', float('nan')):>8.1f}"
      f"{r.get('frames', 0):>8}{r.get('words', 0):>7}{r.get('oov_rate', 0.0):>7.2f}"
      f"{r.get('label_audio_gap_s', float('nan')):>8.2f}"
    )
  for rid, err in result["errors"].items():
    lines.append(f"FAILED {rid}: {err}")
  for warning in result.get("warnings", ()):
    lines.append(f"WARNING {warning}")
  lines.append(
    f"{len(result['recordings']) - len(result['failed'])} recordings written, "
    f"{len(result['failed'])} failed; shards written {len(result['shards_written'])}, "
    f"skipped {len(result['shards_skipped'])}; {result['audio_seconds']:.0f} s audio "
    f"in {result['wall_s']:.1f} s"
  )
  return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
  del argv
  f = flags.FLAGS
  config = config_lib.resolve(write_tfrecords_lib.WriteJobConfig, f)
  missing = [f"--{name}" for name in ("corpus", "embeddings", "out") if not getattr(config, name)]
  if missing:
    cli.usage_error(f"{', '.join(missing)} required")
  try:
    result = write_tfrecords_lib.write_tfrecords(config, progress=True)
  except ValueError as e:  # VecFormatError, CorpusError, OutputPathError, LockError
    raise cli.InputError(str(e)) from e
  except KeyboardInterrupt:
    if write_tfrecords_lib.PROGRESS_LINE_OPEN[0]:
      sys.stderr.write("\n")  # cli.run's one-line message goes on a line of its own
    raise
  print(format_report(result))
  print(f"report: {os.path.join(f.out, write_tfrecords_lib.REPORT_FILE)}")
  for error in result["errors"].values():  # a full disk / unwritable path: one line, exit 1
    disk = cli.write_failure_in_text(error)
    if disk:
      sys.stderr.write(f"error: {disk}\n")
      return cli.EXIT_FAILURE
  return 0 if result["ok"] else 1


def console_main() -> None:
  """Entry point of the `emotion-tf-write-tfrecords` console script."""
  define_flags()
  cli.run(main)


if __name__ == "__main__":
  console_main()
