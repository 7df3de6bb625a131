"""A synthetic corpus in the SEWA layout, spoken by espeak-ng, whose labels each live in one view.

Binary: flags and main; the library is data_prep/synthesize_lib.py.

    python -m data_prep.synthesize --out DIR --recordings N --seconds S --seed K \
        [--voices en+m1,en+f2,...] [--text_out FILE --text_sentences M]
"""

import os
import shutil
import time
from typing import Sequence

from absl import flags
from absl import logging

from data_prep import synthesize_lib
from emotion_tf import cli


def define_flags() -> None:
  flags.DEFINE_string("out", None, "Output corpus directory.")
  flags.DEFINE_integer("recordings", 40, "Number of recordings (50/25/25 % Train/Devel/Test).")
  flags.DEFINE_float("seconds", 60.0, "Length of each recording in seconds.")
  flags.DEFINE_integer("seed", 0, "Random seed (output is byte-identical per seed).")
  flags.DEFINE_list("voices", list(synthesize_lib.DEFAULT_VOICES), "espeak-ng voices used as speakers.")
  flags.DEFINE_integer("num_workers", max(1, min(2, os.cpu_count() or 1)), "Worker processes.")
  flags.DEFINE_integer("content_words", synthesize_lib.SynthConfig.content_words, "Content vocabulary size.")
  flags.DEFINE_string("text_out", "", "If set, also write a text corpus here (one sentence a line).")
  flags.DEFINE_integer("text_sentences", 50000, "Sentences written to --text_out.")
  flags.mark_flags_as_required(["out"])


def main(argv: Sequence[str]) -> int:
  del argv
  f = flags.FLAGS
  if shutil.which("espeak-ng") is None:
    logging.error("espeak-ng is not installed (apt-get install espeak-ng)")
    return 2
  config = synthesize_lib.SynthConfig(content_words=f.content_words)
  summary = synthesize_lib.synthesize_corpus(f.out, f.recordings, f.seconds, f.seed, f.voices, f.num_workers,
                              config)
  print(f"wrote {len(summary['recordings'])} recordings ({summary['seconds_of_audio']:.0f} s of "
        f"audio, {summary['espeak_calls']} espeak-ng calls) to {f.out} in {summary['wall_s']:.1f} s")
  if f.text_out:
    t0 = time.time()
    synthesize_lib.write_text_corpus(f.text_out, f.text_sentences, f.seed, config)
    print(f"wrote {f.text_sentences} sentences to {f.text_out} in {time.time() - t0:.1f} s")
  return 0


def console_main() -> None:
  """Entry point of the `emotion-tf-synthesize` console script."""
  define_flags()
  cli.run(main)


if __name__ == "__main__":
  console_main()
