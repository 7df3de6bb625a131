"""Whole-recording prediction with an exported SavedModel (library of `emotion_tf.predict`).

The wav is decoded and resampled to the model's rate (`emotion_tf.data.corpus.load_audio`), cut
to F = floor(samples / samples_per_frame) whole 0.1 s frames (a trailing partial frame, < 0.1 s,
is dropped; a wav shorter than one frame is an error), and predicted by the one inference path
(`emotion_tf.serving.inference.predict_waveform`): the export's `stream` signature over 10 s
chunks with the LSTM state carried, the computation `emotion_tf.evaluate` scores.

Semantic input, frame k: the vector of the word being spoken at the frame centre
t_k = (k + 0.5) * hop, by the same rules (and code) as the TFRecord writer
(`emotion_tf.data.frames`, `schema.build_embedding_matrix`): zeros when no
word is spoken; a word missing from the embedding file gets zeros (or the writer's
deterministic hash vector with oov='hash'), and the number of such words and frames is logged.

Memory: the CNN sees one 10 s chunk at a time; its first layer holds about
samples_per_frame * 50 * 4 bytes = 0.44 MB per frame (44 MB per chunk).
"""

import os
from typing import Any

import numpy as np
from absl import logging

from emotion_tf.data import corpus
from emotion_tf.data import vectors as vec_io
from emotion_tf.data import word_timings as wt
from emotion_tf.serving import export_lib, inference, prediction_csv
from emotion_tf.util import fileio

PredictionInputError = inference.PredictionInputError
speech_token_frames = inference.speech_token_frames


def read_word_timings(path: str, tier: str | None = None) -> list[wt.WordTiming]:
  """Word timings from a `.TextGrid` (Praat) or a CSV `id;start;end;word` (any other name)."""
  if not os.path.exists(path):
    raise PredictionInputError(f"{path}: word timings file is missing")
  if path.lower().endswith(".textgrid"):
    return wt.read_textgrid(path, tier=tier or None)
  return wt.read_timings_csv(path)


def load_embeddings(path: str, expected_dim: int) -> tuple[list[str], np.ndarray]:
  """(words, vectors float32 [count, d]) of a .vec file whose dimension must be `expected_dim`.

  Raises:
    PredictionInputError: naming the file when it is missing or its dimension differs from
      `expected_dim` (the model's semantic_dim); VecFormatError for a malformed file.
  """
  if not os.path.exists(path):
    raise PredictionInputError(f"{path}: embeddings file is missing")
  words, matrix = vec_io.read_vec(path)
  if matrix.shape[1] != expected_dim:
    raise PredictionInputError(
      f"{path}: word vectors have dimension {matrix.shape[1]}, but the model expects "
      f"semantic vectors of dimension {expected_dim}; use the embedding space the model was "
      "trained with"
    )
  return words, matrix


def check_embeddings_match(
  model: export_lib.ExportedModel, embeddings_path: str, allow_mismatch: bool = False
) -> str | None:
  """Compares the SHA-256 of `embeddings_path` with the embedding space the export was trained
  on (its metadata's `source.embeddings`, see `export_lib.export_embeddings`).

  A .vec of the right dimension from another space gives silently different predictions, so a
  mismatch is refused unless `allow_mismatch` (then logged as a warning). An export without a
  recorded hash (written by an older version) gets a warning.

  Returns:
    None when the hashes match (or the variant is 'paralinguistic', which ignores the
    semantic values), else the warning logged.

  Raises:
    PredictionInputError: naming both files and both hashes on a mismatch.
  """
  if model.metadata.get("variant") == "paralinguistic":
    return None  # the model ignores the semantic values
  trained = export_lib.export_embeddings(model.metadata)
  if trained is None:
    message = (
      f"{model.export_dir}: the export records no embeddings sha256 (exported by an "
      f"older emotion_tf); cannot check that {embeddings_path} is the space the model "
      "was trained on"
    )
    logging.warning("%s", message)
    return message
  digest = fileio.file_sha256(embeddings_path)
  if digest == trained["sha256"]:
    return None
  message = (
    f"{embeddings_path}: sha256 {digest} differs from the embeddings the model was "
    f"trained with, {trained.get('file')} (sha256 {trained['sha256']}, recorded in "
    f"{os.path.join(model.export_dir, 'assets', export_lib.METADATA_FILENAME)}); "
    "vectors from another space give wrong predictions even at the same dimension"
  )
  if allow_mismatch:
    logging.warning("%s; predicting anyway (--allow_embeddings_mismatch)", message)
    return message
  raise PredictionInputError(
    message + ". Pass the .vec the model was trained with, or "
    "--allow_embeddings_mismatch to predict anyway"
  )


