"""Container parsing: how many bytes of a file are the codec's entropy-coded payload.

``bytes`` (the whole file) is what a system stores; ``payload_bytes`` is what the codec
itself spends on the picture, without container, headers and markers, so that rates can be
compared on the codec alone (at scale 1/8 a JPEG's ~600-byte header is a large share):

- JPEG: the entropy-coded data of every scan (after each SOS header, up to the next marker
  that is not a restart marker or a stuffed 0xFF00);
- JPEG 2000 (J2K codestream): the tile-part bodies after each SOD marker;
- HEIF (HEVC) and AVIF: the image data the ``iloc`` box points into ``mdat`` (for HEVC the
  NAL units of the coded picture, parameter sets excluded; for AVIF the AV1 OBUs);
- WebP: the ``VP8 `` / ``VP8L`` chunk payload;
- JPEG XL: null (no parser here: its container carries little, the codestream is the file).
"""

from __future__ import annotations

import struct


def jpeg_payload(data: bytes) -> int:
    """Bytes of entropy-coded scan data in a JPEG file."""
    pos, total = 2, 0
    if data[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG file (no SOI marker)")
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise ValueError(f"JPEG: marker expected at offset {pos}")
        marker = data[pos + 1]
        if marker == 0xD9:  # EOI
            break
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        pos += 2 + length
        if marker == 0xDA:  # SOS: entropy-coded data follows until a real marker
            start = pos
            while pos + 1 < len(data):
                if data[pos] == 0xFF and data[pos + 1] != 0x00 and not 0xD0 <= data[pos + 1] <= 0xD7:
                    break
                pos += 1
            total += pos - start
    return total


def j2k_payload(data: bytes) -> int:
    """Bytes of tile-part data (after SOD) in a JPEG 2000 codestream."""
    if data[:2] != b"\xff\x4f":
        raise ValueError("not a JPEG 2000 codestream (no SOC marker)")
    pos, total = 2, 0
    while pos + 4 <= len(data):
        marker = struct.unpack(">H", data[pos : pos + 2])[0]
        if marker == 0xFFD9:  # EOC
            break
        if marker == 0xFF90:  # SOT: Lsot(2) Isot(2) Psot(4) TPsot(1) TNsot(1)
            lsot, _, psot = struct.unpack(">HHI", data[pos + 2 : pos + 10])
            body = pos + 2 + lsot
            end = pos + psot if psot else len(data) - 2
            # Header segments of the tile part come before SOD; the body after it is payload.
            sod = data.index(b"\xff\x93", body)
            total += end - (sod + 2)
            pos = end
            continue
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        pos += 2 + length
    return total


def iter_boxes(data: bytes, start: int = 0, end: int | None = None):
    """(type, payload start, payload end) of the ISOBMFF boxes in ``data[start:end]``."""
    end = len(data) if end is None else end
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
            header = 16
        elif size == 0:
            size = end - pos
        yield kind.decode("latin-1"), pos + header, pos + size
        pos += size


def _primary_item_extents(data: bytes) -> list[tuple[int, int]]:
    """(offset, length) of the primary item's data, from ``pitm`` and ``iloc`` (HEIF/AVIF)."""
    meta = next((s, e) for k, s, e in iter_boxes(data) if k == "meta")
    boxes = {k: (s, e) for k, s, e in iter_boxes(data, meta[0] + 4, meta[1])}  # meta is a full box
    s, _ = boxes["pitm"]
    version = data[s]
    primary = struct.unpack(">H" if version == 0 else ">I", data[s + 4 : s + (6 if version == 0 else 8)])[0]
    s, _ = boxes["iloc"]
    version = data[s]
    pos = s + 4
    sizes = struct.unpack(">H", data[pos : pos + 2])[0]
    off_size, len_size, base_size = sizes >> 12, (sizes >> 8) & 15, (sizes >> 4) & 15
    idx_size = sizes & 15 if version in (1, 2) else 0
    pos += 2
    count_fmt = ">H" if version < 2 else ">I"
    count = struct.unpack(count_fmt, data[pos : pos + struct.calcsize(count_fmt)])[0]
    pos += struct.calcsize(count_fmt)

    def read(n):
        nonlocal pos
        value = int.from_bytes(data[pos : pos + n], "big") if n else 0
        pos += n
        return value

    for _ in range(count):
        item = read(2 if version < 2 else 4)
        if version in (1, 2):
            read(2)  # construction method
        read(2)  # data reference index
        base = read(base_size)
        extents = []
        for _ in range(read(2)):
            read(idx_size)
            extents.append((base + read(off_size), read(len_size)))
        if item == primary:
            return extents
    raise ValueError("HEIF: the primary item has no location")


def heif_payload(data: bytes) -> int:
    """Bytes of the primary image's coded data (HEVC: its NAL units; AVIF: its OBUs)."""
    return sum(length for _, length in _primary_item_extents(data))


def webp_payload(data: bytes) -> int:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise ValueError("not a WebP file")
    pos = 12
    while pos + 8 <= len(data):
        kind, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        if kind in (b"VP8 ", b"VP8L"):
            return size
        pos += 8 + size + (size & 1)
    raise ValueError("WebP: no VP8/VP8L chunk")
