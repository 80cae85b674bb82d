"""Real codecs: round trips, rate control, the study's parameters honored."""

import numpy as np
import pytest
from PIL import Image

from codecsweep.codecs import ENCODERS, PillowEncoder, encoder_class
from codecsweep.codecs import get_encoder as shared_encoder
from codecsweep.codecs.classic import Jpeg2000
from codecsweep.codecs.ijg import CHANNELS, map_sha256
from codecsweep.storage.images import prepare

#: Three parameters per encoder, low quality -> high quality. An encoder that is one Pillow
#: ``save(quality=…)`` call (``PillowEncoder``) needs no entry: PILLOW_QUALITIES.
GRID = {
    "jpeg": ["5", "20", "50"],
    "jpeg2000": ["200", "50", "10"],
    "hevc": ["45", "38", "30"],
    "jpeg_mo": ["10", "20", "50"],
}
PILLOW_QUALITIES = ["5", "30", "80"]
CLASSIC = sorted(n for n in ENCODERS if not n.startswith("cai_"))  # learned codecs: tests/test_learned.py
FLAT_MAP = {c: [[1.0] * 8] * 8 for c in CHANNELS}


def get_encoder(name):
    """The encoder, built with what it needs (jpeg_mo: a flat sensitivity map; the workflow passes a real one)."""
    if "sensitivity_map" in encoder_class(name).needs:
        return shared_encoder(
            name, sensitivity_map={"key": "flat", "sensitivity": FLAT_MAP, "map_sha256": map_sha256(FLAT_MAP)}
        )
    return shared_encoder(name)


def params_of(name: str) -> list[str]:
    if name in GRID:
        return GRID[name]
    assert issubclass(encoder_class(name), PillowEncoder) and encoder_class(name).param_option == "quality", (
        f"{name}: add its low-to-high quality parameters to GRID"
    )
    return PILLOW_QUALITIES


@pytest.mark.parametrize("name", CLASSIC)
@pytest.mark.parametrize("color", ["rgb", "gray"])
def test_round_trip_and_size_falls_with_quality(name, color, small_photo):
    enc = get_encoder(name)
    im = prepare(small_photo, 1, color)
    sizes = []
    for param in params_of(name):
        data = enc.encode(im, param)
        assert data == enc.encode(im, param), "encoding must be deterministic"
        out = enc.decode(data)
        assert out.size == im.size
        arr = np.asarray(out.convert("L" if color == "gray" else "RGB"), dtype=np.float64)
        ref = np.asarray(im, dtype=np.float64)
        assert np.abs(arr - ref).mean() < 40, f"{name} q={param} decodes to something else"
        sizes.append(len(data))
    assert sizes[0] < sizes[1] < sizes[2], f"{name} sizes {sizes} do not grow with quality"


def test_jpeg2000_codestream_carries_the_quality_layers(small_photo):
    enc = get_encoder("jpeg2000")
    for param, layers in [("200,40,20", 3), ("100,20", 2), ("50", 1), ("10,5,1", 3)]:
        assert Jpeg2000.layer_count(enc.encode(small_photo, param)) == layers


def test_jpeg2000_last_layer_sets_the_rate(small_photo):
    """OpenJPEG's -r semantics: the final layer's ratio is against the raw samples."""
    enc = get_encoder("jpeg2000")
    raw = small_photo.width * small_photo.height * 3
    for ratio in (200, 50, 20):
        size = len(enc.encode(small_photo, str(ratio)))
        assert raw / size == pytest.approx(ratio, rel=0.1)


def test_hevc_qp_is_honored_strictly(small_photo):
    enc = get_encoder("hevc")
    sizes = [len(enc.encode(small_photo, str(qp))) for qp in [30] + list(range(35, 52))]
    assert all(a > b for a, b in zip(sizes, sizes[1:])), sizes


def test_hevc_decodes_gray_as_gray_values(small_photo):
    enc = get_encoder("hevc")
    gray = prepare(small_photo, 1, "gray")
    out = np.asarray(enc.decode(enc.encode(gray, "30")).convert("RGB"), dtype=np.int16)
    assert np.abs(out[..., 0] - out[..., 1]).max() <= 2  # no chroma invented


def test_canonical_params():
    assert get_encoder("jpeg2000").canonical_param("200, 40,20") == "200,40,20"
    assert get_encoder("jpeg2000").canonical_param([100.0, 20]) == "100,20"
    assert get_encoder("hevc").canonical_param(35) == "35"
    with pytest.raises(ValueError, match="outside 0..51"):
        get_encoder("hevc").canonical_param(52)
    with pytest.raises(ValueError, match="must decrease"):
        get_encoder("jpeg2000").canonical_param("20,40")
    with pytest.raises(KeyError, match="unknown encoder 'bpg'"):
        get_encoder("bpg")


