"""The one inference path: waveform + per-frame semantic vectors -> per-frame predictions.

Every consumer of a trained model calls `predict_frames` — `emotion_tf.evaluate` (each
recording of a TFRecord partition, its 10 s chunks stitched back in chunk_index order),
`emotion_tf.predict` and the notebook API (`predict_api`, through `predict_waveform`), the
Devel fit of the post-processing, training's curve image and the benches — so what is scored
is what is served.

`predict_frames` runs the model chunk by chunk (`chunk_frames` frames, default 100 = 10 s, the
TFRecord chunk) and carries the LSTM state (h, c) from each chunk to the next, starting from
zeros at the start of a recording:

    state_0 = (0, 0);   y[k*C:(k+1)*C], state_{k+1} = step(audio_k, semantic_k, state_k)

where step is `EmotionRecognitionModel.step` (a Keras model) or the export's `stream`
signature (a SavedModel). With the paper's per-frame CNN the LSTM is the only thing that
crosses frames, so a whole recording in one pass, its 10 s chunk sequence and a live stream of
1 s chunks are the same computation (equal to float rounding, measured 0 to 1e-6; tests/
test_inference.py, bench/streaming.py). With `cnn_mode='flat_stream'` the convolutions see one
chunk at a time (zero-padded at its edges, as in training on 10 s chunks), so results depend
on `chunk_frames`; evaluate and predict use the same default and so agree.
"""

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import tensorflow as tf
from absl import logging

from emotion_tf.data import frames as frames_lib
from emotion_tf.data import pipeline
from emotion_tf.data import word_timings as wt
from emotion_tf.serving.postprocess import shift_frames

DEFAULT_CHUNK_FRAMES = 100  # 10 s at the 0.1 s hop: the TFRecord chunk
State = tuple[np.ndarray, np.ndarray]


class PredictionInputError(ValueError):
  """A prediction input (wav, timings, embeddings) that cannot be used; names the file."""


class KerasRunner:
  """`step` of an in-memory `EmotionRecognitionModel` as numpy in, numpy out.

  Attributes: `samples_per_frame` (of the model's 'audio' input: 2 x 2 205 with interlocutor
  frames), `lstm_units`, `semantic_dim`, `label_delay_frames` (annotation-delay compensation
  the caller applies to the stitched outputs of `step`).
  """

  def __init__(self, model):
    self.model = model
    c = model.config
    self.samples_per_frame = int(c.input_samples_per_frame)
    self.lstm_units = int(c.lstm_units)
    self.semantic_dim = int(c.semantic_dim)
    self.label_delay_frames = int(c.label_delay_frames)

    @tf.function(reduce_retracing=True)
    def step(audio, semantic, h, c):
      y, (h, c) = model.step({"audio": audio, "semantic": semantic}, (h, c), training=False)
      return tf.cast(y, tf.float32), tf.cast(h, tf.float32), tf.cast(c, tf.float32)

    self._step = step

  def initial_state(self, batch: int) -> State:
    zeros = np.zeros((batch, self.lstm_units), np.float32)
    return zeros, zeros.copy()

  def step(self, audio: np.ndarray, semantic: np.ndarray, state: State) -> tuple[np.ndarray, State]:
    """audio [B, n * spf], semantic [B, n, d], state (h, c) [B, units] -> (y [B, n, 3], state)."""
    y, h, c = self._step(
      tf.constant(audio), tf.constant(semantic), tf.constant(state[0]), tf.constant(state[1])
    )
    return y.numpy(), (h.numpy(), c.numpy())


def runner_for(model) -> Any:
  """A runner (`initial_state(batch)`, `step(audio, semantic, state)`, `samples_per_frame`) for
  a Keras `EmotionRecognitionModel` or an `export_lib.ExportedModel` (already one)."""
  if hasattr(model, "step") and hasattr(model, "initial_state") and not hasattr(model, "config"):
    return model
  if isinstance(model, KerasRunner):
    return model
  return KerasRunner(model)


