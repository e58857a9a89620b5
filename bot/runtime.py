"""The running core as a chat surface sees it: where commands go and where its own bookkeeping is kept.

The composition root (bot/app.py) hands each surface one of these; surfaces never import the root itself.
"""

from __future__ import annotations

from typing import Protocol

from bot.service import Warroom
from bot.store import Database


class Runtime(Protocol):
    """The Warroom core that runs commands, and the Database for idempotency keys and room addresses."""

    @property
    def warroom(self) -> Warroom: ...

    @property
    def db(self) -> Database: ...
