"""Training: run loop, steps, set-up checks, evaluation, post-processing, plots, model dirs."""
