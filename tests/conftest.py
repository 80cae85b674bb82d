import pathlib

import numpy as np
import pytest
from PIL import Image

REPO = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def photo() -> Image.Image:
    """A real photograph (scikit-image's coffee, 600x400 RGB)."""
    import skimage.data

    return Image.fromarray(skimage.data.coffee())


@pytest.fixture(scope="session")
def small_photo(photo) -> Image.Image:
    return photo.resize((192, 128), Image.Resampling.LANCZOS)


def noisy(arr: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(arr.astype(np.float64) + rng.normal(0, sigma, arr.shape), 0, 255).astype(np.uint8)
