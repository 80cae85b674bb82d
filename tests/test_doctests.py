"""The examples in the package's docstrings run, and say what they show."""

import doctest
import importlib
import importlib.util
import pkgutil

import pytest

import codecsweep

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(codecsweep.__path__, "codecsweep.")
    if ">>>" in (importlib.util.find_spec(m.name).loader.get_source(m.name) or "")
)


def test_the_package_has_examples():
    assert {"codecsweep.metrics.pixel", "codecsweep.models.inference", "codecsweep.core.keys"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
