"""Distributed training of the emotion model (paper Sec. 5.1, 5.2).

One strategy helper (`get_strategy`), everything built and restored inside its
scope, a custom loop so that the CCC loss is formed from the *global* batch:

  * per replica: predictions -> sufficient statistics [6, 3] of Eq. 8;
  * statistics all-reduced across replicas (and workers) before forming the CCC,
    so every replica computes the global batch's loss (`ccc.cross_replica_statistics`);
  * replica gradients summed, clipped by global norm (5.0), applied by Adam (1e-4):
    exactly the update of single-device training on the same global batch.

Crash recovery: a backup checkpoint (model, optimizer, step, epoch, position in the
epoch, best metric) is written every `backup_every_steps` steps and at each epoch end
(the role of Keras' BackupAndRestore in a custom loop). Rerunning the same command
restores it and continues from the saved step: the data order of an epoch is a
function of (seed, epoch), and the finished steps of the interrupted epoch are skipped.

Model directory layout: emotion_tf.model.model_dir.
"""

import dataclasses
import functools
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from emotion_tf import LABEL_NAMES
from emotion_tf.data import augment, pipeline, schema
from emotion_tf.model import ccc, losses
from emotion_tf.model import model_dir as model_dir_lib
from emotion_tf.model.metrics import ConcordanceCorrelation
from emotion_tf.model.models import ModelConfig, build_model, frame_mask
from emotion_tf.training import plots
from emotion_tf.util import config as config_lib
from emotion_tf.util import fileio
from emotion_tf.util.trainer import Trainer

MODEL_INPUTS = ("audio", "semantic", "num_frames")
OPTIMIZERS = ("adam", "sgd")
PRECISIONS = ("float32", "mixed_bfloat16")


class TrainingSetupError(ValueError):
  """A problem found before training starts (paths, metadata, batch size)."""


