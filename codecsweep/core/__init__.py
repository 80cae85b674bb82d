"""The bottom layer: key recipes on plain values and the versions they depend on, the
registry, the Parquet schemas and the metric table, hashing, ImageNet labels, weight
locations, and where the workflow's files are. Imports nothing else of the package."""
