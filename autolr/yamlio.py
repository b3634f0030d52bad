"""The project's YAML loader: PyYAML's safe loader, reading YAML 1.2 floats such as ``3e-4``.

PyYAML follows YAML 1.1, whose float pattern needs a dot and a signed exponent (``3.0e-4``),
so ``lr: 3e-4``, ``1E6`` and ``budget_steps: 1e3`` load as strings. ``Loader`` adds the
YAML 1.2 core-schema float pattern; everything else (ints, ``.inf``, ``1_000``, strings that
are not numbers) loads as before. Every YAML entry point (files, inline specs, ``--set``)
goes through ``load``.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

# YAML 1.2 core schema: [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?,
# limited here to the forms with an exponent; the rest already resolve as floats or ints.
_FLOAT_1_2 = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$")


class Loader(yaml.SafeLoader):
    """A SafeLoader that also resolves ``3e-4``, ``1E6``, ``-2.5e+3`` as floats."""


# Resolvers are kept per first character; copying the class's table keeps SafeLoader's own.
Loader.yaml_implicit_resolvers = {
    k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_1_2, list("-+.0123456789"))


def load(text: str) -> Any:
    """Parse YAML text with ``Loader`` (raises ``yaml.YAMLError`` on bad YAML)."""
    return yaml.load(text, Loader=Loader)
