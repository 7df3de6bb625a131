"""Trains Speech2Vec on a corpus's word segments and writes its vectors, encoder and quality checks.

Binary: flags and main; the library is data_prep/train_speech2vec_lib.py.

    python -m data_prep.train_speech2vec --corpus DIR [--word_timings DIR] --out DIR \
        [--train_partitions train --embed_partitions train,devel,test --epochs 10 ...] \
        [--pretrain_corpus LIBRISPEECH_DIR ... --pretrain_timings DIR --segments_dir DIR ...]
"""

import sys
from collections.abc import Sequence

import tensorflow as tf
from absl import flags, logging

from data_prep import lexicon as lexicon_lib
from data_prep import train_speech2vec_lib
from emotion_tf.data import word_timings
from emotion_tf.semantic import mfcc as mfcc_lib
from emotion_tf.semantic import speech2vec
from emotion_tf.util import cli, fileio
from emotion_tf.util import config as config_lib


def define_flags() -> None:
  flags.DEFINE_string("corpus", None, "Corpus directory (SEWA layout).")
  flags.DEFINE_string(
    "word_timings",
    "",
    "Directory of <id>.csv / <id>.TextGrid word timings "
    "(default: uniform split of the transcripts).",
  )
  flags.DEFINE_string("out", None, "Output directory.")
  flags.DEFINE_list(
    "train_partitions", ["train"], "Partitions that train the model and normaliser."
  )
  flags.DEFINE_list(
    "embed_partitions", ["train", "devel", "test"], "Partitions embedded into type vectors."
  )
  flags.DEFINE_multi_string(
    "extra_corpus",
    [],
    "Extra corpus directory (repeatable) whose recordings, all "
    "partitions, are added to the training segments only (unlabelled speech, "
    "like Word2Vec's text corpus); never used for vectors or quality checks.",
  )
  flags.DEFINE_multi_string(
    "pretrain_corpus",
    [],
    "LibriSpeech-layout pretraining corpus "
    "(repeatable; e.g. python -m data_prep.speak_text output): its word "
    "segments are written once to <out>/pretrain_segments and streamed "
    "beside the training segments (bounded memory).",
  )
  flags.DEFINE_string(
    "pretrain_timings",
    "",
    "Directory of <utterance id>.csv/.TextGrid word spans "
    "of the pretraining corpora (default: <id>.TextGrid or <id>.csv beside the audio).",
  )
  flags.DEFINE_multi_string(
    "segments_dir",
    [],
    "Segments directory (repeatable; e.g. an earlier run's "
    "<out>/pretrain_segments) streamed beside the training segments.",
  )
  flags.DEFINE_bool("deltas", False, "Append MFCC deltas and delta-deltas (39 features).")
  flags.DEFINE_bool(
    "segment_cvn",
    True,
    "Per-segment MFCC variance normalisation (after per-segment mean "
    "normalisation): removes loudness/pitch-range scale shared by neighbouring words.",
  )
  config_lib.define_flags_for(speech2vec.Speech2VecConfig)
  flags.DEFINE_enum(
    "distribute",
    "default",
    ["default", "mirrored", "multi_worker"],
    "tf.distribute strategy: current default, MirroredStrategy over local GPUs, "
    "or MultiWorkerMirroredStrategy from TF_CONFIG.",
  )
  flags.DEFINE_bool("probe", True, "Run the VADER valence probe.")
  flags.mark_flags_as_required(["corpus", "out"])


def _strategy(name: str) -> tf.distribute.Strategy:
  if name == "mirrored":
    return tf.distribute.MirroredStrategy()
  if name == "multi_worker":
    return tf.distribute.MultiWorkerMirroredStrategy()
  return tf.distribute.get_strategy()


def main(argv: Sequence[str]) -> int:
  del argv
  f = flags.FLAGS
  mfcc_config = mfcc_lib.MfccConfig(deltas=f.deltas, segment_cvn=f.segment_cvn)
  config = config_lib.resolve(speech2vec.Speech2VecConfig, f)
  lexicon = None
  try:
    fileio.check_output_dir(f.out)
    if f.probe:
      lexicon = lexicon_lib.load_valence_lexicon()
    report = train_speech2vec_lib.run(
      f.corpus,
      f.out,
      word_timings.resolve_timings_dir(f.corpus, f.word_timings),
      mfcc_config,
      config,
      f.train_partitions,
      f.embed_partitions,
      lexicon,
      _strategy(f.distribute),
      f.extra_corpus,
      f.pretrain_corpus,
      f.segments_dir,
      f.pretrain_timings or None,
    )
  except speech2vec.CollapseError as e:
    logging.error("%s", e)
    sys.stderr.write(f"error: {e}\n")
    return cli.EXIT_FAILURE
  except ValueError as e:  # includes corpus.CorpusError, fileio.OutputPathError
    raise cli.InputError(str(e)) from e
  sd = report["same_different"]
  line = (
    f"speech2vec: {report['vocabulary']} words, {report['train_segments']} training segments; "
    f"same-different AP {sd['trained_ap']:.3f} trained vs {sd['untrained_ap']:.3f} untrained "
    f"(chance {sd['chance_ap']:.3f})"
  )
  if "valence_probe" in report:
    vp = report["valence_probe"]
    line += f"; valence probe R^2 {vp['r2']:.3f} vs {vp['r2_shuffled']:.3f} shuffled"
  if report.get("pretraining"):
    line += f"; streamed {report['pretraining']['streamed_segments']} segments"
  print(line + f"; {report['wall_s']:.0f} s")
  if report["segments"]["failed"]:
    print(
      f"{len(report['segments']['failed'])} recording(s) failed: {report['segments']['failed']}"
    )
    return cli.EXIT_FAILURE
  pre_failed = (report.get("pretraining") or {}).get("failures")
  if pre_failed:
    print(
      f"{len(pre_failed)} pretraining utterance(s) failed (the others were used): "
      f"{dict(list(pre_failed.items())[:5])}"
    )
    return cli.EXIT_FAILURE
  return cli.EXIT_OK


def console_main() -> None:
  """Entry point of the `emotion-tf-train-speech2vec` console script."""
  define_flags()
  cli.run(main)


if __name__ == "__main__":
  console_main()
