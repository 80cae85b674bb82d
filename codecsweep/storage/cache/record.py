"""One record of a pack: b"CSR1", u32 header length, header JSON (kind, key, sha256 and size of
the data, meta), then the data. Packs describe themselves: a pack is its records back to back."""

from __future__ import annotations

import json
import struct

from ...core.hashing import sha256_bytes

RECORD_MAGIC = b"CSR1"


class BadRecord(Exception):
    """A record fails its checks when read (the reason is the message)."""


def encode_record(kind: str, key: str, data: bytes, meta: dict | None) -> tuple[bytes, str]:
    sha = sha256_bytes(data)
    header = {"kind": kind, "key": key, "sha": sha, "size": len(data), "meta": meta or {}}
    head = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    return RECORD_MAGIC + struct.pack("<I", len(head)) + head + data, sha


def decode_record(buf) -> tuple[dict, bytes]:
    """(header, data) of one record, checked: magic, header, size, sha256 of the data."""
    if len(buf) < 8 or bytes(buf[:4]) != RECORD_MAGIC:
        raise BadRecord("record header damaged")
    (hlen,) = struct.unpack("<I", buf[4:8])
    try:
        header = json.loads(bytes(buf[8 : 8 + hlen]))
        sha, size = header["sha"], header["size"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BadRecord(f"record header unreadable ({exc})") from None
    data = bytes(buf[8 + hlen : 8 + hlen + size])
    if len(data) != size:
        raise BadRecord(f"blob {sha[:12]} truncated ({len(data)} of {size} bytes)")
    if sha256_bytes(data) != sha:
        raise BadRecord(f"blob {sha[:12]} fails its sha256 check")
    return header, data


def walk_records(buf: bytes):
    """(header, offset, length) of each record of a pack, read by their headers alone (the data
    is not checked), up to the first record whose header is damaged or the end of the pack."""
    offset = 0
    while offset + 8 <= len(buf) and buf[offset : offset + 4] == RECORD_MAGIC:
        (hlen,) = struct.unpack("<I", buf[offset + 4 : offset + 8])
        try:
            header = json.loads(buf[offset + 8 : offset + 8 + hlen])
            length = 8 + hlen + header["size"]
        except (ValueError, KeyError, TypeError):
            break
        yield header, offset, length
        offset += length
