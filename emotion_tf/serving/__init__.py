"""Serving: export of the SavedModel, the inference path, prediction CSVs."""
