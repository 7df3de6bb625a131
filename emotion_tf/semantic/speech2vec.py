"""Speech2Vec (Chung & Glass 2018) in Keras 3: the semantic extractor of Sec. 3.1.

A bidirectional LSTM encoder maps the MFCC frames of one spoken word to a vector
e in R^{d_s}. An LSTM decoder, conditioned on e (through its initial state and as its
input at every step), regenerates the MFCC frames of each neighbouring word within a
window k (skip-gram). The loss is the MSE over valid (unpadded) frames only. The
decoder is non-autoregressive (no teacher forcing): all it knows about the neighbour
comes through e, which forces e to encode the word's contexts.

Batches: `batch_size` centre words, each with its up-to-2k neighbours, every sequence
zero-padded to the longest one in the batch (at most `max_frames` frames, default
100 = 1 s); longer words were truncated at extraction
(`segments.extract_segments`). Training is `tf.distribute`-ready: the model, optimiser
and checkpoint are built inside `strategy.scope()` (default: `tf.distribute.get_strategy()`),
the dataset is distributed, and the loss is divided by the global count of valid
elements (an all-reduce across replicas) so replicas sum to the exact global mean.

A word type's vector is the mean of the embeddings of its spoken instances.

Departures from the published recipe, made because on small corpora (a few thousand
word segments, few speakers) neighbouring words share voice and prosody, so plain
skip-gram regeneration learns the speaker/prosody instead of the word:
  * inputs AND targets are per-segment mean/variance normalised MFCCs
    (`mfcc.MfccConfig.segment_cmn/segment_cvn`) and time-normalised to
    `resample_frames` frames (`mfcc.resample_frames`; 0 = variable length as published),
    which removes what neighbours share (timbre, loudness, speaking rate);
  * `autoencoder_weight` > 0 adds a second decoder regenerating the centre word itself
    (loss = (SSE_context + w * SSE_centre) / (count_context + w * count_centre)),
    which keeps the word's identity in e beside its contexts (0 = pure skip-gram);
  * Word2Vec's subsampling of frequent words (`subsample`, `keep_probabilities`): frequent
    (function) words are rarely centres or targets, so the contexts that remain are the
    informative ones and an epoch costs less.
"""

import collections
import dataclasses
import functools
import os
import time
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from emotion_tf.semantic import mfcc as mfcc_lib
from emotion_tf.semantic import quality
from emotion_tf.semantic import segments as segments_lib
from emotion_tf.util import config as config_lib
from emotion_tf.util.trainer import Trainer


@dataclasses.dataclass(frozen=True)
class Speech2VecConfig:
  """Speech2Vec hyperparameters (Chung & Glass 2018 defaults where CPU allows).

  resample_frames, autoencoder_weight, subsample, batch_size, learning_rate and epochs were
  tuned on the synthetic corpus (40 x 60 s, plus 80-160 x 60 s of extra unlabelled speech):
  without autoencoding the same-different AP fell below the untrained encoder's; with
  weight 1 the vectors held word identity but almost no valence; 0.3 keeps both.
  """

  num_features: int = config_lib.field(13, "MFCC features per frame (39 with deltas).", flag=False)
  max_frames: int = config_lib.field(
    100, "Frames per segment (10 ms each); longer words truncated."
  )
  resample_frames: int = config_lib.field(
    24,
    "Time normalisation: resample every segment (encoder input and decoder target) to "
    "this many frames, removing speaking rate (0 = variable length, as published).",
  )
  autoencoder_weight: float = config_lib.field(
    0.3,
    "Weight of an extra decoder regenerating the centre word itself beside the "
    "skip-gram neighbours (0 = pure skip-gram).",
  )
  subsample: float = config_lib.field(
    1e-3,
    "Word2Vec subsampling threshold t of frequent words: a token of frequency f is a "
    "centre/target with probability sqrt(t/f) + t/f (0 = off).",
  )
  encoder_units: int = config_lib.field(128, "LSTM units per direction of the encoder.")
  embedding_dim: int = config_lib.field(100, "Speech2Vec dimension d_s.")
  decoder_units: int = config_lib.field(128, "Decoder LSTM units.")
  window: int = config_lib.field(3, "Skip-gram window k (neighbours each side).")
  max_gap_seconds: float = config_lib.field(2.0, "No context across pauses longer than this.")
  batch_size: int = config_lib.field(64, "Centre words per replica batch.")
  epochs: int = config_lib.field(15, "Training epochs (a rerun with more epochs resumes).")
  learning_rate: float = config_lib.field(2e-3, "Adam learning rate.")
  clip_norm: float = config_lib.field(5.0, "Global gradient-norm clip.", flag=False)
  seed: int = config_lib.field(0, "Random seed.")
  collapse_cosine: float = config_lib.field(
    0.99, "Stop when probe embeddings' mean cosine exceeds this."
  )
  probe_size: int = config_lib.field(
    256, "Segments embedded after each epoch for the collapse check.", flag=False
  )

  def to_dict(self) -> dict:
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, d: dict) -> "Speech2VecConfig":
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in d.items() if k in names})


