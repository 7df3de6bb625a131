"""The custom-loop machinery shared by the emotion model (train_lib) and Speech2Vec.

A `Trainer` owns what every distributed training loop here needs besides its step function:

  * `build(build_fn)`: the models/optimizer built inside the strategy scope, plus the loop
    state (global_step, epoch, step_in_epoch and the running loss statistics of the current
    epoch) in one `tf.train.Checkpoint`;
  * `restore(directory)` / `manager(...)`: checkpoint managers and resume;
  * `run_epoch(batches, step_fn, ...)`: the step loop with the NaN/inf stop, the step and
    loss bookkeeping, and a progress line every `log_every_steps` steps
    (`epoch i/N, step s/S, loss, ETA`);
  * `summary_writer(path)`: TensorBoard writers (no-op writers off the chief).

The running loss statistics live in the checkpoint, so a run resumed from a backup taken at
any step of an epoch (even its last) reports the epoch's true mean loss.
"""

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import tensorflow as tf
from absl import logging

StepOutputs = Mapping[str, Any]


class Trainer:
  """Loop state, checkpoints, NaN stop and progress logging of one training run."""

  def __init__(
    self,
    strategy: tf.distribute.Strategy,
    *,
    name: str = "train",
    log_every_steps: int = 0,
    chief: bool = True,
  ):
    """`log_every_steps` = 0: a progress line about every tenth of an epoch."""
    self.strategy = strategy
    self.name = name
    self.log_every_steps = int(log_every_steps)
    self.chief = chief
    self.checkpoint: tf.train.Checkpoint | None = None

  # ------------------------------------------------------------------------------- state

  def build(
    self, build_fn: Callable[[], dict[str, Any]], untracked: Iterable[str] = ()
  ) -> dict[str, Any]:
    """Runs `build_fn` in the strategy scope; its objects + the loop state form the checkpoint.

    Args:
      build_fn: () -> {name: model, optimizer, variable or list of variables, ...}.
      untracked: names of returned objects kept out of the checkpoint (e.g. Keras metrics,
        whose variables can be listed under another name instead).
    Returns the dict `build_fn` returned.
    """
    skip = set(untracked)
    with self.strategy.scope():
      objects = dict(build_fn())
      tracked = {k: v for k, v in objects.items() if k not in skip}
      self.global_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
      self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
      self.step_in_epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="step_in_epoch")
      self.loss_sum = tf.Variable(0.0, dtype=tf.float64, trainable=False, name="epoch_loss_sum")
      self.loss_steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch_loss_steps")
      self.checkpoint = tf.train.Checkpoint(
        **tracked,
        global_step=self.global_step,
        epoch=self.epoch,
        step_in_epoch=self.step_in_epoch,
        epoch_loss_sum=self.loss_sum,
        epoch_loss_steps=self.loss_steps,
      )
    return objects

  def manager(
    self, directory: str, max_to_keep: int, checkpoint_name: str = "ckpt"
  ) -> tf.train.CheckpointManager:
    return tf.train.CheckpointManager(
      self.checkpoint, directory, max_to_keep=max_to_keep, checkpoint_name=checkpoint_name
    )

  def restore(self, directory: str) -> str | None:
    """Restores the latest checkpoint in `directory`; returns its path (None: fresh start)."""
    latest = tf.train.latest_checkpoint(directory)
    if latest:
      self.checkpoint.restore(latest).assert_existing_objects_matched()
      logging.info(
        "%s: resumed from %s: step %d, epoch %d, step %d of that epoch",
        self.name,
        latest,
        self.step,
        int(self.epoch.numpy()),
        int(self.step_in_epoch.numpy()),
      )
    return latest

  @property
  def step(self) -> int:
    return int(self.global_step.numpy())

  def epoch_loss(self) -> float:
    """Mean training loss of the current epoch's steps (NaN before its first step)."""
    steps = int(self.loss_steps.numpy())
    return float(self.loss_sum.numpy()) / steps if steps else float("nan")

  def start_epoch(self) -> int:
    """Steps of the current epoch already done (resume); a fresh epoch resets its loss."""
    done = int(self.step_in_epoch.numpy())
    if done == 0:
      self.loss_sum.assign(0.0)
      self.loss_steps.assign(0)
    return done

  def end_epoch(self, epoch: int) -> None:
    """Marks epoch `epoch` (0-based) finished."""
    self.epoch.assign(epoch + 1)
    self.step_in_epoch.assign(0)

  def summary_writer(self, path: str) -> tf.summary.SummaryWriter:
    if self.chief:
      return tf.summary.create_file_writer(path)
    return tf.summary.create_noop_writer()

  # ------------------------------------------------------------------------------- loop

  def run_epoch(
    self,
    batches: Iterable[Any],
    step_fn: Callable[[Any], StepOutputs],
    *,
    epoch: int,
    epochs: int,
    steps: int | None,
    diverged: Callable[[float, StepOutputs], Exception],
    finite: Iterable[str] = ("loss",),
    after_step: Callable[[int, float, StepOutputs], None] | None = None,
  ) -> int:
    """Runs `step_fn` on every batch of one epoch; returns the number of steps run.

    Args:
      batches: the epoch's (distributed) batches, finished steps of a resumed epoch skipped.
      step_fn: batch -> {'loss': scalar tensor, ...}.
      epoch, epochs: 0-based epoch index and the total (progress lines say epoch + 1).
      steps: steps in a whole epoch, when known (for `step s/S` and the ETA).
      diverged: (loss, outputs) -> the exception raised when an output in `finite` is NaN/inf
        (before the step is counted, so the last backup stays the last good state).
      after_step: (global_step, loss, outputs), after the step is counted.
    """
    finite = tuple(finite)
    interval = self.log_every_steps or max(1, (steps or 10) // 10)
    start_in_epoch = int(self.step_in_epoch.numpy())
    t0 = time.perf_counter()
    ran = 0
    for batch in batches:
      outputs = step_fn(batch)
      loss = float(outputs["loss"].numpy())
      if not all(np.isfinite(float(outputs[k].numpy())) for k in finite):
        raise diverged(loss, outputs)
      self.global_step.assign_add(1)
      self.step_in_epoch.assign_add(1)
      self.loss_sum.assign_add(loss)
      self.loss_steps.assign_add(1)
      ran += 1
      if ran % interval == 0:
        self._log_progress(
          epoch, epochs, steps, loss, ran, time.perf_counter() - t0, start_in_epoch
        )
      if after_step is not None:
        after_step(self.step, loss, outputs)
    return ran

  def _log_progress(
    self,
    epoch: int,
    epochs: int,
    steps: int | None,
    loss: float,
    ran: int,
    elapsed: float,
    start_in_epoch: int,
  ) -> None:
    in_epoch = start_in_epoch + ran
    per_step = elapsed / max(ran, 1)
    if steps:
      remaining = max(steps - in_epoch, 0) + (epochs - epoch - 1) * steps
      eta = _format_seconds(remaining * per_step)
    else:
      eta = "?"
    logging.info(
      "%s: epoch %d/%d, step %d/%s, loss %.4f, %.2f s/step, ETA %s",
      self.name,
      epoch + 1,
      epochs,
      in_epoch,
      steps or "?",
      loss,
      per_step,
      eta,
    )


def _format_seconds(seconds: float) -> str:
  seconds = int(round(seconds))
  hours, rest = divmod(seconds, 3600)
  minutes, secs = divmod(rest, 60)
  return f"{hours:d}:{minutes:02d}:{secs:02d}"
