"""Model: the paralinguistic CNN, fusion layers, network (Fig. 1), CCC (Eq. 8) as metric/loss."""
