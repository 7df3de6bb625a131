"""Experiments: the ablation of the paper's Table 2 and the AVEC 2017 eGeMAPS baseline."""
