"""Golden cache keys. A failure here means a key recipe, a version or an encoder's settings
changed: every cache recomputes what depends on it. Update the pinned value on purpose and
say so in the commit message ("caches recompute: ...")."""

from codecsweep import models
from codecsweep.codecs import get_encoder
from codecsweep.core import keys
from codecsweep.metrics.groups import PixelGroup

SOURCE, ARTIFACT, WEIGHTS = "ab" * 32, "cd" * 32, "ef" * 32


def artifact_key(encoder: str, *args) -> str:
    """The key the encode stage uses: the encoder's own settings and the downscale filter."""
    return get_encoder(encoder).artifact_key(*args)


def test_artifact_keys_are_pinned():
    assert (
        artifact_key("jpeg", SOURCE, "libjpeg-turbo 3.1.0 (Pillow 13.0.0)", 0.5, "gray", "20")
        == "0c3c949edb3bf5da38ec13b9b0c13c7c250fece4ee6882a7f22d84a2a4090fe5"
    )
    assert (
        artifact_key("hevc", SOURCE, "x265 (libheif)", 1.0, "rgb", "35")
        == "2a5c9a6eb600e0d0987841ac375f8d1845c040e7c0ff0cb3a45ecd71911e9234"
    )


def test_prediction_key_and_preprocessing_id_are_pinned():
    lite = models.preprocess_id(models.get_spec("efficientnet_lite0"))
    assert lite == "v2:tf-center-crop224/256:tf-bicubic-halfpixel:mean127.0:std128.0"
    assert (
        keys.prediction_key(ARTIFACT, "efficientnet_lite0", WEIGHTS, lite, False)
        == "230c075f62cb145fb4fba55fb62056a567ba0ebbdaa8d01b3eb1006268ad00b3"
    )


def test_artifact_key_recipe_takes_plain_values():
    """The recipe itself knows no registry: settings and the filter's name are arguments."""
    settings = {"subsampling": "4:2:0", "optimize": False, "progressive": False}
    assert get_encoder("jpeg").settings == settings
    plain = keys.artifact_key(
        SOURCE, "jpeg", "libjpeg-turbo 3.1.0 (Pillow 13.0.0)", settings, "lanczos", 0.5, "gray", "20"
    )
    assert plain == "0c3c949edb3bf5da38ec13b9b0c13c7c250fece4ee6882a7f22d84a2a4090fe5"
    assert keys.artifact_key(SOURCE, "jpeg", "v", settings, "bicubic", 0.5, "gray", "20") != keys.artifact_key(
        SOURCE, "jpeg", "v", settings, "lanczos", 0.5, "gray", "20"
    )


def test_metric_key_is_pinned():
    pixel_id = PixelGroup({}).id
    assert pixel_id == keys.pixel_metrics_id("bicubic") == "pixel-v3:upscale-bicubic"
    assert (
        keys.metric_key(pixel_id, ARTIFACT, SOURCE)
        == "0ef75526cd1068f24a03fe8ac3f492c8dc3382c640afa8d3ff3023d4149e998f"
    )


def test_every_field_changes_the_key(monkeypatch):
    base = artifact_key("jpeg", SOURCE, "v", 1.0, "rgb", "20")
    variants = [
        artifact_key("jpeg", "00" * 32, "v", 1.0, "rgb", "20"),
        artifact_key("jpeg", SOURCE, "v2", 1.0, "rgb", "20"),
        artifact_key("jpeg", SOURCE, "v", 0.5, "rgb", "20"),
        artifact_key("jpeg", SOURCE, "v", 1.0, "gray", "20"),
        artifact_key("jpeg", SOURCE, "v", 1.0, "rgb", "21"),
    ]
    assert len({base, *variants}) == 6
    # The settings the codec receives are the ones hashed: change one, the key follows.
    monkeypatch.setattr(type(get_encoder("jpeg")), "settings", {**get_encoder("jpeg").settings, "optimize": True})
    assert artifact_key("jpeg", SOURCE, "v", 1.0, "rgb", "20") != base
    monkeypatch.undo()
    monkeypatch.setattr(keys, "ENCODE_VERSION", keys.ENCODE_VERSION + 1)
    assert artifact_key("jpeg", SOURCE, "v", 1.0, "rgb", "20") != base
    monkeypatch.undo()
    assert artifact_key("jpeg", SOURCE, "v", 1.0, "rgb", "20") == base


def test_a_changed_setting_changes_the_bytes_too(small_photo, monkeypatch):
    """The other half of the promise: what is hashed is what the codec gets."""
    jpeg = get_encoder("jpeg")
    plain = jpeg.encode(small_photo, "30")
    monkeypatch.setattr(type(jpeg), "settings", {**jpeg.settings, "optimize": True})
    assert len(jpeg.encode(small_photo, "30")) < len(plain)


def test_runtime_fields_leave_pytorch_keys_as_they_were():
    """ONNX Runtime's predictions and dfd get keys of their own; PyTorch's (runtime None) are unchanged."""
    lite = models.preprocess_id(models.get_spec("efficientnet_lite0"))
    pinned = "230c075f62cb145fb4fba55fb62056a567ba0ebbdaa8d01b3eb1006268ad00b3"
    assert keys.prediction_key(ARTIFACT, "efficientnet_lite0", WEIGHTS, lite, False, None) == pinned
    ort = keys.runtime_id("onnxruntime", "1.32.0", "torch-2.14.1", 17)
    assert ort == "onnxruntime-1.32.0:torch-2.14.1:opset17:export-v1"
    assert (
        keys.prediction_key(ARTIFACT, "efficientnet_lite0", WEIGHTS, lite, False, ort)
        == "689cb84ce1eb293593c07f1d40d1d8471c3d88de186d05f9975d720cccd98edb"
    )
    assert keys.dfd_id("m", WEIGHTS, "p") == f"dfd-v{keys.DFD_VERSION}:m:{WEIGHTS[:16]}:p"
    assert keys.dfd_id("m", WEIGHTS, "p", ort) == f"dfd-v{keys.DFD_VERSION}:m:{WEIGHTS[:16]}:p:{ort}"


def test_onnx_export_key_is_pinned_and_takes_every_field():
    args = ("efficientnet_lite0", WEIGHTS, "torch-2.14.1", 17, "1.32.0")
    base = keys.onnx_export_key(*args)
    assert base == "4f7ad67977cc770111c6050df608c9e3c31219a5936182dfacde2fa787a6ef49"
    changed = [keys.onnx_export_key(*args[:i], "x" if i != 3 else 18, *args[i + 1 :]) for i in range(len(args))]
    assert len({base, *changed}) == len(args) + 1


def test_pixel_kernel_names_the_metric_key():
    """The torch kernel has its own id (never mixed with the CPU kernel's in one cache); the
    CPU kernel's stays the pinned one."""
    assert keys.pixel_metrics_id("bicubic", "cpu") == keys.pixel_metrics_id("bicubic") == "pixel-v3:upscale-bicubic"
    assert keys.pixel_metrics_id("bicubic", "torch-cuda") == "pixel-v3:upscale-bicubic:torch-cuda"
    assert keys.metric_key(keys.pixel_metrics_id("bicubic", "torch-cuda"), ARTIFACT, SOURCE) != keys.metric_key(
        keys.pixel_metrics_id("bicubic"), ARTIFACT, SOURCE
    )
