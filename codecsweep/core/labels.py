"""The 1000 ImageNet-1k classes: WordNet ids and names in class-index order."""

from __future__ import annotations

import pathlib
from functools import cache

CLASSES_FILE = pathlib.Path(__file__).resolve().parent.parent / "data" / "imagenet_classes.tsv"


@cache
def imagenet_classes() -> tuple[list[str], list[str]]:
    """(wnids, names) in class-index order.

    >>> wnids, names = imagenet_classes()
    >>> len(wnids), wnids[0], names[0]
    (1000, 'n01440764', 'tench')
    """
    rows = [line.split("\t") for line in CLASSES_FILE.read_text().splitlines()[1:]]
    return [r[1] for r in rows], [r[2] for r in rows]


def wnid_index(wnid: str) -> int:
    wnids, _ = imagenet_classes()
    try:
        return wnids.index(wnid)
    except ValueError:
        raise KeyError(f"{wnid!r} is not one of the 1000 ImageNet-1k WordNet ids") from None
