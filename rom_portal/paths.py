"""Where the data folders (questionnaires, templates, static, locale) live at run time.

In a checkout they sit at the repository root; a wheel carries them inside the package as
``rom_portal/_data/<name>`` (see ``[tool.hatch.build.targets.wheel.force-include]``).
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """Return the folder ``name`` (``questionnaires``, ``templates`` or ``static``)."""
    installed = _PACKAGE_DIR / "_data" / name
    if installed.is_dir():
        return installed
    checkout = _PACKAGE_DIR.parent / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"rom-portal data folder {name!r} not found (looked in {installed} and {checkout})")
