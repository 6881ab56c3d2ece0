"""Input data: loading MovieLens releases, downloading them, synthetic data."""