class TrainingDivergedError(RuntimeError):
  """The loss became NaN/inf; training stopped and the last good checkpoint was kept."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """Training hyperparameters; defaults are the paper's (Sec. 5.1).

  The one source of the training flags of `python -m emotion_tf.train` (emotion_tf.util.config).
  """

  data_dir: str = config_lib.field(
    "", "Directory of TFRecord shards + metadata.json (python -m data_prep.write_tfrecords)."
  )
  model_dir: str = config_lib.field(
    "",
    "Output directory: checkpoints, backup, logs, best.keras, last.keras, config.json. "
    "Rerunning the same command resumes from it.",
  )
  embeddings: str = config_lib.field(
    "",
    "Optional .vec file: replaces the stored semantic vectors via the shards' word_index "
    "(e.g. Word2Vec vs aligned Speech2Vec ablations).",
  )
  train_partition: str = config_lib.field("Train", "Partition to train on.")
  eval_partition: str = config_lib.field(
    "Devel", "Partition evaluated after each epoch; the best model by its mean CCC is kept."
  )
  epochs: int = config_lib.field(50, "Epochs (passes over the training partition).")
  batch_size: int = config_lib.field(
    25, "Global batch size (split over replicas; must be divisible by their number)."
  )
  learning_rate: float = config_lib.field(
    1e-4, "Learning rate (the paper: Adam, 1e-4).", lower_bound=0.0
  )
  optimizer: str = config_lib.field("adam", "Optimizer (the paper: Adam).", choices=OPTIMIZERS)
  beta_1: float = config_lib.field(0.9, "Adam beta_1.", lower_bound=0.0, upper_bound=1.0)
  beta_2: float = config_lib.field(
    0.999, "Adam beta_2 (Keras default; the original code: 0.99).", lower_bound=0.0, upper_bound=1.0
  )
  adam_epsilon: float = config_lib.field(
    1e-7,
    "Adam epsilon (Keras default; TF1's AdamOptimizer, the original code: 1e-8).",
    lower_bound=0.0,
  )
  loss_weighting: str = config_lib.field(
    "mean",
    "Weights of the per-dimension CCC losses (Eq. 8): mean = (L_a + L_v + L_l) / 3 "
    "(the paper), original = L_a + L_v/2 + L_l/3 (the authors' train.py).",
    choices=tuple(losses.LOSS_WEIGHTINGS),
  )
  clip_norm: float = config_lib.field(5.0, "Global gradient-norm clip (0 = off).", lower_bound=0.0)
  seed: int = config_lib.field(0, "Seed of weights, dropout and data order.")
  steps_per_epoch: int = config_lib.field(
    0,
    "Steps per epoch, i.e. between evaluations (0 = one full pass). Without --train_steps "
    "a cap on one pass; with --train_steps the training data repeats to fill it.",
    lower_bound=0,
  )
  train_steps: int = config_lib.field(
    0,
    "Total optimizer steps (0 = --epochs passes). > 0: training is governed by steps, not "
    "epochs: the data repeats, Devel is evaluated every --steps_per_epoch steps (default one "
    "pass), the best model by Devel mean CCC is kept, --early_stopping_patience counts "
    "evaluations, and --epochs is ignored. Small corpora give few steps per pass; this keeps "
    "the number of updates independent of the corpus size.",
    lower_bound=0,
  )
  backup_every_steps: int = config_lib.field(
    20, "Steps between backups (crash recovery).", lower_bound=1
  )
  log_every_steps: int = config_lib.field(
    5, "Steps between TensorBoard training scalars and progress log lines.", lower_bound=1
  )
  early_stopping_patience: int = config_lib.field(
    0,
    "Stop after this many epochs (evaluations) without a better eval mean CCC (0 = off).",
    lower_bound=0,
  )
  shuffle_buffer: int = config_lib.field(256, "Examples in the shuffle buffer.", lower_bound=1)
  precision: str = config_lib.field(
    "float32",
    "Compute precision; mixed_bfloat16 is for GPUs (loss and CCC statistics stay float32).",
    choices=PRECISIONS,
  )
  deterministic: bool = config_lib.field(False, "Enable TensorFlow op determinism (slower).")
  allow_incomplete: bool = config_lib.field(
    False,
    "Train on a TFRecord directory whose metadata says it is incomplete (some "
    "recordings failed to write); otherwise such a directory is refused, naming them.",
  )
  # Waveform augmentation of the Train chunks (emotion_tf.data.augment); every kind off by
  # default (probability 0). Never applied to Devel/Test/evaluation.
  aug_noise_prob: float = config_lib.field(
    0.0,
    "Probability of additive noise per training chunk (0 = off).",
    lower_bound=0.0,
    upper_bound=1.0,
  )
  aug_noise_color: str = config_lib.field(
    "both", "Additive noise colour (both = 50/50).", choices=augment.NOISE_COLORS
  )
  aug_noise_snr_db: tuple = config_lib.field(
    (5.0, 30.0), "SNR range (dB) low,high of the additive noise, drawn uniformly."
  )
  aug_babble_prob: float = config_lib.field(
    0.0,
    "Probability of babble (sum of other chunks of the batch) per chunk (0 = off).",
    lower_bound=0.0,
    upper_bound=1.0,
  )
  aug_babble_talkers: int = config_lib.field(
    3, "Other chunks summed into the babble.", lower_bound=1
  )
  aug_babble_snr_db: tuple = config_lib.field((5.0, 25.0), "SNR range (dB) of the babble.")
  aug_reverb_prob: float = config_lib.field(
    0.0,
    "Probability of synthetic-room reverberation per chunk (0 = off).",
    lower_bound=0.0,
    upper_bound=1.0,
  )
  aug_reverb_rt60: tuple = config_lib.field(
    (0.2, 0.8), "RT60 range (s) of the synthetic impulse responses."
  )
  aug_eq_prob: float = config_lib.field(
    0.0, "Probability of a random channel EQ per chunk (0 = off).", lower_bound=0.0, upper_bound=1.0
  )
  aug_eq_db: float = config_lib.field(
    6.0, "Largest |gain| (dB) of the random EQ curve.", lower_bound=0.0
  )
  aug_gain_prob: float = config_lib.field(
    0.0, "Probability of a random gain per chunk (0 = off).", lower_bound=0.0, upper_bound=1.0
  )
  aug_gain_db: tuple = config_lib.field((-10.0, 10.0), "Gain range (dB) low,high.")
  aug_speed_prob: float = config_lib.field(
    0.0,
    "Probability of speed perturbation per chunk, labels resampled alike (0 = off).",
    lower_bound=0.0,
    upper_bound=1.0,
  )
  aug_speed_range: tuple = config_lib.field((0.9, 1.1), "Speed factor range low,high.")

  def __post_init__(self):
    if self.batch_size <= 0:
      raise TrainingSetupError(f"batch_size must be positive, got {self.batch_size}")
    if self.epochs <= 0:
      raise TrainingSetupError(f"epochs must be positive, got {self.epochs}")
    if self.optimizer not in OPTIMIZERS:
      raise TrainingSetupError(f"optimizer must be adam or sgd, got {self.optimizer!r}")
    if self.precision not in PRECISIONS:
      raise TrainingSetupError(
        f"precision must be float32 or mixed_bfloat16, got {self.precision!r}"
      )
    try:
      augment.AugmentConfig.from_train_config(self)
    except ValueError as e:
      raise TrainingSetupError(str(e)) from e

  def to_dict(self) -> dict[str, Any]:
    return config_lib.to_dict(self)


# ----------------------------------------------------------------------------- strategy


def get_strategy(devices: list[str] | None = None) -> tf.distribute.Strategy:
  """The one strategy helper.

  * `TF_CONFIG` naming more than one worker/chief -> MultiWorkerMirroredStrategy;
  * else MirroredStrategy over `devices`, or over all visible GPUs, or over the
    single CPU device when there is no GPU.
  """
  tf_config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
  cluster = tf_config.get("cluster", {})
  workers = sum(len(cluster.get(k, [])) for k in ("chief", "worker"))
  if workers > 1:
    logging.info("MultiWorkerMirroredStrategy over %d workers", workers)
    return tf.distribute.MultiWorkerMirroredStrategy()
  if not devices:
    gpus = tf.config.list_logical_devices("GPU")
    devices = [d.name for d in gpus] if gpus else ["/cpu:0"]
  logging.info("MirroredStrategy over %s", devices)
  return tf.distribute.MirroredStrategy(devices)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
  """True on the worker that writes summaries, best/last models and checkpoints."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not getattr(resolver, "task_type", None):
    return True
  cluster = resolver.cluster_spec().as_dict()
  if "chief" in cluster:
    return resolver.task_type == "chief"
  return resolver.task_type == "worker" and resolver.task_id == 0


