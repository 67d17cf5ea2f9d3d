"""Every Python package folder is installed under the ds2ta namespace (pyproject's explicit list)."""

import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
MAPPING = {"ds2ta": "ds2ta", "export": "ds2ta.export", "hardware": "ds2ta.hardware", "sims": "ds2ta.sims"}


def listed_packages() -> set[str]:
    text = (ROOT / "pyproject.toml").read_text()
    block = re.search(r"^packages = (\[.*?\])", text, re.S | re.M).group(1)
    return set(ast.literal_eval(re.sub(r"#.*", "", block)))


def test_every_package_folder_is_listed():
    found = set()
    for folder, name in MAPPING.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((name, *rel)))
    missing = found - listed_packages()
    assert not missing, f"add {sorted(missing)} to [tool.setuptools] packages in pyproject.toml"

