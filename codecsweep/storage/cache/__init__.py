"""Content-addressed artifact cache (CAS), packed: a few files per job, not several per result.

Layout under ``cache_dir``::

    packs/<name>.pack   records back to back, each: b"CSR1", u32 header length, header JSON
                        (its own check, kind, key, sha256 and size of the data, meta), then the data
    packs/<name>.idx    the pack's index: lookup id -> (pack, offset, length) of a record
    merged/<name>.idx   many packs' indexes merged into one sorted file (written by ``gc``)
    tmp/                a pack (and index) being written; renamed into ``packs/`` when sealed
    */<name>.idx.damaged  an index file a reader found damaged, set aside (gc removes it)

A key is the sha256 of a canonical JSON of everything the result depends on (and only
content: never a path or a time). Each ``Cache`` appends the results it computes to one new
pack, which it seals (rename the pack, then write its index: temp + rename) on ``close()``,
at interpreter exit, or every ``roll_bytes``, so a killed job loses at most that much work
and never leaves a visible partial pack. Sealed packs and indexes are immutable, so many
processes on many nodes (NFS included) write at once without locks; two packs that hold one
key hold equivalent results, and the newest one (pack names start with the time) serves.

Every record is indexed twice: under its key (``get``) and under the sha256 of its data
(``read_blob``). Reads check the record's header and the data's sha256, and every index row
they use; a bad copy (or row) counts as ``corrupt`` and the next copy is tried, and a key with
no good copy is a miss: the caller recomputes it and ``put`` writes a fresh copy into the new
pack (an existing copy is never trusted for a write), which serves from then on. No damaged
byte raises anything else: an index file that fails its checks is set aside (and logged) by
the reader that finds it, and ``gc`` indexes its pack again from the pack's records. ``gc`` drops superseded and corrupt copies
by rewriting old packs, packs small ones together and merges the indexes, so that a reader
opens one memory-mapped index plus those of the packs written since.

No fsync: a killed process cannot leave a half-visible file (rename is atomic), and what a
power cut might truncate is caught by the checks on read.

Modules: ``errors``, ``record`` (the record format), ``index`` (index files), ``store`` (``Cache``: the
job-facing get/put/read_blob and the pack a job writes), ``audit`` (what verify checks: every
record and every index a reader would use), ``maintenance`` (stats, verify, gc, reindex, merge
of indexes) and ``migration`` (from the loose-file layout).
"""

from ...core.hashing import sha256_bytes
from .errors import CacheCorruptError, CacheLayoutError, CacheWriteError
from .maintenance import GRACE_S
from .store import Cache, Entry

__all__ = ["GRACE_S", "Cache", "CacheCorruptError", "CacheLayoutError", "CacheWriteError", "Entry", "sha256_bytes"]