def is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
  """True when the strategy spans several worker processes (MultiWorkerMirroredStrategy)."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None:
    return False
  cluster = resolver.cluster_spec().as_dict()
  return sum(len(cluster.get(k, [])) for k in ("chief", "worker")) > 1


def _task_suffix(strategy) -> str:
  resolver = getattr(strategy, "cluster_resolver", None)
  return f"{resolver.task_type}_{resolver.task_id}" if resolver is not None else "local"


# ----------------------------------------------------------------------------- set-up checks


def _check_writable(model_dir: str) -> None:
  try:
    os.makedirs(model_dir, exist_ok=True)
    fd, probe = tempfile.mkstemp(dir=model_dir, prefix=fileio.owned_temp_prefix("tmp") + "probe-")
    os.close(fd)
    os.remove(probe)
  except OSError as e:
    raise TrainingSetupError(f"{model_dir}: model directory is not writable ({e})") from e


def model_dir_lock(model_dir: str, strategy: tf.distribute.Strategy) -> fileio.DirLock:
  """Takes the lock of `model_dir` for one training process: `.lock-train.<task>` (fileio.DirLock).

  The workers of one multi-worker job (same cluster in `TF_CONFIG`) hold one lock each and
  work side by side; any other live run on the directory (this host or another) is refused.
  A lock whose process is gone (this host) is removed with a warning.

  Raises:
    TrainingSetupError: the directory cannot be written, or another live run holds a lock
      (the message names its pid, host and start time).
  """
  _check_writable(model_dir)
  settings = "train"
  if is_multi_worker(strategy):
    cluster = strategy.cluster_resolver.cluster_spec().as_dict()
    settings = "train " + json.dumps(cluster, sort_keys=True)
  lock = fileio.DirLock(model_dir, _task_suffix(strategy), settings, prefix=".lock-train.")
  try:
    return lock.acquire()
  except fileio.LockError as e:
    raise TrainingSetupError(
      f"{e} (another `emotion_tf.train` on this --model_dir; two runs would overwrite each "
      "other's checkpoints and models)"
    ) from e


def _check_metadata_fits_model(
  config: TrainConfig, model_config: ModelConfig, metadata: schema.Metadata
) -> None:
  """Raises TrainingSetupError when metadata.json disagrees with the model (sample rate,
  samples per frame, label names, interlocutor frames without subject_turn)."""
  if model_config.interlocutor_frames:
    try:
      pipeline.check_interlocutor_data(config.data_dir, metadata)
    except pipeline.DataDirError as e:
      raise TrainingSetupError(str(e)) from e
  if metadata.samples_per_frame != model_config.samples_per_frame:
    raise TrainingSetupError(
      f"{metadata.path}: samples_per_frame {metadata.samples_per_frame}, "
      f"the model expects {model_config.samples_per_frame}"
    )
  if metadata.sample_rate != model_config.sample_rate:
    raise TrainingSetupError(
      f"{metadata.path}: sample_rate {metadata.sample_rate}, "
      f"the model expects {model_config.sample_rate}"
    )
  labels = metadata.label_names
  if labels != tuple(model_config.label_names):
    raise TrainingSetupError(
      f"{metadata.path}: label_names {list(labels)}, "
      f"the model predicts {list(model_config.label_names)}"
    )


def resolve_setup(
  config: TrainConfig, model_config: ModelConfig, num_replicas: int
) -> dict[str, Any]:
  """Checks everything that can fail before the first step; returns the data set-up.

  Returns a dict: metadata, embedding_matrix (or None), embeddings (`embeddings_record`).

  Raises:
    TrainingSetupError: unwritable model dir, missing/mismatched TFRecord metadata,
      missing shards, an incomplete TFRecord directory (unless `allow_incomplete`), a
      corrupt/truncated shard or one whose first record does not match metadata.json
      (`pipeline.validate_shards`, the shard named), a batch not divisible by the replicas,
      a model_dir holding a different run (model config or embedding space), interlocutor
      frames on shards without subject_turn.
  """
  if config.batch_size % num_replicas:
    raise TrainingSetupError(
      f"global batch size {config.batch_size} is not divisible by the number of replicas "
      f"({num_replicas}); choose a multiple of {num_replicas}"
    )
  _check_writable(config.model_dir)
  try:
    metadata = schema.read_metadata(config.data_dir)
  except (OSError, ValueError) as e:
    raise TrainingSetupError(f"TFRecord metadata: {e}") from e
  _check_metadata_fits_model(config, model_config, metadata)
  partitions = [config.train_partition] + ([config.eval_partition] if config.eval_partition else [])
  for partition in partitions:
    try:
      pipeline.shard_files(config.data_dir, partition)
    except FileNotFoundError as e:
      raise TrainingSetupError(str(e)) from e
  try:
    pipeline.check_complete(config.data_dir, metadata, partitions, config.allow_incomplete)
  except pipeline.DataDirError as e:
    raise TrainingSetupError(str(e)) from e
  matrix = None
  dim = metadata.semantic_dim
  if config.embeddings:
    try:
      matrix = schema.load_embedding_matrix(config.data_dir, config.embeddings)
    except (OSError, ValueError) as e:
      raise TrainingSetupError(f"--embeddings: {e}") from e
    dim = int(matrix.shape[1])
  if model_config.semantic_dim != dim:
    raise TrainingSetupError(
      f"semantic dimension: the model expects {model_config.semantic_dim}, the data "
      f"({config.embeddings or config.data_dir}) has {dim}"
    )
  existing = model_dir_lib.path(config.model_dir, model_dir_lib.MODEL_CONFIG)
  previous = model_dir_lib.read_model_config(config.model_dir)
  if previous is not None and previous != model_config:
    raise TrainingSetupError(
      f"{existing}: the model directory holds a run with a different model config "
      f"({previous.variant}, d_s={previous.semantic_dim}); use a new --model_dir"
    )
  embeddings = embeddings_record(config, metadata)
  check_same_embeddings(config.model_dir, embeddings)
  for partition in partitions:  # last: reads every shard once
    try:
      pipeline.validate_shards(config.data_dir, partition, metadata)
    except pipeline.DataDirError as e:
      raise TrainingSetupError(str(e)) from e
  return {"metadata": metadata, "embedding_matrix": matrix, "embeddings": embeddings}


def embeddings_record(config: TrainConfig, metadata: schema.Metadata) -> dict[str, Any]:
  """The embedding space a run trains on: {'file', 'sha256', 'source'}.

  With `--embeddings` that .vec (hashed here), else the .vec the TFRecords were written with
  (`embeddings_file`/`embeddings_sha256` of metadata.json; None when the metadata lacks them).
  Recorded in config.json and in the export metadata; `emotion_tf.predict` compares the
  SHA-256 of the .vec it is given with it.
  """
  if config.embeddings:
    try:
      digest = fileio.file_sha256(config.embeddings)
    except OSError as e:
      raise TrainingSetupError(
        f"{config.embeddings}: cannot read the --embeddings file ({e.strerror or e})"
      ) from e
    return {"file": os.path.abspath(config.embeddings), "sha256": digest, "source": "--embeddings"}
  return {
    "file": metadata.embeddings_file,
    "sha256": metadata.embeddings_sha256,
    "source": os.path.join(os.path.abspath(config.data_dir), schema.METADATA_FILE),
  }


def check_same_embeddings(model_dir: str, embeddings: dict[str, Any]) -> None:
  """Refuses to resume a model directory trained on another embedding space (config.json).

  Raises:
    TrainingSetupError: another space, or a config.json that cannot be read / is corrupt
      (the check is never skipped for an existing file).
  """
  path = model_dir_lib.path(model_dir, model_dir_lib.RUN_CONFIG)
  try:
    config = model_dir_lib.read_run_config(model_dir)
  except model_dir_lib.ModelDirError as e:
    raise TrainingSetupError(str(e)) from e
  if config is None or not embeddings.get("sha256"):
    return
  previous = config.get("embeddings") or {}
  if not isinstance(previous, dict):
    raise TrainingSetupError(f"{path}: 'embeddings' is not a JSON object; the file is corrupt")
  if previous.get("sha256") and previous["sha256"] != embeddings["sha256"]:
    raise TrainingSetupError(
      f"{path}: the model directory holds a run trained on the embeddings {previous['file']} "
      f"(sha256 {previous['sha256']}), this run would train on {embeddings['file']} "
      f"(sha256 {embeddings['sha256']}); use a new --model_dir"
    )


def semantic_dim_of(data_dir: str, embeddings: str = "") -> int:
  """The semantic dimension a model trained on `data_dir` (+ optional .vec) needs."""
  if embeddings:
    try:
      with open(embeddings, encoding="utf-8") as f:
        header = f.readline().split()
    except (OSError, UnicodeDecodeError) as e:
      raise TrainingSetupError(f"{embeddings}: cannot read the --embeddings file ({e})") from e
    if len(header) != 2 or not header[1].isdigit():
      raise TrainingSetupError(f"{embeddings}:1: bad .vec header {' '.join(header)!r}")
    return int(header[1])
  try:
    return schema.read_metadata(data_dir).semantic_dim
  except (OSError, ValueError, KeyError) as e:
    raise TrainingSetupError(f"TFRecord metadata: {e}") from e


# ----------------------------------------------------------------------------- training


def _model_inputs(inputs):
  return {k: inputs[k] for k in MODEL_INPUTS if k in inputs}


def train(
  config: TrainConfig,
  model_config: ModelConfig,
  *,
  strategy: tf.distribute.Strategy | None = None,
  step_callback: Callable[[int, float], None] | None = None,
  dataset_fn: Callable[[str, bool, int], tf.data.Dataset] | None = None,
) -> dict[str, Any]:
  """Trains `model_config` on `config.data_dir`, resuming from `config.model_dir`.

  Args:
    config: training configuration.
    model_config: model hyperparameters (semantic_dim must match the data).
    strategy: defaults to `get_strategy()`.
    step_callback: called on the host after every step as (global_step, loss).
    dataset_fn: optional override (partition, training, seed) -> dataset of
      (inputs, labels) batches, for tests; defaults to `pipeline.make_dataset`.

  Returns:
    dict with 'global_step', 'epochs_completed', 'best_eval_ccc', 'history'
    (per-epoch dicts), 'resumed_from_step', 'num_replicas'.

  Raises:
    TrainingSetupError: before any step, for bad paths/metadata/batch size.
    TrainingDivergedError: NaN/inf loss; the last good checkpoint is kept.
  """
  strategy = strategy or get_strategy()
  if config.batch_size % strategy.num_replicas_in_sync == 0:  # else resolve_setup refuses it
    lock = model_dir_lock(config.model_dir, strategy)
  else:
    lock = None
  try:
    return _train(config, model_config, strategy, dataset_fn, step_callback)
  finally:
    if lock is not None:
      lock.release()


def _train(
  config: TrainConfig,
  model_config: ModelConfig,
  strategy: tf.distribute.Strategy,
  dataset_fn,
  step_callback,
) -> dict[str, Any]:
  """`train` once the model directory's lock is held."""
  run = _Run(config, model_config, strategy, dataset_fn, step_callback)
  trainer, state = run.trainer, run.state
  history: list[dict[str, Any]] = []
  epoch = int(trainer.epoch.numpy())
  while trainer.step < config.train_steps if config.train_steps else epoch < config.epochs:
    skip = trainer.start_epoch()
    if skip == 0:
      state["train_ccc"].reset_state()
    dataset = run.make(config.train_partition, True, config.seed * 1000 + epoch)
    if config.train_steps:  # step-governed: repeat the data; the last epoch ends at train_steps
      if config.steps_per_epoch:
        dataset = dataset.repeat().take(config.steps_per_epoch)
      dataset = dataset.take(skip + config.train_steps - trainer.step)
    elif config.steps_per_epoch:
      dataset = dataset.take(config.steps_per_epoch)
    if skip:
      dataset = dataset.skip(skip)
      logging.info("epoch %d: skipping %d finished steps", epoch + 1, skip)
    t_epoch = time.perf_counter()
    ran = trainer.run_epoch(
      run.distribute(dataset),
      run.train_step,
      epoch=epoch,
      epochs=run.epochs_total(),
      steps=run.steps_per_epoch,
      finite=("loss", "norm"),
      diverged=functools.partial(run.diverged, epoch),
      after_step=run.after_step,
    )
    if ran == 0 and skip == 0:
      raise TrainingSetupError(
        f"{config.data_dir}: partition {config.train_partition!r} yielded no batch"
      )
    if skip == 0:
      run.steps_per_epoch = ran
    record = run.end_of_epoch(epoch, time.perf_counter() - t_epoch)
    history.append(record)
    if (
      config.early_stopping_patience
      and int(state["bad_epochs"].numpy()) >= config.early_stopping_patience
    ):
      logging.info(
        "early stopping: %d epochs without a better eval CCC", int(state["bad_epochs"].numpy())
      )
      break
    epoch += 1
  return run.finish(history)


