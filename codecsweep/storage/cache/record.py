"""One record of a pack: b"CSR1", u32 header length, header JSON (kind, key, sha256 and size of
the data, meta), then the data. Packs describe themselves: a pack is its records back to back.

The header checks itself: it opens with ``"check"``, the first 16 hex digits of the sha256 of
the rest of the header (the canonical JSON of the other fields), so a damaged byte of the meta,
kind, key or size is caught like a damaged byte of the data (whose sha256 is in the header).
Records written before this check (no ``"check"``) are still read; their fields must be exactly
the five above, so damage that breaks the check's own bytes cannot pass for such a record.
"""

from __future__ import annotations

import json
import re
import struct

from ...core.hashing import sha256_bytes

RECORD_MAGIC = b"CSR1"
FIELDS = {"kind", "key", "sha", "size", "meta"}
CHECK = b'{"check":"'  # + 16 hex digits + '",' + the other fields
CHECK_DIGITS = 16
HEX64 = re.compile(r"[0-9a-f]{64}")


class BadRecord(Exception):
    """A record fails its checks when read (the reason is the message)."""


def encode_record(kind: str, key: str, data: bytes, meta: dict | None) -> tuple[bytes, str]:
    sha = sha256_bytes(data)
    header = {"kind": kind, "key": key, "sha": sha, "size": len(data), "meta": meta or {}}
    body = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    head = CHECK + sha256_bytes(body)[:CHECK_DIGITS].encode() + b'",' + body[1:]
    return RECORD_MAGIC + struct.pack("<I", len(head)) + head + data, sha


def parse_header(head: bytes) -> dict:
    """A record's header, checked (its own check, its fields and their types); raises BadRecord."""
    body = head
    if head.startswith(CHECK):
        end = len(CHECK) + CHECK_DIGITS
        body = b"{" + head[end + 2 :]
        if head[end : end + 2] != b'",' or sha256_bytes(body)[:CHECK_DIGITS].encode() != head[len(CHECK) : end]:
            raise BadRecord("record header fails its check")
    try:
        header = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise BadRecord(f"record header unreadable ({exc})") from None
    if not isinstance(header, dict) or header.keys() != FIELDS:
        raise BadRecord("record header unreadable (its fields)")
    kind, key, sha, size, meta = header["kind"], header["key"], header["sha"], header["size"], header["meta"]
    if not (isinstance(kind, str) and isinstance(meta, dict) and type(size) is int and size >= 0):
        raise BadRecord("record header unreadable (a field's type)")
    if not (isinstance(key, str) and HEX64.fullmatch(key) and isinstance(sha, str) and HEX64.fullmatch(sha)):
        raise BadRecord("record header unreadable (key or sha256)")
    return header


def decode_record(buf) -> tuple[dict, bytes]:
    """(header, data) of one record, checked: magic, header, size, sha256 of the data."""
    if len(buf) < 8 or bytes(buf[:4]) != RECORD_MAGIC:
        raise BadRecord("record header damaged")
    (hlen,) = struct.unpack("<I", buf[4:8])
    header = parse_header(bytes(buf[8 : 8 + hlen]))
    return header, checked_data(header, buf[8 + hlen : 8 + hlen + header["size"]])


def checked_data(header: dict, data) -> bytes:
    """``data`` (the bytes after a record's header), checked against the header's size and sha256."""
    sha, size = header["sha"], header["size"]
    data = bytes(data)
    if len(data) != size:
        raise BadRecord(f"blob {sha[:12]} truncated ({len(data)} of {size} bytes)")
    if sha256_bytes(data) != sha:
        raise BadRecord(f"blob {sha[:12]} fails its sha256 check")
    return data


def walk_records(buf: bytes):
    """(header, offset, length) of each record of a pack, read by their headers alone (the data
    is not checked), up to the first record whose header is damaged or the end of the pack."""
    offset = 0
    while offset + 8 <= len(buf) and buf[offset : offset + 4] == RECORD_MAGIC:
        (hlen,) = struct.unpack("<I", buf[offset + 4 : offset + 8])
        try:
            header = parse_header(bytes(buf[offset + 8 : offset + 8 + hlen]))
        except BadRecord:
            break
        length = 8 + hlen + header["size"]
        if offset + length > len(buf):
            break
        yield header, offset, length
        offset += length
