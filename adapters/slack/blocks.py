"""Block Kit for Slack: the core's Messages out as blocks, Slack's escaped text in as plain commands, the open form."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    DividerBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot import pages
from bot.chat import Actions, Bullets, Fields, Inline, Mention, Message, Section, Strong, Tone
from bot.commands import MAX_TEXT as MAX_IMPACT
from bot.commands import MAX_TITLE
from bot.render import plain_text

# Slack's limits. Per block (https://docs.slack.dev/reference/block-kit/blocks): a section's text 3,000 characters,
# 10 fields, a button's label 75 and value 2,000 — slack_sdk's model classes check these when the blocks are built.
# What they do not check, and Slack refuses all the same: a field's text over 2,000 characters (invalid_blocks), more
# than 50 blocks in one message (invalid_blocks), the text of all blocks together past about 12,000 characters
# (msg_blocks_too_long, observed rather than documented), and a `text` over 40,000 characters (msg_too_long). Those
# are ours to keep: every message is measured as rendered (escaped) and split within BUDGET before it is posted.
MAX_BLOCKS = 50
MAX_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD = 2000
MAX_BUTTONS = 25
MAX_LABEL = 75
MAX_VALUE = 2000
MAX_BLOCK_TEXT = 10_000  # ours: well under the ~12,000 characters of block text Slack refuses a message past
MAX_FALLBACK = 3000  # the `text` of a message: Slack takes 40,000; notifications show far less
# (all block text, blocks, the longest field, the longest line): what one message may hold
BUDGET = (MAX_BLOCK_TEXT, MAX_BLOCKS, MAX_FIELD, MAX_TEXT)
ACTION_PREFIX = "warroom:"
OPEN_FORM = "warroom:open"
_MARKS = {Tone.BAD_NEWS: "🔴 ", Tone.ERROR: "⚠️ "}
_HANDLE = re.compile(r"[\w.\-]{1,80}")


def escape(text: str) -> str:
    """User text made inert for mrkdwn: `<!channel>`, `<@U…>` and `&<>` are shown, never executed."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escaped_clip(text: str, limit: int) -> str:
    """``text`` escaped and at most ``limit`` characters long: cut before escaping, so never inside `&amp;`."""
    escaped = escape(text)
    if len(escaped) <= limit:
        return escaped
    keep, size = 0, 1  # the `…`
    for ch in text:
        grown = size + len(escape(ch))
        if grown > limit:
            break
        keep, size = keep + 1, grown
    return escape(text[:keep]) + "…"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _inline(part: Inline) -> str:
    if isinstance(part, Mention):
        return f"<@{part.user.id}>"
    if isinstance(part, Strong):
        lead, core, trail = part.padded()
        return f"{lead}*{escape(core)}*{trail}" if core else escape(part.text)
    return escape(part)


