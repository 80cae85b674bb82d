"""An independent reader of the slice QP of a HEIF (HEVC intra) file, for the tests.

Written from the H.265 syntax (7.3.2.2 SPS, 7.3.2.3 PPS, 7.3.6 slice segment header), on
purpose without using the package's own container code: SliceQpY = 26 + init_qp_minus26
+ slice_qp_delta. Handles what libheif + x265 write for a still picture (one IDR picture,
no scaling lists, first slice segment); anything else raises.
"""

from __future__ import annotations

import struct


class Bits:
    def __init__(self, rbsp: bytes):
        self.data, self.pos = rbsp, 0

    def u(self, n: int) -> int:
        value = 0
        for _ in range(n):
            value = (value << 1) | ((self.data[self.pos >> 3] >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return value

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k % 2 else -(k // 2)


def rbsp(nal: bytes) -> bytes:
    """NAL payload without its 2-byte header and with emulation-prevention bytes removed."""
    out, zeros = bytearray(), 0
    for b in nal[2:]:
        if zeros >= 2 and b == 3:
            zeros = 0
            continue
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)


def _boxes(data: bytes, start: int, end: int):
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        yield kind, pos + 8, pos + size
        pos += size


def _find_box(data: bytes, path: list[bytes], start=0, end=None, full=frozenset({b"meta"})):
    end = len(data) if end is None else end
    for kind, s, e in _boxes(data, start, end):
        if kind == path[0]:
            s += 4 if kind in full else 0
            return (s, e) if len(path) == 1 else _find_box(data, path[1:], s, e, full)
    raise KeyError(path[0])


def parameter_sets(data: bytes) -> dict[int, bytes]:
    """NAL type -> NAL unit of the hvcC box (VPS 32, SPS 33, PPS 34)."""
    s, _ = _find_box(data, [b"meta", b"iprp", b"ipco", b"hvcC"])
    pos = s + 22  # the fixed part of HEVCDecoderConfigurationRecord
    arrays, pos, out = data[pos], pos + 1, {}
    for _ in range(arrays):
        nal_type = data[pos] & 0x3F
        count = struct.unpack(">H", data[pos + 1 : pos + 3])[0]
        pos += 3
        for _ in range(count):
            n = struct.unpack(">H", data[pos : pos + 2])[0]
            out[nal_type] = data[pos + 2 : pos + 2 + n]
            pos += 2 + n
    return out


def slice_nals(data: bytes) -> list[bytes]:
    """The length-prefixed (4-byte) NAL units in mdat."""
    s, e = _find_box(data, [b"mdat"])
    nals, pos = [], s
    while pos + 4 <= e:
        n = struct.unpack(">I", data[pos : pos + 4])[0]
        nals.append(data[pos + 4 : pos + 4 + n])
        pos += 4 + n
    return nals


def slice_qps(data: bytes) -> list[int]:
    ps = parameter_sets(data)
    sps = Bits(rbsp(ps[33]))
    sps.u(4)
    max_sub_layers_minus1 = sps.u(3)
    assert max_sub_layers_minus1 == 0, "sub-layers not handled"
    sps.u(1)
    sps.u(96)  # profile_tier_level for one layer: 88 bits of profile + 8 of level
    sps.ue()
    chroma_format_idc = sps.ue()
    separate_colour_plane = sps.u(1) if chroma_format_idc == 3 else 0
    sps.ue(), sps.ue()  # width, height
    if sps.u(1):  # conformance window
        [sps.ue() for _ in range(4)]
    sps.ue(), sps.ue()  # bit depths
    sps.ue()  # log2_max_pic_order_cnt_lsb_minus4
    sub_layer_ordering = sps.u(1)
    for _ in range(0 if sub_layer_ordering else max_sub_layers_minus1, max_sub_layers_minus1 + 1):
        sps.ue(), sps.ue(), sps.ue()
    [sps.ue() for _ in range(6)]  # block sizes and transform depths
    if sps.u(1):
        raise ValueError("scaling lists not handled")
    sps.u(1)  # amp
    sao = sps.u(1)

    pps = Bits(rbsp(ps[34]))
    pps.ue(), pps.ue()
    pps.u(1)  # dependent_slice_segments_enabled_flag (read by non-first segments only)
    output_flag_present, extra_bits = pps.u(1), pps.u(3)
    pps.u(1), pps.u(1)  # sign data hiding, cabac init present
    pps.ue(), pps.ue()  # num_ref_idx defaults
    init_qp = 26 + pps.se()

    qps = []
    for nal in slice_nals(data):
        nal_type = (nal[0] >> 1) & 0x3F
        if nal_type > 31:  # not a slice
            continue
        if nal_type not in (19, 20):
            raise ValueError(f"slice NAL type {nal_type}: only IDR pictures handled")
        sh = Bits(rbsp(nal))
        if not sh.u(1):
            raise ValueError("only first slice segments handled")
        sh.u(1)  # no_output_of_prior_pics_flag
        sh.ue()  # pps id
        sh.u(extra_bits)
        slice_type = sh.ue()
        assert slice_type == 2, f"slice type {slice_type}, expected I (2)"
        if output_flag_present:
            sh.u(1)
        if separate_colour_plane:
            sh.u(2)
        if sao:
            sh.u(1)
            if chroma_format_idc != 0:
                sh.u(1)
        qps.append(init_qp + sh.se())
    return qps
