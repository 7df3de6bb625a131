"""Forced alignment of a corpus' sentence transcripts to word timings.

    python -m data_prep.align_words --corpus DIR [--out DIR/word_timings] \
        [--method auto|acoustic|tts_dtw|uniform] [--language en] [--voice VOICE] \
        [--partitions train,devel,test] [--num_workers 2] [--force]

Writes `<out>/<id>.csv` rows `s<sentence>w<word>;start;end;word` (the word_timings CSV format)
for every recording with a `transcriptions/<id>.csv`, and beside it `<id>.methods.json`: which
method produced each sentence. Methods (data_prep.forced_alignment): `auto` (default) aligns
each sentence with the acoustic model (pocketsphinx, English; data_prep.acoustic_alignment),
falls back to TTS + DTW (espeak-ng), then to the uniform split; `acoustic`, `tts_dtw` and
`uniform` use one method (falling back to the uniform split). The summary prints the sentence
counts per method. A rerun skips recordings whose output is newer than their audio and
transcription and was made with the same settings. A recording that fails (missing/corrupt
audio, malformed transcript) is reported by name and the others are still written; the exit
code is then 1. Exit 2: missing corpus, no transcriptions, unknown --voice, or the --method's
aligner missing (tts_dtw: espeak-ng; acoustic: pocketsphinx, or a non-English --language
without --acoustic_model).
"""

import os
import sys
from collections.abc import Sequence

from emotion_tf.util import cli


def define_flags() -> None:
  from absl import flags

  flags.DEFINE_string("corpus", None, "SEWA-layout corpus directory.", required=True)
  flags.DEFINE_string("out", "", "Output directory (default: <corpus>/word_timings).")
  flags.DEFINE_list("partitions", ["train", "devel", "test"], "Partitions to align.")
  flags.DEFINE_enum(
    "method",
    "auto",
    ["auto", "acoustic", "tts_dtw", "uniform"],
    "auto: acoustic model, then TTS + DTW, then uniform split, per sentence.",
  )
  flags.DEFINE_string(
    "language",
    "en",
    "Language of the speech (the acoustic model is used "
    "for en* or with --acoustic_model; otherwise TTS + DTW).",
  )
  flags.DEFINE_string(
    "acoustic_model",
    "",
    "CMU Sphinx acoustic model directory (default: pocketsphinx's bundled US-English model).",
  )
  flags.DEFINE_string(
    "acoustic_dict",
    "",
    "Pronunciation dictionary of --acoustic_model (default: the bundled CMUdict).",
  )
  flags.DEFINE_string(
    "voice", "", "espeak-ng voice of the TTS + DTW reference (default: --language)."
  )
  flags.DEFINE_integer("rate", 175, "espeak-ng speaking rate of the reference (words/min).")
  flags.DEFINE_integer("num_workers", max(1, min(2, os.cpu_count() or 1)), "Worker processes.")
  flags.DEFINE_bool("force", False, "Re-align recordings whose output is already up to date.")


def main(argv: Sequence[str]) -> int:
  from absl import flags

  from data_prep import forced_alignment as fa
  from emotion_tf.data import corpus

  if len(argv) > 1:
    cli.usage_error(f"unexpected arguments: {argv[1:]}")
  f = flags.FLAGS
  out = f.out or os.path.join(f.corpus, "word_timings")
  try:
    partitions = corpus.normalize_partitions(f.partitions)
  except ValueError as e:
    cli.usage_error(f"--partitions: {e}")
  config = fa.AlignConfig(
    method=f.method,
    language=f.language,
    voice=f.voice or f.language,
    rate=f.rate,
    acoustic_model=f.acoustic_model,
    acoustic_dict=f.acoustic_dict,
  )
  try:
    result = fa.align_corpus(f.corpus, out, partitions, config, f.num_workers, f.force)
  except (corpus.CorpusError, fa.AlignmentError) as e:
    raise cli.InputError(str(e)) from e
  counts, methods = {}, {m: 0 for m in fa.SENTENCE_METHODS}
  for r in result["recordings"]:
    for m, n in (r.get("methods") or {}).items():
      methods[m] = methods.get(m, 0) + int(n)
    counts[r["status"]] = counts.get(r["status"], 0) + 1
    if r["status"] == "failed":
      sys.stderr.write(f"FAILED {r['recording_id']}: {r['error']}\n")
  words = sum(r.get("words", 0) for r in result["recordings"])
  sys.stdout.write(
    f"{counts.get('aligned', 0)} recordings aligned ({words} words), "
    f"{counts.get('skipped', 0)} up to date, {counts.get('no_transcript', 0)} without "
    f"transcript, {counts.get('failed', 0)} failed; {out} in {result['wall_s']:.1f} s\n"
    "sentences by method: " + ", ".join(f"{m} {n}" for m, n in methods.items()) + "\n"
  )
  return cli.EXIT_OK if result["ok"] else cli.EXIT_FAILURE


def console_main() -> None:
  """Entry point of the `emotion-tf-align-words` console script."""
  define_flags()
  cli.run(main)


if __name__ == "__main__":
  console_main()