def _pieces(line: str) -> Iterator[str]:
    """A line cut to Slack's 3,000 characters: at a space if one is near, never inside `&amp;` or `<@U…>`.

    ``split`` keeps lines within 3,000 characters; this is the safety net for a message posted unsplit."""
    while len(line) > MAX_TEXT:
        cut = line.rfind(" ", MAX_TEXT // 2, MAX_TEXT)
        if cut < 0:
            cut = MAX_TEXT
            tail = line[cut - 40 : cut]
            opened = max(tail.rfind("&"), tail.rfind("<"))
            if opened >= 0 and ";" not in tail[opened:] and ">" not in tail[opened:]:
                cut -= len(tail) - opened
        yield line[:cut]
        line = line[cut:].lstrip(" ")
    yield line


def _sections(lines: Iterable[str]) -> Iterator[Block]:
    """Lines packed into as few sections as Slack's 3,000 characters per text allow."""
    chunk = ""
    for line in (piece for whole in lines for piece in _pieces(whole)):
        if chunk and len(chunk) + 1 + len(line) > MAX_TEXT:
            yield SectionBlock(text=MarkdownTextObject(text=chunk))
            chunk = ""
        chunk = f"{chunk}\n{line}" if chunk else line
    if chunk:
        yield SectionBlock(text=MarkdownTextObject(text=chunk))


def _lines(block: Section | Bullets) -> list[str]:
    if isinstance(block, Section):
        return ["".join(_inline(p) for p in block.parts)]
    return [f"• {escape(item)}" for item in block.items]


def _fields(block: Fields) -> list[str]:
    return [f"*{escape(k)}*\n{escape(v)}" for k, v in block.items]


def _block(block: Section | Fields | Bullets | Actions, buttons: Iterator[int]) -> Iterator[Block]:
    if isinstance(block, Section | Bullets):
        yield from _sections(_lines(block))
    elif isinstance(block, Fields):
        items = [MarkdownTextObject(text=text) for text in _fields(block)]
        for i in range(0, len(items), MAX_FIELDS):
            yield SectionBlock(fields=items[i : i + MAX_FIELDS])
    else:
        elements = [
            ButtonElement(
                text=PlainTextObject(text=_clip(b.label, MAX_LABEL), emoji=True),
                action_id=f"{ACTION_PREFIX}{next(buttons)}",
                value=b.command[:MAX_VALUE],
                style=b.style if b.style in ("primary", "danger") else None,
            )
            for b in block.buttons
        ]
        for i in range(0, len(elements), MAX_BUTTONS):
            yield ActionsBlock(elements=elements[i : i + MAX_BUTTONS])


def blocks(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """Block Kit for one or more messages (a divider between them), built through slack_sdk's models.

    Nothing is cut here: ``split`` is what keeps a message within Slack's limits (``BUDGET``)."""
    out: list[Block] = []
    buttons = iter(range(1, 10_000))  # action_ids must be unique within one message
    for n, message in enumerate(messages):
        if n:
            out.append(DividerBlock())
        mark = _MARKS.get(message.tone, "") if message.title[:1].isalnum() else ""
        out.extend(_sections([f"{mark}*{escape(message.title)}*"]))
        for block in message.blocks:
            out.extend(_block(block, buttons))
    return [b.to_dict() for b in out]  # to_dict() runs slack_sdk's checks


def block_text(rendered: Iterable[Any]) -> int:
    """Characters of text in rendered blocks, counted the way Slack's message size check counts them: every
    `text` of every block and element."""
    total = 0
    for item in rendered:
        if isinstance(item, dict):
            for key, value in item.items():
                if key == "text" and isinstance(value, str):
                    total += len(value)
                elif isinstance(value, dict | list):
                    total += block_text([value])
        elif isinstance(item, list):
            total += block_text(item)
    return total


def measure(message: Message) -> tuple[int, int, int, int]:
    """A message as Slack sizes it (see ``BUDGET``): block text, blocks, the longest field and the longest line."""
    rendered = blocks([message])
    longest_field = max((len(t) for b in message.blocks if isinstance(b, Fields) for t in _fields(b)), default=0)
    longest_line = max(
        (len(line) for b in message.blocks if isinstance(b, Section | Bullets) for line in _lines(b)), default=0
    )
    return block_text(rendered), len(rendered), longest_field, longest_line


def split(message: Message) -> list[Message]:
    """A message as parts that each fit one Slack message (``BUDGET``), nothing dropped."""
    return pages.split(message, measure=measure, budget=BUDGET)


def payloads(messages: Sequence[Message]) -> list[list[Message]]:
    """Messages (an answer of several) as the fewest payloads that each fit one Slack message, in order."""
    groups: list[list[Message]] = []
    for part in (p for m in messages for p in split(m)):
        if groups and _fits_together([*groups[-1], part]):
            groups[-1].append(part)
        else:
            groups.append([part])
    return groups


def _fits_together(messages: Sequence[Message]) -> bool:
    rendered = blocks(messages)
    return len(rendered) <= MAX_BLOCKS and block_text(rendered) <= MAX_BLOCK_TEXT


def fallback_text(messages: Sequence[Message]) -> str:
    """The plain `text` Slack shows in notifications and where blocks cannot be drawn; escaped like the blocks,
    cut before escaping."""
    return escaped_clip("\n".join(plain_text(m) for m in messages), MAX_FALLBACK)


# --- inbound: Slack's escaped text back to what the person typed -----------------------------------------

_SPECIAL = re.compile(r"<([@#!])([^>|]*)(?:\|([^>]*))?>|<([^>|]+)(?:\|([^>]*))?>")


def from_slack(text: str) -> tuple[str, dict[str, str]]:
    """A command as typed: user mentions become `@name` (returned as name → id), links their URL, `&amp;` `&`."""
    people: dict[str, str] = {}

    def plain(m: re.Match[str]) -> str:
        sigil, ref, label, target, text = m.groups()
        if sigil == "@":
            if label and _HANDLE.fullmatch(label):
                people[label.lower()] = ref
                return f"@{label}"
            return f"<@{ref}>"  # a display name with spaces would split into words: keep the id
        if sigil == "#":
            return f"#{label or ref}"
        if sigil == "!":
            # <!channel>, <!here>, <!subteam^S1|@team>: said as words, never re-sent as a broadcast
            return label if label and label.startswith("@") else f"@{ref.split('^')[0]}"
        if target.startswith("mailto:"):
            return text or target[len("mailto:") :]
        return str(target)

    unescaped = _SPECIAL.sub(plain, text)
    return unescaped.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"), people


# --- the form for `open` without a title -------------------------------------------------------------


def open_form(
    metadata: Mapping[str, str], *, severity: int, customer: str | None, impact: str | None
) -> dict[str, Any]:
    """A modal asking for what `open` needs, within the parser's limits; ``metadata`` (the channel, where to answer,
    the key of the options kept server-side) rides along in ``private_metadata``.

    Built through slack_sdk's View, whose checks cover the title, the buttons, ``private_metadata`` (3,000) and
    the number of blocks; they do not compare an input's initial value with its ``max_length``, so a value past
    the limit is never offered as one."""

    def text_input(
        block_id: str, label: str, *, initial: str | None, optional: bool, limit: int, multiline: bool = False
    ) -> InputBlock:
        element = PlainTextInputElement(
            action_id="value",
            multiline=multiline,
            max_length=limit,
            initial_value=initial if initial and len(initial) <= limit else None,
        )
        return InputBlock(block_id=block_id, label=label, element=element, optional=optional)

    options = [
        Option(value=str(n), label=f"{n} — {word}")
        for n, word in ((1, "critical"), (2, "major"), (3, "moderate"), (4, "minor"))
    ]
    view = View(
        type="modal",
        callback_id=OPEN_FORM,
        private_metadata=json.dumps(dict(metadata)),
        title="Open an incident",
        submit="Open war room",
        close="Cancel",
        blocks=[
            text_input("title", "What is broken, in a few words", initial=None, optional=False, limit=MAX_TITLE),
            InputBlock(
                block_id="sev",
                label="Severity",
                element=StaticSelectElement(
                    action_id="value", options=options, initial_option=options[min(max(severity, 1), 4) - 1]
                ),
            ),
            text_input("customer", "Customer", initial=customer, optional=True, limit=MAX_TITLE),
            text_input(
                "impact", "Impact on the customer", initial=impact, optional=True, limit=MAX_IMPACT, multiline=True
            ),
        ],
    )
    rendered: dict[str, Any] = view.to_dict()  # to_dict() runs slack_sdk's checks
    return rendered


def _quoted(value: str) -> str:
    # The grammar has no escape for a quote inside quotes: a typed double quote becomes a single one.
    return '"' + re.sub('["\u201c\u201d\u201e]', "'", " ".join(value.split())) + '"'


def command_from_form(values: Mapping[str, Mapping[str, Any]], extra: str = "") -> str:
    """The `open …` command a submitted form stands for."""

    def get(block_id: str) -> str | None:
        value = values.get(block_id, {}).get("value", {})
        picked = value.get("selected_option") or {}
        result = value.get("value") or picked.get("value")
        return str(result).strip() if result else None

    words = ["open", _quoted(get("title") or "")]
    if sev := get("sev"):
        words.append(f"sev:{sev}")
    for key in ("customer", "impact"):
        if found := get(key):
            words.append(f"{key}:{_quoted(found)}")
    return " ".join([*words, extra]).strip()
