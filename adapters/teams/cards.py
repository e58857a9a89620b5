"""Teams markup both ways: Messages out as Adaptive Cards with real mentions, message text in as a command."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot import pages
from bot.chat import Actions, Block, Bullets, Fields, Inline, Mention, Message, Section, Strong, Tone, UserRef

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
# Teams refuses a bot message over 100 KB (413 MessageSizeTooBig), counted as UTF-16 over the whole activity,
# mentions included; Microsoft advises staying within 80 KB. Ours: the card's activity within 80 KB, with room
# kept for what the Bot Connector client adds around it (conversation, from, recipient, service URL).
MAX_ACTIVITY = 80 * 1024  # bytes of UTF-16
ENVELOPE = 4 * 1024  # bytes of UTF-16 kept for the conversation reference around the card
SUBMIT_KEY = "warroom"  # Action.Submit data: {"warroom": "<command>"}
_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
_COLOR = {
    Tone.INFO: "Default",
    Tone.SUCCESS: "Good",
    Tone.REMINDER: "Warning",
    Tone.BAD_NEWS: "Attention",
    Tone.ERROR: "Attention",
}
_BUTTON_STYLE = {"primary": "positive", "danger": "destructive"}
# What Teams' card Markdown acts on: bold/italic, links; backslash-escaped so it reads as typed.
_MARKDOWN = re.compile(r"([\\*_\[\]])")
_COMMAND_WORD = re.compile(r"^/?incident\b\s*", re.IGNORECASE)


def escape(text: str) -> str:
    """Plain text for a TextBlock: `<`, `>` and `&` as entities (so no text can become `<at>`), Markdown inert."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKDOWN.sub(r"\\\1", text)


@dataclass
class _Mentions:
    """The card's mention entities: each person once, each `<at>` text naming exactly one person."""

    entities: list[dict[str, Any]] = field(default_factory=list)
    _text_of: dict[str, str] = field(default_factory=dict)

    def add(self, user: UserRef) -> str:
        if user.id in self._text_of:
            return self._text_of[user.id]
        taken = set(self._text_of.values())
        name = escape(user.name or user.id)
        text, n = f"<at>{name}</at>", 1
        while text in taken:  # two people with one display name must not share a tag
            n += 1
            text = f"<at>{name} ({n})</at>"
        self._text_of[user.id] = text
        self.entities.append({"type": "mention", "text": text, "mentioned": {"id": user.id, "name": user.name}})
        return text


def adaptive_card(message: Message) -> dict[str, Any]:
    """The Adaptive Card for a message: title coloured by tone, blocks in order, buttons as Action.Submit."""
    mentions = _Mentions()
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": escape(message.title),
            "weight": "Bolder",
            "size": "Medium",
            "color": _COLOR[message.tone],
            "wrap": True,
        }
    ]
    for block in message.blocks:
        body.extend(_block(block, mentions))
    msteams: dict[str, Any] = {"width": "Full"}
    if mentions.entities:
        msteams["entities"] = mentions.entities
    return {"type": "AdaptiveCard", "$schema": _SCHEMA, "version": "1.4", "body": body, "msteams": msteams}


def attachment(message: Message) -> dict[str, Any]:
    """The message as an activity attachment."""
    return {"contentType": CARD_CONTENT_TYPE, "content": adaptive_card(message)}


def utf16_size(data: Any) -> int:
    """Bytes of ``data`` as JSON in UTF-16: how Teams counts a message against its size limit."""
    return len(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-16-le"))


def measure(message: Message) -> tuple[int]:
    """The activity carrying ``message`` as Teams sizes it, with the envelope's allowance."""
    activity = {"type": "message", "attachments": [attachment(message)], "summary": message.title[:200]}
    return (utf16_size(activity) + ENVELOPE,)


def split(message: Message) -> list[Message]:
    """A message as cards that each fit one Teams message (80 KB as UTF-16), nothing dropped."""
    return pages.split(message, measure=measure, budget=(MAX_ACTIVITY,))


def _block(block: Block, mentions: _Mentions) -> Iterable[dict[str, Any]]:
    if isinstance(block, Section):
        text = "".join(_inline(part, mentions) for part in block.parts)
        # A single newline is swallowed by the card's Markdown; a blank line is a visible break.
        yield {"type": "TextBlock", "text": text.replace("\n", "\n\n"), "wrap": True}
    elif isinstance(block, Fields):
        facts = [{"title": escape(label), "value": escape(value)} for label, value in block.items]
        yield {"type": "FactSet", "facts": facts}
    elif isinstance(block, Bullets):
        for i, item in enumerate(block.items):
            yield {
                "type": "TextBlock",
                "text": f"• {escape(item)}",
                "wrap": True,
                "spacing": "Small" if i else "Default",
            }
    elif isinstance(block, Actions):
        yield {
            "type": "ActionSet",
            "actions": [
                {"type": "Action.Submit", "title": b.label, "data": {SUBMIT_KEY: b.command}}
                | ({"style": _BUTTON_STYLE[b.style]} if b.style in _BUTTON_STYLE else {})
                for b in block.buttons
            ],
        }


def _inline(part: Inline, mentions: _Mentions) -> str:
    if isinstance(part, Mention):
        return mentions.add(part.user)
    if isinstance(part, Strong):
        lead, core, trail = part.padded()
        return f"{escape(lead)}**{escape(core)}**{escape(trail)}" if core else escape(part.text)
    return escape(part)


# --- what arrives ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Incoming:
    """A message's command text with mentions of people as `@<id>` words, and the people mentioned."""

    text: str
    people: tuple[UserRef, ...]


def command_from_text(text: str | None, entities: Iterable[Mapping[str, Any]], *, bot_id: str | None) -> Incoming:
    """Strip the bot's own `<at>` mention and a leading `incident`; turn other mentions into `@<id>` handles."""
    text = text or ""
    people: list[UserRef] = []
    for entity in entities:
        if str(entity.get("type", "")).lower() != "mention":
            continue
        mentioned = entity.get("mentioned") or {}
        tag, user_id = entity.get("text") or "", str(mentioned.get("id") or "")
        if not tag or not user_id:
            continue
        if user_id == bot_id:
            text = text.replace(tag, " ")
        else:
            # One word the grammar reads as a handle; find_user maps it back to the person.
            text = text.replace(tag, f"@{user_id}", 1)
            people.append(UserRef(user_id, str(mentioned.get("name") or user_id)))
    text = html.unescape(re.sub(r"</?(?:p|div|span|br)\b[^>]*>", " ", text))  # Teams may wrap text in HTML
    text = re.sub(r"[^\S\n]+", " ", text).strip()
    return Incoming(_COMMAND_WORD.sub("", text, count=1), tuple(people))


def command_from_submit(value: object) -> str | None:
    """The command an Action.Submit button carries, or None for any other payload."""
    if isinstance(value, Mapping):
        command = value.get(SUBMIT_KEY)
        if isinstance(command, str) and command.strip():
            return command.strip()
    return None
