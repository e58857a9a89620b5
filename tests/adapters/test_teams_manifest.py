"""The Teams app package in teams/: a manifest Teams accepts, with icons of the sizes it insists on."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path
from typing import Any

from bot.commands import HELP
from tests.conftest import ROOT

TEAMS = ROOT / "teams"


def manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((TEAMS / "manifest.json").read_text())
    return data


def png(path: Path) -> tuple[int, int, bytes]:
    """Width, height and the decoded RGBA rows of a PNG written by teams/make_icons.py."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    assert (depth, colour) == (8, 6)  # 8-bit RGBA
    idat = data[data.index(b"IDAT") + 4 : data.index(b"IEND") - 8]
    return width, height, zlib.decompress(idat)


def test_the_manifest_names_the_bot_and_its_commands() -> None:
    m = manifest()
    assert m["manifestVersion"] == "1.17" and len(m["name"]["short"]) <= 30
    assert len(m["description"]["short"]) <= 80 and len(m["description"]["full"]) <= 4000
    [bot] = m["bots"]
    assert bot["botId"] == m["id"]  # one placeholder to replace with MICROSOFT_APP_ID
    assert set(bot["scopes"]) == {"team", "personal", "groupChat"}
    [commands] = bot["commandLists"]
    assert len(commands["commands"]) <= 10
    for command in commands["commands"]:
        word, verb = command["title"].split()
        assert word == "incident" and verb in HELP, command["title"]
        assert len(command["title"]) <= 32 and len(command["description"]) <= 128


def test_the_icons_are_real_pngs_of_the_required_sizes() -> None:
    m = manifest()
    width, height, _ = png(TEAMS / m["icons"]["color"])
    assert (width, height) == (192, 192)
    width, height, rows = png(TEAMS / m["icons"]["outline"])
    assert (width, height) == (32, 32)
    # An outline icon is white on transparent, nothing else.
    stride = 1 + 32 * 4
    pixels = [rows[y * stride + 1 + x * 4 : y * stride + 5 + x * 4] for y in range(32) for x in range(32)]
    assert all(p[3] == 0 or p[:3] == b"\xff\xff\xff" for p in pixels)
    assert any(p[3] == 255 for p in pixels)
