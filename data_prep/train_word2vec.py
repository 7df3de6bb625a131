"""Word2Vec text space (Sec. 3.1): gensim skip-gram trained on transcript text.

Binary: flags and main; the library is data_prep/train_word2vec_lib.py.

    python -m data_prep.train_word2vec --text FILE[,FILE...] --out FILE.vec \
        [--dim 100 --window 5 --min_count 2 --epochs 10 --workers 1 --seed 0]
"""

import time
from collections.abc import Sequence

from absl import flags, logging

from data_prep import lexicon, train_word2vec_lib
from emotion_tf.semantic import quality
from emotion_tf.util import cli, fileio


def define_flags() -> None:
  flags.DEFINE_list("text", [], "Text corpus file(s), one sentence per line.")
  flags.DEFINE_string("out", None, "Output .vec file.")
  flags.DEFINE_integer("dim", 100, "Vector dimension d_t.")
  flags.DEFINE_integer("window", 5, "Skip-gram context window (words each side).")
  flags.DEFINE_integer("min_count", 2, "Ignore words rarer than this.")
  flags.DEFINE_integer("epochs", 10, "Training epochs.")
  flags.DEFINE_integer("workers", 1, "Worker threads (1 = deterministic with --seed).")
  flags.DEFINE_integer("seed", 0, "Random seed.")
  flags.DEFINE_bool(
    "probe",
    True,
    "Also log/write the valence linear probe of the text vectors "
    "(<out>.quality.json) as a reference for Speech2Vec's.",
  )
  flags.mark_flags_as_required(["out"])


def main(argv: Sequence[str]) -> int:
  del argv
  f = flags.FLAGS
  t0 = time.time()
  try:
    fileio.check_output_file(f.out)
    if f.probe:
      fileio.check_output_file(train_word2vec_lib.quality_path(f.out), "--out (quality report)")
    sentences = train_word2vec_lib.read_sentences(f.text)
    kv, history = train_word2vec_lib.train_word2vec(
      sentences, f.dim, f.window, f.min_count, f.epochs, f.workers, f.seed
    )
  except ValueError as e:
    raise cli.InputError(str(e)) from e
  words, vecs = train_word2vec_lib.save_vec(kv, f.out)
  report = {
    "vocabulary": len(words),
    "dim": f.dim,
    "sentences": len(sentences),
    "history": history,
    "wall_s": time.time() - t0,
  }
  if f.probe:
    report["valence_probe"] = quality.valence_probe(
      words, vecs, lexicon.load_valence_lexicon(), seed=f.seed
    )
    logging.info(
      "word2vec valence probe: R^2 %.3f vs shuffled %.3f over %d lexicon words",
      report["valence_probe"]["r2"],
      report["valence_probe"]["r2_shuffled"],
      report["valence_probe"]["words"],
    )
    fileio.write_json(train_word2vec_lib.quality_path(f.out), report)
  print(
    f"word2vec: {len(words)} words x {f.dim} written to {f.out} in {report['wall_s']:.1f} s"
    + (
      f"; valence probe R^2 {report['valence_probe']['r2']:.3f} "
      f"(shuffled {report['valence_probe']['r2_shuffled']:.3f})"
      if f.probe
      else ""
    )
  )
  return 0


def console_main() -> None:
  """Entry point of the `emotion-tf-train-word2vec` console script."""
  define_flags()
  cli.run(main)


if __name__ == "__main__":
  console_main()
