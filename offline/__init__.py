"""Offline batch job: MovieLens data -> precomputed tables in trained_data/.

Importing this package is light (standard library only); heavy libraries (pyspark,
tensorflow, scikit-learn) are imported by the stage modules that need them.
"""