class CollapseError(RuntimeError):
  """Training produced NaN loss or near-identical embeddings; the last good checkpoint is kept."""


@keras.saving.register_keras_serializable(package="emotion_tf")
class Speech2VecEncoder(keras.layers.Layer):
  """Bidirectional LSTM over MFCC frames -> one vector per word segment.

  Call: features [B, T, F] float32, mask [B, T] bool (True = valid frame, right-padded)
  -> embeddings [B, embedding_dim]: Dense(concat(last forward state, last backward state)).
  """

  def __init__(self, units: int = 128, embedding_dim: int = 100, **kwargs):
    super().__init__(**kwargs)
    self.units = units
    self.embedding_dim = embedding_dim

  def build(self, input_shape):
    self.rnn = keras.layers.Bidirectional(
      keras.layers.LSTM(self.units), merge_mode="concat", name="bilstm"
    )
    self.rnn.build(tuple(input_shape))
    self.projection = keras.layers.Dense(self.embedding_dim, name="projection")
    self.projection.build((None, 2 * self.units))

  def call(self, features, mask=None):
    return self.projection(self.rnn(features, mask=mask))

  def get_config(self):
    config = super().get_config()
    config.update(units=self.units, embedding_dim=self.embedding_dim)
    return config


@keras.saving.register_keras_serializable(package="emotion_tf")
class Speech2VecDecoder(keras.layers.Layer):
  """LSTM decoder regenerating a neighbour's MFCC frames from a word vector.

  Call: embeddings [B, d], num_steps (int) -> frames [B, num_steps, num_features].
  The initial state is (tanh(Dense(e)), Dense(e)) and e is the input at every step.
  """

  def __init__(self, units: int = 128, num_features: int = 13, **kwargs):
    super().__init__(**kwargs)
    self.units = units
    self.num_features = num_features

  def build(self, input_shape):
    d = input_shape[-1]
    self.init_h = keras.layers.Dense(self.units, activation="tanh", name="init_h")
    self.init_c = keras.layers.Dense(self.units, name="init_c")
    self.rnn = keras.layers.LSTM(self.units, return_sequences=True, name="lstm")
    self.output_layer = keras.layers.Dense(self.num_features, name="frames")
    for layer in (self.init_h, self.init_c):
      layer.build((None, d))
    self.rnn.build((None, None, d))
    self.output_layer.build((None, None, self.units))

  def call(self, embeddings, num_steps):
    inputs = tf.tile(embeddings[:, tf.newaxis, :], tf.stack([1, num_steps, 1]))
    states = [self.init_h(embeddings), self.init_c(embeddings)]
    return self.output_layer(self.rnn(inputs, initial_state=states))

  def get_config(self):
    config = super().get_config()
    config.update(units=self.units, num_features=self.num_features)
    return config


def build_models(config: Speech2VecConfig) -> tuple[Speech2VecEncoder, Speech2VecDecoder]:
  """Builds encoder and (context) decoder with weights seeded by `config.seed`."""
  keras.utils.set_random_seed(config.seed)
  encoder = Speech2VecEncoder(config.encoder_units, config.embedding_dim, name="encoder")
  encoder.build((None, None, config.num_features))
  decoder = Speech2VecDecoder(config.decoder_units, config.num_features, name="decoder")
  decoder.build((None, config.embedding_dim))
  return encoder, decoder


