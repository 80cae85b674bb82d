"""Migration from the loose-file layout (before packs) into packs (``codecsweep cache migrate``)."""

from __future__ import annotations

import json
from collections import Counter

from ...core.hashing import sha256_bytes


def migrate(cache) -> dict:
    """Move a loose-file cache (``blobs/ab/cdef…`` + ``index/<kind>/ab/<key>.json``, the
    layout before packs) under ``cache.root`` into packs, through ``cache.put``. Entries whose
    blob is missing or fails its sha256 are skipped (they would be recomputed anyway; the reason
    goes to ``cache.problems``); the loose files are removed once the packs holding their
    entries are sealed."""
    result = Counter()
    index_dir, blob_dir = cache.root / "index", cache.root / "blobs"
    if not index_dir.is_dir():
        return {"migrated": 0, "skipped": 0}
    paths = sorted(index_dir.glob("*/*/*.json"))
    for path in paths:
        kind, key = path.parent.parent.name, path.stem
        try:
            entry = json.loads(path.read_bytes())
            sha = entry["blob"]
            data = (blob_dir / sha[:2] / sha[2:]).read_bytes()
            if sha256_bytes(data) != sha:
                raise ValueError(f"blob {sha[:12]} fails its sha256 check")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            cache.problems.append(f"not migrated: {kind} {key}: {exc}")
            result["skipped"] += 1
            continue
        cache.put(kind, key, data, entry.get("meta", {}))
        result["migrated"] += 1
    cache.close()
    for path in paths:
        path.unlink()
    for top in (index_dir, blob_dir):
        for path in sorted(top.rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
        top.rmdir()
    cache.reload()
    return {"migrated": result["migrated"], "skipped": result["skipped"]}