def fit_audio(audio: np.ndarray, frames: int, samples_per_frame: int) -> np.ndarray:
  """Cuts or zero-pads `audio` [B, samples] at the end to [B, frames * samples_per_frame]."""
  target = frames * samples_per_frame
  audio = audio[:, :target]
  if audio.shape[1] < target:
    audio = np.pad(audio, [(0, 0), (0, target - audio.shape[1])])
  return audio


def predict_frames(
  model,
  audio: np.ndarray,
  semantic: np.ndarray,
  chunk_frames: int = DEFAULT_CHUNK_FRAMES,
  state: State | None = None,
  return_state: bool = False,
):
  """Per-frame predictions of whole recordings, chunk by chunk with the LSTM state carried.

  Args:
    model: a Keras `EmotionRecognitionModel`, an `export_lib.ExportedModel` or a runner
      (`runner_for`).
    audio: [samples] or [B, samples] float32 at the model's rate; cut or zero-padded at the end
      to F * samples_per_frame (as the serving signature does).
    semantic: [F, d] or [B, F, d] float32, the word vector of each 0.1 s frame; F = frames
      predicted.
    chunk_frames: frames per model step (> 0); 100 = the 10 s TFRecord chunk.
    state: (h, c) [B, lstm_units] to continue from (a stream); None = zeros (a new recording).
    return_state: also return the state after the last frame.

  Returns:
    y float32 [F, 3] (or [B, F, 3] for batched inputs), and the state with `return_state`.
    For a whole recording (no `state`, no `return_state`) y is delay-compensated as the
    model's full-sequence call (`models.delay_compensate`, the runner's `label_delay_frames`:
    y[t] = output of frame min(t + d, F - 1)); a stream continued across calls gets the
    step outputs uncompensated (`stream.stream_predictions` compensates a live stream).
  """
  runner = runner_for(model)
  if not getattr(runner, "has_stream", True):
    logging.warning(
      "%s: export has no %r signature (written before it existed); predicting "
      "in one pass over all frames",
      getattr(runner, "export_dir", "model"),
      "stream",
    )
    y = runner(audio, semantic)
    return (y, None) if return_state else y
  if int(chunk_frames) <= 0:
    raise ValueError(f"chunk_frames must be positive, got {chunk_frames}")
  audio = np.asarray(audio, np.float32)
  semantic = np.asarray(semantic, np.float32)
  single = semantic.ndim == 2
  if single:
    audio, semantic = audio.reshape(1, -1), semantic[None]
  if semantic.ndim != 3 or audio.ndim != 2 or audio.shape[0] != semantic.shape[0]:
    raise ValueError(
      f"predict_frames: audio must be [B, samples] and semantic [B, F, d] with "
      f"the same B, got {audio.shape} and {semantic.shape}"
    )
  batch, frames = semantic.shape[0], semantic.shape[1]
  audio = fit_audio(audio, frames, runner.samples_per_frame)
  state_in = state
  state = runner.initial_state(batch) if state is None else state
  spf = runner.samples_per_frame
  outputs = []
  for start, end in iter_chunks(frames, int(chunk_frames)):
    y, state = runner.step(audio[:, start * spf : end * spf], semantic[:, start:end], state)
    outputs.append(y)  # [B, end - start, 3]
  y = np.concatenate(outputs, axis=1) if outputs else np.zeros((batch, 0, 3), np.float32)
  delay = int(getattr(runner, "label_delay_frames", 0))
  if delay and state_in is None and not return_state:
    y = np.stack([shift_frames(b, delay) for b in y])  # [B, F, 3]
  y = y[0] if single else y
  return (y, state) if return_state else y


# ------------------------------------------------------------------ TFRecord partitions


