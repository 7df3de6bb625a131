"""Semantic feature extractor: Word2Vec / Speech2Vec embeddings and their alignment (Sec. 3.1)."""
