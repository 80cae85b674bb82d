"""Storage: source images (load and normalize), the Parquet records, the packed cache."""
