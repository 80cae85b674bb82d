"""The cache's errors (one module below all others, so that each may raise them)."""


class CacheWriteError(RuntimeError):
    """The cache cannot store a result (e.g. a full disk)."""


class CacheCorruptError(RuntimeError):
    """A stored result is missing or fails its checks when read."""


class CacheLayoutError(RuntimeError):
    """The cache directory holds the loose-file layout from before packs."""
