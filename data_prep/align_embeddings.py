"""Aligns Speech2Vec to Word2Vec (paper Eq. 1-3) and reports P@1/P@5.

Binary: flags and main; the library is data_prep/align_embeddings_lib.py.

    python -m data_prep.align_embeddings --speech S.vec --text T.vec --out DIR \
        [--method supervised|unsupervised] [--init adversarial,similarity] [--adv_epochs 5 ...]
"""

from collections.abc import Sequence

from absl import flags

from data_prep import align_embeddings_lib, lexicon
from emotion_tf.semantic import alignment
from emotion_tf.util import cli, fileio


def define_flags() -> None:
  d = alignment.AlignConfig()
  flags.DEFINE_string("speech", None, "Speech2Vec .vec (frequency order).")
  flags.DEFINE_string("text", None, "Word2Vec .vec (frequency order).")
  flags.DEFINE_string("out", None, "Output directory.")
  flags.DEFINE_enum(
    "method",
    align_embeddings_lib.METHODS[0],
    list(align_embeddings_lib.METHODS),
    "supervised: Procrustes (Eq. 3) on the known dictionary (the same word in both "
    ".vec files), for spaces from transcribed data; unsupervised: the paper's "
    "adversarial game + refinement (Eq. 1-3), no pair used.",
  )
  flags.DEFINE_list(
    "init",
    list(alignment.INIT_METHODS),
    "Unsupervised initialisations, best by criterion (--method unsupervised).",
  )
  flags.DEFINE_float("eval_fraction", 0.3, "Fraction of shared words held out for P@k.")
  flags.DEFINE_integer("adv_epochs", d.adv_epochs, "Adversarial epochs.")
  flags.DEFINE_integer("adv_iterations", d.adv_iterations, "Adversarial iterations per epoch.")
  flags.DEFINE_integer(
    "adv_most_frequent", d.adv_most_frequent, "Sample adversarial batches from these (0 = all)."
  )
  flags.DEFINE_integer("dis_hidden", d.dis_hidden, "Discriminator hidden units.")
  flags.DEFINE_integer(
    "refine_iterations", d.refine_iterations, "Procrustes refinement iterations."
  )
  flags.DEFINE_integer(
    "dico_max_rank", d.dico_max_rank, "Dictionary from the k most frequent words (0 = all)."
  )
  flags.DEFINE_integer("csls_k", d.csls_k, "CSLS neighbourhood size.")
  flags.DEFINE_integer("seed", d.seed, "Random seed.")
  flags.DEFINE_enum(
    "score_lexicon",
    "vader",
    ["vader", "none"],
    "Word scores for the translation-agreement check (VADER valence from the "
    "installed vaderSentiment package), or none.",
  )
  flags.mark_flags_as_required(["speech", "text", "out"])


def main(argv: Sequence[str]) -> int:
  del argv
  f = flags.FLAGS
  config = alignment.AlignConfig(
    adv_epochs=f.adv_epochs,
    adv_iterations=f.adv_iterations,
    adv_most_frequent=f.adv_most_frequent,
    dis_hidden=f.dis_hidden,
    refine_iterations=f.refine_iterations,
    dico_max_rank=f.dico_max_rank,
    csls_k=f.csls_k,
    seed=f.seed,
  )
  try:
    fileio.check_output_dir(f.out)
    scores = None
    if f.score_lexicon == "vader":
      scores = lexicon.load_valence_lexicon()
    report = align_embeddings_lib.align_files(
      f.speech, f.text, f.out, config, f.method, f.init, f.eval_fraction, scores
    )
  except ValueError as e:  # includes vectors.VecFormatError, fileio.OutputPathError
    raise cli.InputError(str(e)) from e
  parts = []
  for name in ("unsupervised", "supervised"):
    r: dict | None = report.get(name)
    if r and "csls_p@1" in r:
      parts.append(
        f"{name} P@1 {r['csls_p@1']:.3f} (CSLS) / {r['nn_p@1']:.3f} (NN), "
        f"P@5 {r['csls_p@5']:.3f} / {r['nn_p@5']:.3f}"
        + (
          f", valence r {r['score_r']:.3f} (random {r['score_r_random']:.3f})"
          if "score_r" in r
          else ""
        )
      )
  chosen = (
    f"{report['unsupervised']['method']} init chosen"
    if "unsupervised" in report
    else "supervised Procrustes written"
  )
  print(
    f"alignment ({chosen}, {report['eval_words']} held-out words): "
    + "; ".join(parts)
    + f"; chance P@1 {report['chance']['p@1']:.4f}; {report['wall_s']:.1f} s"
  )
  return 0


def console_main() -> None:
  """Entry point of the `emotion-tf-align-embeddings` console script."""
  define_flags()
  cli.run(main)


if __name__ == "__main__":
  console_main()
