"""Small, valid wheels of the model's distribution name, for publishing and pin tests."""

from __future__ import annotations

import zipfile
from pathlib import Path

DISTRIBUTION = "ames-house-price-model"


def wheel_name(version: str) -> str:
    return f"ames_house_price_model-{version}-py3-none-any.whl"


def stand_in_wheel(folder: Path, version: str, files: dict[str, bytes]) -> Path:
    """A wheel named for the model at ``version`` holding ``files`` and its metadata."""
    dist_info = f"ames_house_price_model-{version}.dist-info"
    contents = {
        **files,
        f"{dist_info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {DISTRIBUTION}\nVersion: {version}\n"
            "Summary: stand-in for publishing tests\n"
        ).encode(),
        f"{dist_info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n"
        ),
    }
    record = "".join(f"{name},,\n" for name in contents) + f"{dist_info}/RECORD,,\n"
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / wheel_name(version)
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in contents.items():
            archive.writestr(name, data)
        archive.writestr(f"{dist_info}/RECORD", record)
    return wheel
