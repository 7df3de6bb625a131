"""emotion_tf: continuous speech emotion recognition with semantic information.

Reimplementation of Tzirakis et al., "Speech Emotion Recognition using Semantic
Information", ICASSP 2021. Importing this package has no side effects.
"""

__version__ = "0.1.0"

LABEL_NAMES = ("arousal", "valence", "liking")
SAMPLE_RATE = 22050
FRAME_HOP_SECONDS = 0.1
SAMPLES_PER_FRAME = 2205
FRAMES_PER_CHUNK = 100