def build_self_decoder(config: Speech2VecConfig) -> Speech2VecDecoder:
  """The centre-word (autoencoding) decoder used when `config.autoencoder_weight` > 0."""
  decoder = Speech2VecDecoder(config.decoder_units, config.num_features, name="self_decoder")
  decoder.build((None, config.embedding_dim))
  return decoder


def masked_sse(
  targets: tf.Tensor, predictions: tf.Tensor, lengths: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
  """Sum of squared errors over valid frames, and the number of valid elements.

  Args:
    targets, predictions: [M, T, F] float32.
    lengths: [M] int32 valid frames (0 = a missing neighbour, contributes nothing).
  Returns:
    (sse, count) float32 scalars; masked MSE = sse / count.
  """
  mask = tf.sequence_mask(lengths, tf.shape(targets)[1], dtype=tf.float32)[:, :, tf.newaxis]
  sse = tf.reduce_sum(tf.square(targets - predictions) * mask)
  count = tf.reduce_sum(mask) * tf.cast(tf.shape(targets)[2], tf.float32)
  return sse, count


def embed_features(
  encoder: Speech2VecEncoder,
  features: np.ndarray,
  lengths: np.ndarray,
  batch_size: int = 256,
  fn=None,
) -> np.ndarray:
  """Embeds normalised MFCC segments [N, T, F] with `lengths` [N] -> [N, d] float32.

  `fn`: a `make_embed_fn(encoder)` to reuse across calls (avoids retracing).
  """
  out = []
  fn = fn or make_embed_fn(encoder)
  for i in range(0, len(lengths), batch_size):
    out.append(
      fn(
        tf.constant(features[i : i + batch_size]), tf.constant(lengths[i : i + batch_size])
      ).numpy()
    )
  if not out:
    return np.zeros((0, encoder.embedding_dim), np.float32)
  return np.concatenate(out).astype(np.float32)


def make_embed_fn(encoder: Speech2VecEncoder):
  """A tf.function (features [B, T, F], lengths [B]) -> embeddings [B, d] for `encoder`."""

  @tf.function(
    input_signature=[tf.TensorSpec([None, None, None], tf.float32), tf.TensorSpec([None], tf.int32)]
  )
  def fn(features, lengths):
    mask = tf.sequence_mask(lengths, tf.shape(features)[1])
    return encoder(features, mask=mask)

  return fn


def type_vectors(
  embeddings: np.ndarray, words: Sequence[str]
) -> tuple[list[str], np.ndarray, list[int]]:
  """Mean embedding per word type, in descending instance-count order (ties: alphabetical).

  Args:
    embeddings: [N, d] instance embeddings; words: N strings.
  Returns:
    (types, vectors [V, d] float32, counts [V]).
  """
  counts = collections.Counter(words)
  order = sorted(counts, key=lambda w: (-counts[w], w))
  index = {w: i for i, w in enumerate(order)}
  sums = np.zeros((len(order), embeddings.shape[1]), np.float64)
  np.add.at(sums, np.array([index[w] for w in words], dtype=np.int64), embeddings)
  n = np.array([counts[w] for w in order], np.float64)
  return order, (sums / n[:, None]).astype(np.float32), [counts[w] for w in order]


@dataclasses.dataclass
class TrainResult:
  """Outcome of `train`: epochs done now and in total, the last mean loss, throughput."""

  epochs_run: int
  epochs_total: int
  last_loss: float
  probe_cosine: float
  segments_per_second: float
  history: list[dict]


def keep_probabilities(words: Sequence[str], threshold: float) -> np.ndarray:
  """Word2Vec's subsampling of frequent words (Mikolov et al. 2013, as in gensim/word2vec.c).

  A token of a word with corpus frequency f = count / N is kept with probability
  min(1, sqrt(threshold / f) + threshold / f); threshold <= 0 keeps everything.

  Args:
    words: N token strings (the training segments' words).
  Returns:
    [N] float32 keep probability of every token.
  """
  if threshold <= 0 or not words:
    return np.ones(len(words), np.float32)
  counts = collections.Counter(words)
  n = float(len(words))
  ratio = np.array([threshold / (counts[w] / n) for w in words], np.float64)
  return np.minimum(1.0, np.sqrt(ratio) + ratio).astype(np.float32)


def _make_dataset(features, lengths, contexts, center_index, batch_size, seed, keep=None):
  """tf.data over centre indices.

  -> (centre [B,T,F], centre_len [B], ctx [B,2k,T,F], ctx_len [B,2k]).

  `keep` [N] (optional): subsampling keep probability of every segment; a centre is drawn
  with its probability, and each context slot survives with the probability of the word in
  it (dropped slots get length 0). Draws are stateless, seeded by `seed` and position.
  """
  feats = tf.constant(features)
  lens = tf.constant(lengths)
  ctx = tf.constant(contexts)
  keep_t = None if keep is None else tf.constant(keep, tf.float32)

  def gather(step, idx):
    c = tf.gather(ctx, idx)  # [B, 2k]
    valid = c >= 0
    safe = tf.maximum(c, 0)
    if keep_t is not None:
      draw = tf.random.stateless_uniform(
        tf.shape(c), seed=tf.stack([tf.cast(seed, tf.int64) + 1, step])
      )
      valid &= draw < tf.gather(keep_t, safe)
    ctx_len = tf.where(valid, tf.gather(lens, safe), 0)
    center_len = tf.gather(lens, idx)
    # Pad only to the longest sequence of this batch (<= max_frames): LSTM cost is linear in T.
    t = tf.maximum(tf.reduce_max(center_len), tf.reduce_max(ctx_len))
    return tf.gather(feats, idx)[:, :t], center_len, tf.gather(feats, safe)[:, :, :t], ctx_len

  ds = tf.data.Dataset.from_tensor_slices(center_index.astype(np.int32))
  ds = ds.shuffle(len(center_index), seed=seed, reshuffle_each_iteration=True).repeat()
  if keep_t is not None:

    def keep_centre(position, idx):
      draw = tf.random.stateless_uniform([], seed=tf.stack([tf.cast(seed, tf.int64), position]))
      return draw < tf.gather(keep_t, idx)

    def drop_position(position, idx):
      del position
      return idx

    ds = ds.enumerate().filter(keep_centre).map(drop_position)
  return ds.batch(batch_size, drop_remainder=True).enumerate().map(gather).prefetch(2)


def train(
  segments: segments_lib.Segments,
  normalizer: mfcc_lib.Normalizer,
  config: Speech2VecConfig,
  model_dir: str,
  strategy: tf.distribute.Strategy | None = None,
  log_every_steps: int = 0,
) -> tuple[Speech2VecEncoder, TrainResult]:
  """Trains Speech2Vec on `segments` (raw MFCCs), resuming from `model_dir/checkpoints`.

  Checkpoints are written after every epoch that passes the collapse checks (and one
  at epoch 0), so the latest checkpoint is always a good one. TensorBoard scalars
  (`loss`, `probe_mean_cosine`, `segments_per_second`) go to `model_dir/tensorboard`.

  Args:
    segments: training segments, N >= 2, features [N, max_frames, F].
    normalizer: MFCC mean/std fitted on the training segments.
    config: hyperparameters; `config.num_features` must equal F.
    model_dir: directory for checkpoints and TensorBoard logs.
    strategy: tf.distribute strategy; default `tf.distribute.get_strategy()`.
    log_every_steps: steps between progress lines (epoch, step, loss, ETA); 0 = about ten
      lines per epoch.

  Returns:
    (encoder, TrainResult).

  Raises:
    ValueError: too few segments or no skip-gram pairs.
    CollapseError: NaN/inf loss, or mean pairwise cosine of the probe embeddings
      above `config.collapse_cosine`; the message names the kept checkpoint.
  """
  strategy = strategy or tf.distribute.get_strategy()
  if segments.features.shape[-1] != config.num_features:
    raise ValueError(
      f"segments have {segments.features.shape[-1]} features, config says {config.num_features}"
    )
  features = normalizer.apply(segments.features, segments.lengths)
  contexts = segments_lib.context_indices(segments, config.window, config.max_gap_seconds)
  center_index = np.flatnonzero((contexts >= 0).any(axis=1))
  if len(center_index) == 0:
    raise ValueError(
      f"no skip-gram pairs among {len(segments)} segments "
      "(every word is alone in its recording/turn)"
    )
  keep = keep_probabilities(segments.words, config.subsample)
  expected_centres = float(keep[center_index].sum())  # per epoch, after subsampling
  global_batch = max(
    min(config.batch_size * strategy.num_replicas_in_sync, int(expected_centres)), 1
  )
  steps_per_epoch = max(int(expected_centres) // global_batch, 1)
  rng = np.random.default_rng(config.seed)
  probe_index = np.sort(
    rng.choice(len(segments), size=min(config.probe_size, len(segments)), replace=False)
  )

  def make_dataset(seed):
    return _make_dataset(
      features,
      segments.lengths,
      contexts,
      center_index,
      global_batch,
      seed,
      keep if config.subsample > 0 else None,
    )

  return train_on_dataset(
    make_dataset,
    steps_per_epoch,
    global_batch,
    features[probe_index],
    segments.lengths[probe_index],
    config,
    model_dir,
    strategy,
    log_every_steps,
  )


def train_on_dataset(
  make_dataset,
  steps_per_epoch: int,
  global_batch: int,
  probe_feats: np.ndarray,
  probe_lens: np.ndarray,
  config: Speech2VecConfig,
  model_dir: str,
  strategy: tf.distribute.Strategy | None = None,
  log_every_steps: int = 0,
) -> tuple[Speech2VecEncoder, TrainResult]:
  """The training loop of `train` on any batch source (in-memory or streamed segments).

  Args:
    make_dataset: seed -> an endless tf.data.Dataset of global batches (centre [B, T, F]
      normalised, centre_len [B], ctx [B, 2k, T, F], ctx_len [B, 2k]; 0 = no neighbour);
      called once, with `config.seed + start epoch`, after the checkpoint is restored.
    steps_per_epoch, global_batch: batches per epoch and centres per global batch.
    probe_feats [P, T, F] (normalised), probe_lens [P]: the collapse-check segments.
    config, model_dir, strategy, log_every_steps: as in `train`.
  Returns / Raises: as `train`.
  """
  strategy = strategy or tf.distribute.get_strategy()
  trainer = Trainer(strategy, name="Speech2Vec", log_every_steps=log_every_steps)

  def build():
    encoder, decoder = build_models(config)
    parts = dict(encoder=encoder, decoder=decoder)
    if config.autoencoder_weight > 0:
      parts["self_decoder"] = build_self_decoder(config)
    optimizer = keras.optimizers.Adam(config.learning_rate, global_clipnorm=config.clip_norm)
    optimizer.build(_trainable(parts))
    parts["optimizer"] = optimizer
    return parts

  parts = trainer.build(build)
  encoder, decoder = parts["encoder"], parts["decoder"]
  self_decoder, optimizer = parts.get("self_decoder"), parts["optimizer"]
  variables = _trainable(parts)
  manager = trainer.manager(os.path.join(model_dir, "checkpoints"), max_to_keep=3)
  if not trainer.restore(os.path.join(model_dir, "checkpoints")):
    manager.save(checkpoint_number=0)
  start_epoch = int(trainer.epoch.numpy())
  history: list[dict] = []
  if start_epoch >= config.epochs:
    logging.info("Speech2Vec: already trained for %d epochs; nothing to do", start_epoch)
    cos = quality.mean_pairwise_cosine(embed_features(encoder, probe_feats, probe_lens))
    return encoder, TrainResult(0, start_epoch, float("nan"), cos, 0.0, history)

  dataset = make_dataset(config.seed + start_epoch)
  dist_iter = iter(strategy.experimental_distribute_dataset(dataset))
  ae_weight = float(config.autoencoder_weight)

  def replica_step(center, center_len, ctx, ctx_len):
    ctx_count = tf.shape(ctx)[1]
    max_frames = tf.shape(center)[1]
    with tf.GradientTape() as tape:
      center_emb = encoder(center, mask=tf.sequence_mask(center_len, max_frames))  # [B, d]
      emb = tf.repeat(center_emb, ctx_count, axis=0)  # [B*2k, d]
      pred = decoder(emb, num_steps=max_frames)
      targets = tf.reshape(ctx, [-1, max_frames, config.num_features])
      sse, count = masked_sse(targets, pred, tf.reshape(ctx_len, [-1]))
      if self_decoder is not None:
        self_pred = self_decoder(center_emb, num_steps=max_frames)
        self_sse, self_count = masked_sse(center, self_pred, center_len)
        sse += ae_weight * self_sse
        count += ae_weight * self_count
      global_count = tf.distribute.get_replica_context().all_reduce(
        tf.distribute.ReduceOp.SUM, count
      )
      loss = sse / tf.maximum(global_count, 1.0)
    grads = tape.gradient(loss, variables)
    optimizer.apply_gradients(zip(grads, variables, strict=False))
    return loss

  @tf.function(input_signature=[dist_iter.element_spec])  # T varies per batch: trace once
  def train_step(batch):
    per_replica = strategy.run(replica_step, args=batch)
    return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

  probe_fn = make_embed_fn(encoder)
  writer = trainer.summary_writer(os.path.join(model_dir, "tensorboard"))
  last_loss, cos, rate = float("nan"), float("nan"), 0.0

  def diverged(epoch, loss, _):
    return CollapseError(
      f"Speech2Vec collapsed: loss is {loss} at epoch {epoch + 1} step "
      f"{int(trainer.step_in_epoch.numpy()) + 1}; kept the last good checkpoint "
      f"{manager.latest_checkpoint} (epoch {int(trainer.epoch.numpy())}). "
      "Lower --learning_rate or check the input audio for NaNs."
    )

  for epoch in range(start_epoch, config.epochs):
    t0 = time.perf_counter()
    trainer.start_epoch()
    trainer.run_epoch(
      (next(dist_iter) for _ in range(steps_per_epoch)),
      lambda batch: {"loss": train_step(batch)},
      epoch=epoch,
      epochs=config.epochs,
      steps=steps_per_epoch,
      diverged=functools.partial(diverged, epoch),
    )
    elapsed = time.perf_counter() - t0
    last_loss = trainer.epoch_loss()
    rate = steps_per_epoch * global_batch / max(elapsed, 1e-9)
    probe = embed_features(encoder, probe_feats, probe_lens, fn=probe_fn)
    reason = quality.collapse_reason(last_loss, probe, config.collapse_cosine)
    cos = quality.mean_pairwise_cosine(probe)
    if reason:
      raise CollapseError(
        f"Speech2Vec collapsed at epoch {epoch + 1}: {reason}; kept the last good checkpoint "
        f"{manager.latest_checkpoint}. Lower --learning_rate or enlarge the corpus."
      )
    trainer.end_epoch(epoch)
    path = manager.save(checkpoint_number=epoch + 1)
    with writer.as_default(step=epoch + 1):
      tf.summary.scalar("loss", last_loss)
      tf.summary.scalar("probe_mean_cosine", cos)
      tf.summary.scalar("segments_per_second", rate)
    writer.flush()
    history.append(
      {
        "epoch": epoch + 1,
        "loss": last_loss,
        "probe_mean_cosine": cos,
        "segments_per_second": rate,
        "seconds": elapsed,
      }
    )
    logging.info(
      "Speech2Vec epoch %d/%d: loss %.4f, probe mean cosine %.3f, %.0f centre segments/s, saved %s",
      epoch + 1,
      config.epochs,
      last_loss,
      cos,
      rate,
      path,
    )
  return encoder, TrainResult(
    config.epochs - start_epoch, config.epochs, last_loss, cos, rate, history
  )


def _trainable(parts: dict) -> list[tf.Variable]:
  """Trainable variables of the encoder, decoder and (when present) the self-decoder."""
  variables = parts["encoder"].trainable_variables + parts["decoder"].trainable_variables
  if "self_decoder" in parts:
    variables += parts["self_decoder"].trainable_variables
  return variables


class EncoderExport(tf.Module):
  """SavedModel wrapper: embeds word segments from audio alone.

  Signatures (both return {"embedding": [B, d] float32, "num_frames": [B] int32};
  segments with 0 frames, i.e. shorter than one 25 ms window, get zero vectors):
    serving_default / embed_waveform(waveforms [B, S] float32 at the training sample
      rate, padded with anything; lengths [B] int32 valid samples)
    embed_mfcc(mfcc [B, T, F] float32 raw (unnormalised) MFCCs as `compute_mfcc`
      returns them; num_frames [B] int32)
  Longer segments are truncated to the first `max_frames` frames and, when
  `resample_frames` > 0, resampled to that many frames, as in training.
  """

  def __init__(
    self,
    encoder: Speech2VecEncoder,
    normalizer: mfcc_lib.Normalizer,
    mfcc_config: mfcc_lib.MfccConfig,
    max_frames: int,
    resample_frames: int = 0,
  ):
    super().__init__()
    self._resample_frames = int(resample_frames)
    self.encoder = encoder
    self.mean = tf.Variable(normalizer.mean, trainable=False, name="mfcc_mean")
    self.std = tf.Variable(normalizer.std, trainable=False, name="mfcc_std")
    self._mfcc_config = mfcc_config
    self._max_frames = max_frames
    f = mfcc_config.num_features
    self.embed_mfcc = tf.function(
      self._embed_mfcc,
      input_signature=[
        tf.TensorSpec([None, None, f], tf.float32, name="mfcc"),
        tf.TensorSpec([None], tf.int32, name="num_frames"),
      ],
    )
    self.embed_waveform = tf.function(
      self._embed_waveform,
      input_signature=[
        tf.TensorSpec([None, None], tf.float32, name="waveforms"),
        tf.TensorSpec([None], tf.int32, name="lengths"),
      ],
    )

  def _embed_mfcc(self, mfcc, num_frames):
    mfcc = mfcc[:, : self._max_frames]
    num_frames = tf.minimum(num_frames, tf.shape(mfcc)[1])
    if self._resample_frames > 0:
      mfcc, num_frames = mfcc_lib.resample_frames(mfcc, num_frames, self._resample_frames)
    mask = tf.sequence_mask(num_frames, tf.shape(mfcc)[1])
    x = (mfcc - self.mean) / self.std * tf.cast(mask, tf.float32)[:, :, tf.newaxis]
    emb = self.encoder(x, mask=mask)
    emb = tf.where((num_frames > 0)[:, tf.newaxis], emb, tf.zeros_like(emb))
    return {"embedding": emb, "num_frames": num_frames}

  def _embed_waveform(self, waveforms, lengths):
    mfcc, num_frames = mfcc_lib.compute_mfcc(waveforms, lengths, self._mfcc_config)
    return self._embed_mfcc(mfcc, num_frames)


def export_encoder(
  encoder: Speech2VecEncoder,
  normalizer: mfcc_lib.Normalizer,
  mfcc_config: mfcc_lib.MfccConfig,
  max_frames: int,
  path: str,
  resample_frames: int = 0,
) -> None:
  """Saves the encoder as a SavedModel at `path` (written to a temp dir, then renamed)."""
  module = EncoderExport(encoder, normalizer, mfcc_config, max_frames, resample_frames)
  tmp = path.rstrip("/") + ".tmp"
  if tf.io.gfile.exists(tmp):
    tf.io.gfile.rmtree(tmp)
  tf.saved_model.save(
    module,
    tmp,
    signatures={"serving_default": module.embed_waveform, "embed_mfcc": module.embed_mfcc},
  )
  old = path.rstrip("/") + ".old"
  if tf.io.gfile.exists(path):
    if tf.io.gfile.exists(old):
      tf.io.gfile.rmtree(old)
    tf.io.gfile.rename(path, old)
  tf.io.gfile.rename(tmp, path)
  if tf.io.gfile.exists(old):
    tf.io.gfile.rmtree(old)
  logging.info("Speech2Vec encoder SavedModel written to %s", path)
