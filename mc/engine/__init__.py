"""The engine: models, searches, results and symbolic values; it knows nothing of kernels."""
