"""The corpus designs of the generator, by name: 'sewa' (data_prep/synthesize_lib.py),
'podcast' (data_prep/synthesize_podcast.py) and 'zipf' (data_prep/synthesize_zipf.py). The one
place that knows them all, so that the design modules do not import each other.
"""

from collections.abc import Sequence

from data_prep import synthesize_lib, synthesize_podcast, synthesize_zipf
from emotion_tf.util import cli

DESIGNS = ("sewa", "podcast", "zipf")


def synthesize_design(
  design: str,
  out_dir: str,
  num_recordings: int | None,
  seconds: float,
  seed: int,
  voices: Sequence[str] | None,
  num_workers: int,
  content_words: int | None = None,
  split: Sequence[int] | None = None,
  interlocutor: bool = False,
  room: dict[str, object] | None = None,
) -> dict[str, object]:
  """`synthesize_corpus` of design `design` ('sewa': data_prep.synthesize_lib, 'podcast':
  data_prep.synthesize_podcast); None arguments take the design's defaults. `interlocutor`
  (podcast only) adds a conversation partner in the pauses. `room`: fields of
  RoomSynthConfig (rt60_s, drr_db, snr_db, out_rate, channels; design 'sewa' only)."""
  if interlocutor and design != "podcast":
    raise cli.InputError(
      f"--interlocutor: only --design podcast has a partner channel, got --design {design}"
    )
  if room:
    if design != "sewa":
      raise cli.InputError("--rt60/--snr/--sample_rate/--channels: design 'sewa' only")
    synthesize_lib.check_room(room)
  if design == "sewa":
    kwargs = {} if content_words is None else {"content_words": content_words}
    config = (
      synthesize_lib.RoomSynthConfig(**kwargs, **room)
      if room
      else synthesize_lib.SynthConfig(**kwargs)
    )
    recordings = 40 if num_recordings is None and split is None else num_recordings
    return synthesize_lib.synthesize_corpus(
      out_dir,
      recordings,
      seconds,
      seed,
      voices or synthesize_lib.DEFAULT_VOICES,
      num_workers,
      config,
      split,
    )
  if design == "podcast":
    return synthesize_podcast.synthesize_design(
      out_dir,
      num_recordings,
      seconds,
      seed,
      voices,
      num_workers,
      content_words,
      split,
      interlocutor,
    )
  if design == "zipf":
    return synthesize_zipf.synthesize_design(
      out_dir, num_recordings, seconds, seed, voices, num_workers, content_words, split
    )
  raise cli.InputError(f"--design: unknown design {design!r}, choose one of {', '.join(DESIGNS)}")


def write_design_text(
  design: str, path: str, num_sentences: int, seed: int, content_words: int | None = None
) -> None:
  """`write_text_corpus` of design `design` (its own vocabulary and templates)."""
  if design == "podcast":
    synthesize_podcast.write_text_corpus(
      path, num_sentences, seed, synthesize_podcast.config_for(content_words)
    )
    return
  if design == "zipf":
    config = synthesize_zipf.config_for(content_words)
    synthesize_lib.write_text_corpus(path, num_sentences, seed, config)
    return
  kwargs = {} if content_words is None else {"content_words": content_words}
  config = synthesize_lib.SynthConfig(**kwargs)
  synthesize_lib.write_text_corpus(path, num_sentences, seed, config)