def tfrecord_recordings(
  data_dir: str,
  partition: str,
  embedding_matrix=None,
  interlocutor_frames: bool = False,
  batch_size: int = 8,
  max_recordings: int | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
  """Whole recordings of a TFRecord partition: its 10 s chunks stitched in chunk_index order.

  Returns:
    {recording_id: (audio float32 [F * spf], semantic float32 [F, d], labels float32 [F, 3])},
    valid frames only (the last chunk's padding removed); spf doubles with interlocutor frames.
    `max_recordings`: stop once that many recordings are complete (chunks arrive in order).
  """
  ds = pipeline.make_dataset(
    data_dir,
    partition,
    batch_size,
    training=False,
    embedding_matrix=embedding_matrix,
    include_ids=True,
    interlocutor_frames=interlocutor_frames,
  )
  parts: dict[str, list[np.ndarray]] = {
    k: [] for k in ("ids", "chunks", "frames", "audio", "semantic", "labels")
  }
  seen: list[bytes] = []
  for inputs, labels in ds:
    ids = inputs["recording_id"].numpy()
    seen.extend(i for i in dict.fromkeys(ids.tolist()) if i not in seen)
    keep = np.isin(ids, seen[:max_recordings] if max_recordings else seen)
    audio = inputs["audio"].numpy()[keep]
    n = inputs["semantic"].shape[1]
    parts["ids"].append(ids[keep])
    parts["chunks"].append(inputs["chunk_index"].numpy()[keep])
    parts["frames"].append(inputs["num_frames"].numpy()[keep])
    parts["audio"].append(audio.reshape(audio.shape[0], n, -1))  # [N, F, spf]
    parts["semantic"].append(inputs["semantic"].numpy()[keep])
    parts["labels"].append(labels.numpy()[keep])
    if max_recordings and len(seen) > max_recordings:
      break
  if not parts["ids"]:
    raise ValueError(f"{data_dir}: partition {partition!r} has no examples")
  args = [np.concatenate(parts[k]) for k in ("ids", "chunks", "frames")]
  audio, semantic, gold = (
    pipeline.stitch_predictions(*args, np.concatenate(parts[k]))
    for k in ("audio", "semantic", "labels")
  )
  return {_decode(k): (audio[k].reshape(-1), semantic[k], gold[k]) for k in audio}


def _decode(key: Any) -> str:
  return key.decode("utf-8") if isinstance(key, bytes) else str(key)


def predict_recordings(
  model,
  recordings: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
  chunk_frames: int = DEFAULT_CHUNK_FRAMES,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
  """`predict_frames` of each recording of `tfrecord_recordings`, the state reset between
  recordings. Returns (predictions, labels): {recording_id: float32 [F, 3]} each."""
  runner = runner_for(model)
  predictions, labels = {}, {}
  for rid, (audio, semantic, gold) in recordings.items():
    predictions[rid] = predict_frames(runner, audio, semantic, chunk_frames)
    labels[rid] = gold
  return predictions, labels


# ------------------------------------------------------------- waveform + words (predict)


def speech_token_frames(
  frontend,
  audio: np.ndarray,
  timings: Sequence[wt.WordTiming] | None,
  num_frames: int,
  hop_seconds: float = 0.1,
) -> tuple[np.ndarray, dict[str, Any]]:
  """Per-frame semantic input from speech alone (the export's Speech2Vec frontend + W).

  With word timings, their spans get `tokens.token_vectors` and frames are filled by
  `tokens.fill_frames` -- the same function (`tokens.speech_semantic_frames`) the TFRecord
  writer uses with `--semantic_source speech`. Without, the whole wav-only frontend
  (`semantic.segmenter` segments, token vectors, frame filling) runs as the TF graph
  `speech_frontend_graph.SpeechFrontendGraph`, the one the export's `audio_only` signature
  holds, so `predict --audio` and that signature are one computation.

  Args:
    frontend: `tokens.SemanticFrontend`; audio: [samples] float32 at its sample rate.
    timings: word timings, or None to segment automatically; num_frames: F.
  Returns:
    (semantic float32 [F, d], stats as `frames.semantic_frames` plus 'segments' and
    'segment_source' ('timings' or 'segmenter')).
  """
  from emotion_tf.semantic import tokens

  if timings is None:
    from emotion_tf.serving import speech_frontend_graph

    graph = speech_frontend_graph.frontend_graph(frontend, hop_seconds)
    semantic, segments = graph.semantic_frames(
      np.asarray(audio, np.float32).reshape(-1), np.int32(num_frames)
    )
    semantic, segments = semantic.numpy(), segments.numpy()
    source = "segmenter"
  else:
    segments = [(t.start, t.end) for t in timings]
    source = "timings"
    semantic = tokens.speech_semantic_frames(frontend, audio, segments, num_frames, hop_seconds)
  covered = int(np.any(semantic != 0, axis=1).sum())
  stats = {
    "words": len(segments),
    "frames_with_word": covered,
    "oov_words": 0,
    "oov_frames": 0,
    "segments": len(segments),
    "segment_source": source,
  }
  return semantic, stats


def predict_waveform(
  model,
  audio: np.ndarray,
  timings: Sequence[wt.WordTiming] | None,
  words: Sequence[str],
  vectors: np.ndarray,
  frontend=None,
  oov: str = "zeros",
  source: str = "signal",
  chunk_frames: int = DEFAULT_CHUNK_FRAMES,
) -> tuple[np.ndarray, dict[str, Any]]:
  """Predictions of one mono waveform at the model's rate, with its words.

  The frame check, the semantic input and the model call shared by `emotion_tf.predict` and
  the notebook API. F = floor(samples / samples_per_frame) whole 0.1 s frames (a trailing
  partial frame is dropped). Semantic input: the speech frontend's token vectors when
  `frontend` is given (on the timings' spans, or on automatic segments when `timings` is None),
  else the looked-up vector of the word at each frame centre (`frames.semantic_frames`; zeros
  without words; OOV words per `oov`, counted and logged).

  Args:
    model: an `export_lib.ExportedModel` (or a Keras model / runner): `samples_per_frame`,
      `sample_rate`, `hop_seconds` are read from it (export) or its config (Keras).
    audio: [samples] float32 at the model's rate; source: name used in messages.

  Returns:
    (predictions float32 [F, 3], info: frames, seconds and the semantic stats).
  Raises:
    PredictionInputError naming `source` for audio shorter than one frame.
  """
  spf, rate, hop = _frame_geometry(model)
  num_frames = frames_lib.frames_in(audio.shape[0], spf)
  if num_frames < 1:
    raise PredictionInputError(
      f"{source}: audio is {audio.shape[0] / rate:.3f} s long, shorter than one "
      f"{hop:.3f} s frame ({spf} samples at {rate} Hz); nothing to predict"
    )
  audio = audio[: num_frames * spf]
  if frontend is not None:
    semantic, stats = speech_token_frames(frontend, audio, timings, num_frames, hop)
  else:
    semantic, stats = frames_lib.semantic_frames(
      timings or [], num_frames, words, vectors, hop, oov
    )
  if timings and stats["oov_words"]:
    logging.warning(
      "%s: %d distinct words (%d frames) not in the embeddings; their vectors are %s",
      source,
      stats["oov_words"],
      stats["oov_frames"],
      "zeros" if oov == "zeros" else "hash vectors",
    )
  predictions = predict_frames(model, audio, semantic, chunk_frames)  # [F, 3]
  info = dict(stats, frames=num_frames, seconds=num_frames * hop)
  return predictions, info


def _frame_geometry(model) -> tuple[int, int, float]:
  """(samples_per_frame, sample_rate, hop_seconds) of an export or a Keras model."""
  config = getattr(model, "config", None)
  if config is not None and hasattr(config, "sample_rate"):
    return (
      int(config.samples_per_frame),
      int(config.sample_rate),
      config.samples_per_frame / float(config.sample_rate),
    )
  return int(model.samples_per_frame), int(model.sample_rate), float(model.hop_seconds)


def iter_chunks(frames: int, chunk_frames: int) -> Iterator[tuple[int, int]]:
  """(start, end) frame ranges of consecutive chunks covering [0, frames)."""
  for start in range(0, frames, chunk_frames):
    yield start, min(start + chunk_frames, frames)