def predict_recording(
  model: export_lib.ExportedModel,
  audio_path: str,
  word_timings_path: str | None = None,
  embeddings_path: str | None = None,
  tier: str | None = None,
  oov: str = "zeros",
  allow_embeddings_mismatch: bool = False,
) -> tuple[np.ndarray, dict[str, Any]]:
  """Predicts one wav file in a single pass.

  Args:
    model: a loaded export.
    audio_path: wav, any rate / channel count.
    word_timings_path: CSV or TextGrid; None = no words (semantic all zeros).
    embeddings_path: .vec of the model's semantic space; required with word timings.
    tier: TextGrid tier (None = `words` or the first interval tier).
    oov: 'zeros' or 'hash' for words missing from the embeddings.
    allow_embeddings_mismatch: warn instead of refusing a .vec whose SHA-256 differs from
      the training embeddings' (`check_embeddings_match`).

  Returns:
    (predictions float32 [F, 3], info dict: frames, seconds, semantic stats).

  Raises:
    PredictionInputError / corpus.CorpusError naming the file for a missing or unreadable
    input, a wav shorter than one frame, or embeddings of the wrong dimension or (unless
    `allow_embeddings_mismatch`) of another space than the training one.
  """
  if not os.path.exists(audio_path):
    raise PredictionInputError(f"{audio_path}: audio file is missing")
  frontend = (
    None if embeddings_path else export_lib.load_semantic_frontend(model.export_dir, model.metadata)
  )
  if word_timings_path and not embeddings_path and frontend is None:
    raise PredictionInputError(
      f"{word_timings_path}: word timings need --embeddings (.vec) "
      f"(or an export carrying a semantic frontend)"
    )
  words, vectors = [], np.zeros((0, model.semantic_dim), np.float32)
  if embeddings_path:
    words, vectors = load_embeddings(embeddings_path, model.semantic_dim)
    check_embeddings_match(model, embeddings_path, allow_embeddings_mismatch)
  timings = read_word_timings(word_timings_path, tier) if word_timings_path else []
  corpus.warn_if_truncated(audio_path)
  audio = corpus.load_audio(audio_path, model.sample_rate)  # [samples]
  if word_timings_path and not timings:
    logging.warning("%s: no words; all semantic vectors are zeros", word_timings_path)
  predictions, info = inference.predict_waveform(
    model,
    audio,
    timings if (word_timings_path or frontend is None) else None,
    words,
    vectors,
    frontend,
    oov,
    source=audio_path,
  )  # [F, 3]
  num_frames, stats = info["frames"], info
  logging.info(
    "%s: %d frames (%.1f s), %d/%d frames with a word, %d OOV words",
    audio_path,
    num_frames,
    info["seconds"],
    stats["frames_with_word"],
    num_frames,
    stats["oov_words"],
  )
  return predictions, info


def predict_to_csv(
  export_dir: str,
  audio_path: str,
  out_path: str,
  word_timings_path: str | None = None,
  embeddings_path: str | None = None,
  name: str | None = None,
  tier: str | None = None,
  oov: str = "zeros",
  allow_embeddings_mismatch: bool = False,
) -> dict[str, Any]:
  """Loads the export, predicts `audio_path` and writes the 10 Hz CSV atomically.

  CSV rows: `name;time;arousal;valence;liking`, no header, time = k * hop.
  `name` defaults to the wav file's stem. Returns the info dict of `predict_recording`.
  """
  model = export_lib.ExportedModel(export_dir)
  predictions, info = predict_recording(
    model, audio_path, word_timings_path, embeddings_path, tier, oov, allow_embeddings_mismatch
  )
  name = name or os.path.splitext(os.path.basename(audio_path))[0]
  prediction_csv.write_prediction_csv(out_path, name, predictions, model.hop_seconds)
  info["out"] = out_path
  return info