class _Run:
  """One call of `train`: set-up, the distributed steps, the per-step and per-epoch work."""

  def __init__(
    self,
    config: TrainConfig,
    model_config: ModelConfig,
    strategy: tf.distribute.Strategy,
    dataset_fn,
    step_callback,
  ):
    self.config, self.strategy, self.dataset_fn = config, strategy, dataset_fn
    self.step_callback = step_callback
    self.multi_worker = is_multi_worker(strategy)
    self.chief = is_chief(strategy)
    self.setup = resolve_setup(config, model_config, strategy.num_replicas_in_sync)
    self.matrix = self.setup["embedding_matrix"]
    self.interlocutor_frames = model_config.interlocutor_frames
    self.augmentation = augment.AugmentConfig.from_train_config(config)
    if config.deterministic:
      tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(config.seed)
    if config.precision != "float32":
      keras.mixed_precision.set_global_policy(config.precision)
    self.model_dir = config.model_dir
    self.resolved = self._resolved_config(model_config)
    if self.chief:
      model_dir_lib.write_model_config(self.model_dir, model_config)
      model_dir_lib.write_run_config(self.model_dir, self.resolved)
    self.trainer = Trainer(
      strategy, name="train", log_every_steps=config.log_every_steps, chief=self.chief
    )
    self.state = self.trainer.build(
      lambda: _build_state(model_config, config), untracked=("train_ccc", "eval_ccc")
    )
    self.model = self.state["model"]
    self._checkpoints()
    self.train_writer = self.trainer.summary_writer(
      model_dir_lib.path(self.model_dir, model_dir_lib.LOGS, "train")
    )
    self.eval_writer = self.trainer.summary_writer(
      model_dir_lib.path(self.model_dir, model_dir_lib.LOGS, "eval")
    )
    with self.train_writer.as_default():
      tf.summary.text(
        "config",
        "```\n" + json.dumps(self.resolved, indent=2, sort_keys=True, default=str) + "\n```",
        step=0,
      )
    self.train_step, self.eval_step, self.local_eval_step = _step_functions(
      strategy, self.model, self.state["optimizer"], float(config.clip_norm), config.loss_weighting
    )
    self.steps_per_epoch = config.steps_per_epoch or None
    self._log = {"time": time.perf_counter(), "steps": 0}

  def epochs_total(self) -> int:
    """Epochs of the whole run: --epochs, or with --train_steps the evaluation rounds needed
    (known once the steps of one epoch are)."""
    if not self.config.train_steps:
      return self.config.epochs
    per_epoch = self.config.steps_per_epoch or self.steps_per_epoch
    return -(-self.config.train_steps // per_epoch) if per_epoch else 0

  def _resolved_config(self, model_config: ModelConfig) -> dict[str, Any]:
    return {
      "model": model_config.to_dict(),
      "training": self.config.to_dict(),
      "data": {
        k: self.setup["metadata"].fields.get(k)
        for k in (
          "sample_rate",
          "samples_per_frame",
          "frames_per_chunk",
          "semantic_dim",
          "label_names",
          "embeddings",
          "counts",
          "schema_version",
        )
      },
      "strategy": (
        "MultiWorkerMirroredStrategy" if self.multi_worker else type(self.strategy).__name__
      ),
      "num_replicas": self.strategy.num_replicas_in_sync,
      "embeddings": self.setup["embeddings"],
    }

  def _checkpoints(self) -> None:
    self.write_root = (
      self.model_dir
      if self.chief
      else model_dir_lib.path(self.model_dir, model_dir_lib.WORKERS, _task_suffix(self.strategy))
    )
    for sub in (model_dir_lib.BACKUP, model_dir_lib.CHECKPOINTS):  # this task's, lock held
      model_dir_lib.remove_partial_checkpoints(model_dir_lib.path(self.write_root, sub))
    self.backup = self.trainer.manager(
      model_dir_lib.path(self.write_root, model_dir_lib.BACKUP), max_to_keep=2
    )
    self.epochs_manager = self.trainer.manager(
      model_dir_lib.path(self.write_root, model_dir_lib.CHECKPOINTS),
      max_to_keep=3,
      checkpoint_name="epoch",
    )
    latest = self.trainer.restore(model_dir_lib.path(self.model_dir, model_dir_lib.BACKUP))
    self.resumed_from = self.trainer.step if latest else 0

  def make(self, partition: str, training: bool, seed: int) -> tf.data.Dataset:
    if self.dataset_fn is not None:
      return self.dataset_fn(partition, training, seed)
    # Across workers every step must see a full global batch (no worker may run out of data
    # while the others wait in a collective): drop the last partial batch of a training epoch
    # there. In one process partial batches are fine.
    return pipeline.make_dataset(
      self.config.data_dir,
      partition,
      self.config.batch_size,
      training,
      shuffle_buffer=self.config.shuffle_buffer,
      seed=seed,
      embedding_matrix=self.matrix,
      drop_remainder=training and self.multi_worker,
      interlocutor_frames=self.interlocutor_frames,
      augmentation=self.augmentation,
    )

  def distribute(self, dataset: tf.data.Dataset):
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return self.strategy.experimental_distribute_dataset(dataset.with_options(options))

  def diverged(self, epoch: int, loss: float, outputs) -> Exception:
    norm = float(outputs["norm"].numpy())
    best = model_dir_lib.path(self.model_dir, model_dir_lib.BEST)
    return TrainingDivergedError(
      f"non-finite loss ({loss}) or gradient norm ({norm}) at step {self.trainer.step + 1} "
      f"(epoch {epoch + 1}); training stopped. The last good checkpoint is kept: "
      f"{self.backup.latest_checkpoint or 'none saved yet'}"
      f"{'' if not os.path.exists(best) else ' and best.keras'}"
    )

  def eval_diverged(self, epoch: int, values: np.ndarray) -> Exception:
    return TrainingDivergedError(
      f"{self.config.eval_partition} CCC is not finite "
      f"({_fmt(dict(zip(LABEL_NAMES, values, strict=False)))}) "
      f"after step {self.trainer.step} (epoch {epoch + 1}): the model's predictions are NaN/inf; "
      f"training stopped. The last good checkpoint is kept: "
      f"{self.backup.latest_checkpoint or 'none saved yet'}"
    )

  def after_step(self, step: int, loss: float, outputs) -> None:
    self.state["train_ccc"].update_from_statistics(outputs["stats"])
    self._log["steps"] += 1
    if step % self.config.log_every_steps == 0:
      now = time.perf_counter()
      with self.train_writer.as_default():
        tf.summary.scalar("loss", loss, step=step)
        tf.summary.scalar("gradient_norm", float(outputs["norm"].numpy()), step=step)
        tf.summary.scalar(
          "steps_per_second", self._log["steps"] / max(now - self._log["time"], 1e-9), step=step
        )
      self._log = {"time": now, "steps": 0}
    if step % self.config.backup_every_steps == 0:
      self.backup.save(checkpoint_number=step)
    if self.step_callback is not None:
      self.step_callback(step, loss)

  def evaluate(self, dataset: tf.data.Dataset) -> np.ndarray:
    """Per-dimension CCC [3] of a partition from summed statistics. With several workers every
    worker evaluates the whole partition by itself (no collectives, so uneven partial batches
    cannot stall a worker) and all reach the same best-model decision. With TFRecords on disk
    (no dataset_fn) the partition is predicted by the one inference path instead (`_eval_ccc`:
    whole recordings, LSTM state carried across chunks), so best.keras is chosen by the figure
    `emotion_tf.evaluate` reports."""
    if self.dataset_fn is None:
      if getattr(self, "_runner", None) is None:
        from emotion_tf.serving import inference

        self._runner = inference.runner_for(self.model)
      return _eval_ccc(self._runner, self.model.config, self.config, self.matrix)
    eval_ccc = self.state["eval_ccc"]
    eval_ccc.reset_state()
    if self.multi_worker:
      for inputs, labels in dataset:
        eval_ccc.update_from_statistics(self.local_eval_step(inputs, labels))
    else:
      for inputs, labels in self.distribute(dataset):
        eval_ccc.update_from_statistics(self.eval_step(inputs, labels))
    return eval_ccc.per_dimension().numpy()

  def end_of_epoch(self, epoch: int, seconds: float) -> dict[str, Any]:
    """Train/eval summaries, best model, epoch checkpoint and backup; returns the record."""
    config, state, step = self.config, self.state, self.trainer.step
    train_values = state["train_ccc"].per_dimension().numpy()
    record = {
      "epoch": epoch,
      "global_step": step,
      "train_loss": self.trainer.epoch_loss(),
      "train_ccc": dict(zip(LABEL_NAMES, map(float, train_values), strict=False)),
      "seconds": seconds,
    }
    _write_ccc(self.train_writer, train_values, step)
    improved = True
    if config.eval_partition:
      values = self.evaluate(self.make(config.eval_partition, False, 0))
      if not np.all(np.isfinite(values)):  # NaN/inf predictions: the last update diverged
        raise self.eval_diverged(epoch, values)
      mean = float(np.mean(values))
      record["eval_ccc"] = dict(zip(LABEL_NAMES, map(float, values), strict=False), mean=mean)
      weights = losses.LOSS_WEIGHTINGS[self.config.loss_weighting]
      record["eval_loss"] = float(np.dot(weights, 1.0 - values))  # the loss on the partition
      _write_ccc(self.eval_writer, values, step, loss=record["eval_loss"])
      if self.chief and self.dataset_fn is None:
        image = _eval_curve_image(self.model, config, self.matrix)
        if image is not None:
          with self.eval_writer.as_default():
            tf.summary.image("devel_prediction_vs_gold", image[None], step=step)
      improved = mean > float(state["best_eval_ccc"].numpy())
      if improved:
        state["best_eval_ccc"].assign(mean)
        state["bad_epochs"].assign(0)
      else:
        state["bad_epochs"].assign_add(1)
    logging.info(
      "epoch %d/%d step %d: train loss %.4f, train CCC %s, eval CCC %s (%.1f s)",
      epoch + 1,
      self.epochs_total(),
      step,
      record["train_loss"],
      _fmt(record["train_ccc"]),
      _fmt(record.get("eval_ccc", {})),
      record["seconds"],
    )
    if improved and self.chief:
      model_dir_lib.save_keras(self.model, self.model_dir, model_dir_lib.BEST)
    self.trainer.end_epoch(epoch)
    self.epochs_manager.save(checkpoint_number=epoch + 1)
    self.backup.save(checkpoint_number=step)
    return record

  def finish(self, history: list[dict[str, Any]]) -> dict[str, Any]:
    if self.chief:
      model_dir_lib.save_keras(self.model, self.model_dir, model_dir_lib.LAST)
    else:
      shutil.rmtree(self.write_root, ignore_errors=True)
    self.train_writer.flush()
    self.eval_writer.flush()
    return {
      "global_step": self.trainer.step,
      "epochs_completed": int(self.trainer.epoch.numpy()),
      "best_eval_ccc": float(self.state["best_eval_ccc"].numpy()),
      "history": history,
      "resumed_from_step": self.resumed_from,
      "num_replicas": self.strategy.num_replicas_in_sync,
    }


def _build_state(model_config: ModelConfig, config: TrainConfig) -> dict[str, Any]:
  """Model, optimizer, best-metric state and the CCC metrics (called in the strategy scope)."""
  model = build_model(model_config)
  if config.optimizer == "adam":
    optimizer = keras.optimizers.Adam(
      config.learning_rate, beta_1=config.beta_1, beta_2=config.beta_2, epsilon=config.adam_epsilon
    )
  else:
    optimizer = keras.optimizers.SGD(config.learning_rate)
  optimizer.build(model.trainable_variables)
  train_ccc = ConcordanceCorrelation(name="train_ccc")
  return {
    "model": model,
    # Non-trainable state (the dropout seed generators) is not attribute-tracked by
    # tf.train.Checkpoint: list it explicitly so a resumed run draws the same masks.
    "model_state": [v.value for v in model.non_trainable_variables],
    "optimizer": optimizer,
    "best_eval_ccc": tf.Variable(-np.inf, dtype=tf.float64, trainable=False, name="best_eval_ccc"),
    "bad_epochs": tf.Variable(0, dtype=tf.int64, trainable=False, name="bad_epochs"),
    "train_ccc": train_ccc,
    # The epoch's training CCC statistics, so a resumed epoch reports the whole epoch.
    "train_ccc_state": [v.value for v in train_ccc.variables],
    "eval_ccc": ConcordanceCorrelation(name="eval_ccc"),
  }


def _step_functions(
  strategy: tf.distribute.Strategy,
  model: keras.Model,
  optimizer: keras.optimizers.Optimizer,
  clip: float,
  loss_weighting: str = "mean",
):
  """(train_step, eval_step, local_eval_step) of the emotion model.

  train_step((inputs, labels)) -> {'loss' (global-batch CCC loss, Eq. 8), 'stats' (summed
  sufficient statistics [6, 3]), 'norm' (global gradient norm)}.
  """
  trainable = model.trainable_variables
  # With annotation-delay compensation the last `delay` frames of a chunk have no output.
  delay = getattr(getattr(model, "config", None), "label_delay_frames", 0)

  def replica_train_step(inputs, labels):
    labels = tf.cast(labels, tf.float32)
    mask = frame_mask(inputs["num_frames"], tf.shape(labels)[1], delay)
    with tf.GradientTape() as tape:
      pred = tf.cast(model(_model_inputs(inputs), training=True), tf.float32)
      local = ccc.ccc_statistics(labels, pred, mask)
      stats = ccc.cross_replica_statistics(local)  # global batch, Eq. 8
      loss = losses.ccc_loss_from_statistics(stats, loss_weighting)
    grads = tape.gradient(loss, trainable)
    ctx = tf.distribute.get_replica_context()
    n = ctx.num_replicas_in_sync
    if n > 1:
      grads = ctx.all_reduce(tf.distribute.ReduceOp.SUM, grads)  # global-batch gradient
    if clip > 0:
      grads, norm = tf.clip_by_global_norm(grads, clip)
    else:
      norm = tf.linalg.global_norm(grads)
    if n > 1:
      # Keras' optimizer sums the replicas' gradients again: hand it 1/n of the total.
      grads = [g / n for g in grads]
    optimizer.apply_gradients(zip(grads, trainable, strict=False))
    return loss, tf.cast(local, tf.float64), norm

  @tf.function(reduce_retracing=True)
  def distributed_train_step(inputs, labels):
    loss, local, norm = strategy.run(replica_train_step, args=(inputs, labels))
    return {
      "loss": strategy.reduce(tf.distribute.ReduceOp.MEAN, loss, axis=None),
      "stats": strategy.reduce(tf.distribute.ReduceOp.SUM, local, axis=None),
      "norm": strategy.reduce(tf.distribute.ReduceOp.MEAN, norm, axis=None),
    }

  def replica_eval_step(inputs, labels):
    mask = frame_mask(inputs["num_frames"], tf.shape(labels)[1], delay)
    pred = tf.cast(model(_model_inputs(inputs), training=False), tf.float32)
    return ccc.ccc_statistics(labels, pred, mask, dtype=tf.float64)

  @tf.function(reduce_retracing=True)
  def eval_step(inputs, labels):
    local = strategy.run(replica_eval_step, args=(inputs, labels))
    return strategy.reduce(tf.distribute.ReduceOp.SUM, local, axis=None)

  def train_step(batch):
    return distributed_train_step(*batch)

  return train_step, eval_step, tf.function(replica_eval_step, reduce_retracing=True)


def _write_ccc(writer, values: np.ndarray, step: int, loss: float | None = None) -> None:
  """CCC scalars ccc/<dimension>, ccc/mean (and the loss) of one partition."""
  with writer.as_default():
    for name, value in zip(LABEL_NAMES, values, strict=False):
      tf.summary.scalar(f"ccc/{name}", value, step=step)
    tf.summary.scalar("ccc/mean", float(np.mean(values)), step=step)
    if loss is not None:
      tf.summary.scalar("loss", loss, step=step)


def _fmt(values: dict[str, float]) -> str:
  return " ".join(f"{k[:1]}={v:.3f}" for k, v in values.items() if k != "mean") or "-"


def _eval_ccc(runner, model_config: ModelConfig, config: TrainConfig, matrix) -> np.ndarray:
  """Per-dimension CCC [3] (Eq. 8, all valid frames of the eval partition concatenated in
  recording-id order, as `evaluate_lib.ccc_summary`) of the stateful predictions."""
  from emotion_tf.serving import inference

  recordings = inference.tfrecord_recordings(
    config.data_dir,
    config.eval_partition,
    matrix,
    model_config.interlocutor_frames,
    config.batch_size,
  )
  predictions, labels = inference.predict_recordings(runner, recordings)
  ids = sorted(labels)
  gold = np.concatenate([np.asarray(labels[i], np.float64) for i in ids])
  pred = np.concatenate([np.asarray(predictions[i], np.float64) for i in ids])
  return ccc.concordance_cc_numpy(gold, pred, axis=0)


def _eval_curve_image(model, config: TrainConfig, matrix) -> np.ndarray | None:
  """Gold vs predicted curves of the first recording of the eval partition, predicted by the
  one inference path (`serving.inference`: chunks in order, LSTM state carried)."""
  from emotion_tf.serving import inference

  recordings = inference.tfrecord_recordings(
    config.data_dir,
    config.eval_partition,
    matrix,
    model.config.interlocutor_frames,
    config.batch_size,
    max_recordings=1,
  )
  if not recordings:
    return None
  first, (audio, semantic, gold) = next(iter(recordings.items()))
  pred = inference.predict_frames(model, audio, semantic)  # [F, 3]
  png = plots.recording_png(gold, pred, LABEL_NAMES, title=f"{first} ({config.eval_partition})")
  return tf.image.decode_png(png, channels=3).numpy()  # [700, 1000, 3] uint8
