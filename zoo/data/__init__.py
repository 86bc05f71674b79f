"""Offline data loaders: real data sets shipped in packages, and the papers' synthetic tasks."""
