"""The one check every customer-addressed text passes: none of the internal names the incident knows is in it."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from bot.voice.honesty import FILLER

MIN_NAME = 3  # shorter "names" (initials, "us") would refuse ordinary words
# Ordinary words are nobody's name, whoever goes by them: the console's "you", a team called "support".
_ORDINARY = FILLER | {"support", "engineering", "ops", "sales", "someone", "nobody", "warroom"}
_ADDRESS = re.compile(r"[^@\s]+@([^@\s]+\.[^@\s]+)")


@dataclass(frozen=True)
class Name:
    """One internal name, and what it is ("a vendor", "a person", "a reference", "the internal title")."""

    text: str
    what: str


@dataclass(frozen=True)
class Leak:
    """A customer text (or one of its fields) that holds an internal name."""

    field: str  # what holds it: "the headline", "V2's customer text", "the template"
    name: Name
    fix: str  # how to fix it: a command, or (``by_hand``) what to edit

    by_hand: bool = False

    def __str__(self) -> str:
        how = self.fix if self.by_hand else f"`{self.fix}`"
        return f"{self.field} names '{self.name.text}' ({self.name.what}): fix it with {how}"


class Guard:
    """Finds internal names in a text: whole words for names, anywhere for addresses and mail domains."""

    def __init__(self, names: Iterable[Name]) -> None:
        seen: dict[str, Name] = {}
        for name in names:
            for found in _variants(name):
                key = found.text.casefold()
                if len(key) >= MIN_NAME and key not in _ORDINARY:
                    seen.setdefault(key, found)
        self.names = tuple(seen.values())
        self._patterns = [(n, _pattern(n.text)) for n in self.names]

    def found(self, text: str) -> list[Name]:
        """The internal names in ``text`` as written there, longest first, none twice."""
        hits = [Name(m.group(0), name.what) for name, pattern in self._patterns if (m := pattern.search(text))]
        return sorted(dict.fromkeys(hits), key=lambda n: -len(n.text))

    def first(self, text: str | None) -> Name | None:
        hits = self.found(text) if text else []
        return hits[0] if hits else None


def _variants(name: Name) -> list[Name]:
    """A name and the forms it also goes by: an address's mail domain, a handle without its @."""
    text = " ".join(name.text.split())
    out = [Name(text, name.what)]
    if match := _ADDRESS.fullmatch(text):
        out.append(Name(match.group(1), f"the mail domain of {name.what}"))
    if text.startswith("@") and len(text) > 1:
        out.append(Name(text[1:], name.what))
    return out


def _pattern(text: str) -> re.Pattern[str]:
    body = re.escape(text).replace(r"\ ", r"\s+")
    # Whole words: "Lee" must not match "fleet", but "northwind.example" matches inside an address.
    return re.compile(rf"(?<![\w]){body}(?![\w])", re.IGNORECASE)
