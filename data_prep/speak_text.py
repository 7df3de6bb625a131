"""Speaks a text corpus with many voices into a LibriSpeech-layout Speech2Vec pretraining corpus.

Binary: flags and main; the library (layout, prosody, resuming) is data_prep/speak_text_lib.py.

    python -m data_prep.speak_text --text FILE --out DIR --hours H [--voices en+m1,flite:slt,...] \
        [--seed K --utterances_per_chapter 20 --num_workers 2]

Exit codes (emotion_tf.util.cli): 0 done; 2 bad arguments (missing/empty text, a voice espeak-ng or
flite cannot speak, hours <= 0, an --out spoken with other settings); 130 interrupted (a rerun
resumes).
"""

from collections.abc import Sequence

from absl import flags

from data_prep import speak_text_lib
from emotion_tf.util import cli, fileio


def define_flags() -> None:
  flags.DEFINE_string(
    "text",
    None,
    "Text corpus, one sentence a line (e.g. the --text_out of python -m data_prep.synthesize).",
  )
  flags.DEFINE_string("out", None, "Output corpus directory (LibriSpeech layout).")
  flags.DEFINE_float(
    "hours", 1.0, "Hours of audio to speak (a rerun with more extends the corpus)."
  )
  flags.DEFINE_list(
    "voices",
    list(speak_text_lib.DEFAULT_VOICES),
    "espeak-ng voices and flite voices written flite:<name>; one speaker each.",
  )
  flags.DEFINE_integer("seed", 0, "Random seed (output is byte-identical per seed).")
  flags.DEFINE_integer("utterances_per_chapter", 20, "Sentences per chapter (one voice each).")
  flags.DEFINE_integer("num_workers", 1, "Chapters spoken in parallel.")
  flags.mark_flags_as_required(["text", "out"])


def main(argv: Sequence[str]) -> int:
  del argv
  f = flags.FLAGS
  if f.hours <= 0:
    raise cli.InputError(f"--hours must be > 0, got {f.hours}")
  if f.utterances_per_chapter < 1 or f.num_workers < 1:
    raise cli.InputError("--utterances_per_chapter and --num_workers must be >= 1")
  config = speak_text_lib.SpeakConfig(
    f.text, f.hours, tuple(f.voices), f.seed, f.utterances_per_chapter
  )
  try:
    fileio.check_output_dir(f.out)
    summary = speak_text_lib.speak_corpus(f.out, config, f.num_workers)
  except ValueError as e:  # includes corpus.CorpusError, fileio.OutputPathError
    raise cli.InputError(str(e)) from e
  print(
    f"spoke {summary['utterances']} utterances ({summary['words']} words, "
    f"{summary['seconds_of_audio'] / 3600:.2f} h) in {summary['chapters']} chapters with "
    f"{len(summary['voices_used'])} voices to {f.out} in {summary['wall_s']:.0f} s"
  )
  return cli.EXIT_OK


def console_main() -> None:
  """Entry point of the `emotion-tf-speak-text` console script."""
  define_flags()
  cli.run(main)


if __name__ == "__main__":
  console_main()
