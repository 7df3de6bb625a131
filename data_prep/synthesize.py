"""A synthetic corpus in the SEWA layout, spoken by espeak-ng, whose labels each live in one view.

Binary: flags and main; the library is data_prep/synthesize_lib.py (design 'sewa'),
data_prep/synthesize_podcast.py (design 'podcast') and data_prep/synthesize_zipf.py (design
'zipf': Zipf-distributed lexicon words, most Test words unseen in Train).

    python -m data_prep.synthesize --out DIR [--design sewa|podcast|zipf]
        [--recordings N | --split 8,4,4]
        [--seconds S --seed K --voices en+m1,en+f2,...] [--interlocutor]
        [--text_out FILE --text_sentences M] [--rt60 S --snr DB --sample_rate HZ --channels N]
        [--room_partitions test]

Voices: espeak-ng voices, or flite voices written `flite:<name>` (`flite -lv`; e.g.
--voices flite:slt,flite:kal16,flite:rms,flite:awb). Room acoustics (design 'sewa'; without
these flags the output is the design's, byte for byte): --rt60 synthetic reverberation time,
--snr white noise against the speech power, --sample_rate / --channels of the written wavs,
--room_partitions the partitions recorded in that room (default all; `test` gives a Test room
that Train and Devel never heard).

Exit codes (emotion_tf.util.cli): 0 done, 2 bad arguments (checked before any work), 130
interrupted;
a rerun resumes.
"""

import os
import time
from collections.abc import Sequence

from absl import flags

from data_prep import synthesize_designs, synthesize_lib
from emotion_tf.util import cli


def define_flags() -> None:
  flags.DEFINE_enum(
    "design",
    "sewa",
    list(synthesize_designs.DESIGNS),
    "Corpus design: 'sewa' (arousal in prosody, valence in words, word_timings/, "
    "22.05 kHz mono) or 'podcast' (sentence transcripts only, 48 kHz stereo, "
    "other voices/vocabulary/labels; see data_prep/synthesize_podcast.py) or "
    "'zipf' (as 'sewa', content words from the whole VADER lexicon with Zipf "
    "frequencies, mostly partition-specific: most Test words unseen in Train; "
    "see data_prep/synthesize_zipf.py).",
  )
  flags.DEFINE_string("out", None, "Output corpus directory.")
  flags.DEFINE_integer(
    "recordings",
    None,
    "Number of recordings (50/25/25 % Train/Devel/Test); default 40 (sewa) or 16 (podcast).",
  )
  flags.DEFINE_list(
    "split",
    None,
    "Recordings per partition 'train,devel,test' (e.g. 8,4,4), "
    "instead of the 50/25/25 % split of --recordings.",
  )
  flags.DEFINE_float("seconds", 60.0, "Length of each recording in seconds.")
  flags.DEFINE_integer("seed", 0, "Random seed (output is byte-identical per seed).")
  flags.DEFINE_list(
    "voices",
    None,
    "espeak-ng voices used as speakers (split 50/25/25 % over "
    "the partitions); default: the design's voices.",
  )
  flags.DEFINE_integer("num_workers", max(1, min(2, os.cpu_count() or 1)), "Worker processes.")
  flags.DEFINE_integer("content_words", None, "Content vocabulary size; default: the design's.")
  flags.DEFINE_bool(
    "interlocutor",
    False,
    "Podcast design only: a conversation partner (other "
    "espeak-ng voices) speaks in pauses between the subject's sentences; turns/, "
    "transcriptions/ and labels/ stay the subject's (see "
    "data_prep/synthesize_podcast.py).",
  )
  flags.DEFINE_string(
    "text_out",
    "",
    "If set, also write a text corpus here (one sentence a "
    "line) from the design's vocabulary and templates.",
  )
  flags.DEFINE_integer("text_sentences", 50000, "Sentences written to --text_out.")
  flags.DEFINE_float("rt60", 0.0, "Reverberation time (s) of a synthetic room (0: dry).")
  flags.DEFINE_float("drr", 0.0, "Direct-to-reverberant ratio (dB) of that room.")
  flags.DEFINE_float("snr", None, "White noise at this SNR (dB) against the speech power.")
  flags.DEFINE_list(
    "room_partitions",
    ["train", "devel", "test"],
    "Partitions recorded in the --rt60/--snr room; the others stay dry (e.g. test: Test in "
    "a room Train and Devel never heard).",
  )
  flags.DEFINE_integer("sample_rate", 0, "Sample rate of the written wavs (0: the design's).")
  flags.DEFINE_integer("channels", 0, "Channels of the written wavs (0: the design's).")
  flags.mark_flags_as_required(["out"])


def main(argv: Sequence[str]) -> int:
  del argv
  f = flags.FLAGS
  if f.text_out:
    synthesize_lib.check_output_file(f.text_out, "--text_out")
    if f.text_sentences < 1:
      raise cli.InputError(f"--text_sentences must be at least 1, got {f.text_sentences}")
  try:
    split = None if f.split is None else [int(n) for n in f.split]
  except ValueError as e:
    raise cli.InputError(f"--split must be three integers train,devel,test, got {f.split}") from e
  room = {}
  if f.rt60:
    room.update(rt60_s=f.rt60, drr_db=f.drr)
  if f.snr is not None:
    room["snr_db"] = f.snr
  if room and f.room_partitions != ["train", "devel", "test"]:
    room["room_partitions"] = tuple(p.strip().lower() for p in f.room_partitions if p.strip())
  if f.sample_rate:
    room["out_rate"] = f.sample_rate
  if f.channels:
    room["channels"] = f.channels
  summary = synthesize_designs.synthesize_design(
    f.design,
    f.out,
    f.recordings,
    f.seconds,
    f.seed,
    f.voices,
    f.num_workers,
    f.content_words,
    split,
    f.interlocutor,
    room or None,
  )
  overlap = summary.get("vocabulary_overlap")
  if overlap:
    t = overlap["test"]
    print(
      f"Test content words seen in Train: {t['tokens_seen_in_train'] or 0:.0%} of "
      f"{t['content_tokens']} tokens, {t['types_seen_in_train'] or 0:.0%} of "
      f"{t['content_types']} types"
    )
  print(
    f"wrote {len(summary['recordings'])} recordings ({summary['seconds_of_audio']:.0f} s of "
    f"audio, {summary['espeak_calls']} espeak-ng calls, {summary['resumed']} already "
    f"complete) to {f.out} in {summary['wall_s']:.1f} s"
  )
  if f.text_out:
    t0 = time.time()
    synthesize_designs.write_design_text(
      f.design, f.text_out, f.text_sentences, f.seed, f.content_words
    )
    print(f"wrote {f.text_sentences} sentences to {f.text_out} in {time.time() - t0:.1f} s")
  return 0


def console_main() -> None:
  """Entry point of the `emotion-tf-synthesize` console script."""
  define_flags()
  cli.run(main)


if __name__ == "__main__":
  console_main()