def test_versions_name_the_libraries():
    assert get_encoder("jpeg").version().startswith("libjpeg-turbo ")
    assert get_encoder("jpeg2000").version().startswith("OpenJPEG 2.")
    assert "x265" in get_encoder("hevc").version()


@pytest.mark.parametrize("name", ["jpeg", "hevc", "webp"])
@pytest.mark.parametrize("color", ["rgb", "gray"])
def test_downscale_then_encode_sizes(name, color, small_photo):
    """The prepared (downscaled) image is what is encoded: the decoded variant has the
    downscaled size (192x128 source: round(side * scale)), it is that image, and fewer
    pixels take fewer bytes at the same parameter."""
    enc, param = get_encoder(name), params_of(name)[1]
    sizes = []
    for scale, expected in [(1, (192, 128)), (0.5, (96, 64)), (0.25, (48, 32)), (0.125, (24, 16))]:
        im = prepare(small_photo, scale, color)
        assert (im.size, im.mode) == (expected, "L" if color == "gray" else "RGB")
        data = enc.encode(im, param)
        out = enc.decode(data)
        assert out.size == expected, f"{name} at scale {scale} decodes to {out.size}"
        diff = np.abs(np.asarray(out.convert(im.mode), dtype=np.float64) - np.asarray(im, dtype=np.float64))
        assert diff.mean() < 25, f"{name} at scale {scale} decodes to something else"
        sizes.append(len(data))
    assert sizes[0] > sizes[1] > sizes[2] > sizes[3], f"{name} bytes {sizes} do not fall with the scale"


def _image_with_metadata(im):
    """``im`` carrying an ICC profile, Exif, XMP and a comment, as a camera file would."""
    from PIL import ImageCms

    tagged = im.copy()
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"  # Make
    exif[0x0131] = "codecsweep-test-software"  # Software
    tagged.info.update(
        icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes(),
        exif=exif.tobytes(),
        xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/>codecsweep-xmp-marker</x:xmpmeta>',
        comment=b"codecsweep-comment-marker",
    )
    return tagged


@pytest.mark.parametrize("name", CLASSIC)
@pytest.mark.parametrize("color", ["rgb", "gray"])
def test_variants_carry_no_source_metadata(name, color, small_photo):
    """Same bytes with and without ICC/Exif/XMP/comment on the source; none of it in the file."""
    enc = get_encoder(name)
    param = params_of(name)[1]
    clean = prepare(small_photo, 1, color)
    tagged = _image_with_metadata(clean)
    data = enc.encode(tagged, param)
    assert data == enc.encode(clean, param)
    for marker in (b"CameraMaker", b"codecsweep-test-software", b"codecsweep-xmp-marker", b"codecsweep-comment-marker"):
        assert marker not in data
    assert b"Exif\x00\x00" not in data and b"ICC_PROFILE" not in data and b"prof" not in data
    assert tagged.info, "the caller's image must not be modified"


@pytest.mark.parametrize("qp", [30, 40, 51])
@pytest.mark.parametrize("color", ["rgb", "gray"])
def test_hevc_slice_qp_read_from_the_bitstream_is_the_grid_qp(qp, color, small_photo):
    from hevc_bitstream import slice_qps

    data = get_encoder("hevc").encode(prepare(small_photo, 1, color), str(qp))
    assert slice_qps(data) == [qp]


def test_payload_bytes_count_the_codec_data_only(small_photo):
    from hevc_bitstream import slice_nals

    jpeg = get_encoder("jpeg").encode(small_photo, "20")
    # One baseline scan: the payload runs from the end of the SOS header to the EOI marker.
    sos = jpeg.index(b"\xff\xda")
    sos_end = sos + 2 + int.from_bytes(jpeg[sos + 2 : sos + 4], "big")
    assert get_encoder("jpeg").payload_bytes(jpeg) == len(jpeg) - sos_end - 2
    hevc = get_encoder("hevc").encode(small_photo, "35")
    assert get_encoder("hevc").payload_bytes(hevc) == sum(4 + len(n) for n in slice_nals(hevc))
    j2k = get_encoder("jpeg2000").encode(small_photo, "50")
    sod = j2k.index(b"\xff\x93")  # one tile: its data runs from after SOD to EOC
    assert get_encoder("jpeg2000").payload_bytes(j2k) == len(j2k) - sod - 2 - 2
    webp = get_encoder("webp").encode(small_photo, "30")
    assert get_encoder("webp").payload_bytes(webp) == len(webp) - 20  # RIFF(12) + chunk header(8), even size
    for name in ("jpeg", "hevc", "jpeg2000", "webp", "avif"):
        data = get_encoder(name).encode(small_photo, params_of(name)[0])
        assert 0 < get_encoder(name).payload_bytes(data) < len(data)
