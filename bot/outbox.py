"""The outbox: what Warroom says is written in the transaction that decided it, and delivered after, once.

A firing or a command never waits on the chat platform inside its transaction and never loses a post to a
chat outage: the row stays pending, is retried with exponential backoff (up to a ceiling, for as long as it
takes), and is claimed under a lease so one replica delivers it. Each post carries its row's delivery key,
so an adapter that can look a key up (Slack) makes a retried post exactly once. When the platform comes back
after an outage, what piled up for one room goes out as one catch-up post, not a storm.

A post too big for one message is owed as a head and replies in its thread, each a row with its own key, so
each part is posted once too. A payload the platform refuses as it is (too big, malformed) is never sent again
unchanged: its short version — the heading, the start, where the whole can be read — is sent once instead; if
that is refused too, the post is given up on and the commander is told so in the room.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import event

from bot.chat import (
    Actions,
    Block,
    Bullets,
    Button,
    ChatPort,
    Fields,
    Inline,
    Mention,
    Message,
    MessageRef,
    RoomRef,
    Section,
    Strong,
    Tone,
    UserRef,
)
from bot.clock import Clock
from bot.errors import ChatError
from bot.render import plain_text
from bot.store import Database, Store
from bot.store.outbox import FULL, NOTICE, PENDING, SENT, SHORT
from bot.store.tables import OutboxRow
from bot.when import format_duration, format_when

log = logging.getLogger(__name__)
FIRST_RETRY = timedelta(seconds=5)
CEILING = timedelta(minutes=10)  # a chat outage is retried at least this often, however long it lasts
UTC_ZONE = ZoneInfo("UTC")
CATCH_UP_AFTER = 3  # more than this many posts owed to one room at once: one catch-up post instead
CATCH_UP_MAX = 20  # messages per catch-up post
CATCH_UP_ITEM = 300  # characters of each missed message shown in it
SHORT_BODY = 280  # characters of a refused message's body its short version keeps
SHORT_MENTIONS = 10  # people a short version still mentions
MARK_WITHIN = 1.0  # seconds: posts the engine delivered are marked within this, or with the next write owing a post
HANDED = "warroom_handed_posts"  # Session.info: the rows a transaction owes, leased to the deliverer that posts them


# The rows one command owes (set by the service around a command): delivered right after it, and only they —
# a backlog left by an outage is the engine's to deliver, not something a person's command waits behind.
owed: ContextVar[list[int] | None] = ContextVar("warroom_owed_posts", default=None)
# The rows whose fate a command's answer already tells (close says what became of its summary).
explained: ContextVar[set[int] | None] = ContextVar("warroom_explained_posts", default=None)


def backoff(attempts: int) -> timedelta:
    """5 s, 10 s, 20 s, … up to ten minutes between tries; never giving up."""
    step: timedelta = FIRST_RETRY * 2 ** min(max(attempts - 1, 0), 16)
    return min(CEILING, step)


# --- messages as JSON ----------------------------------------------------------------------------------


def _inline(part: Inline) -> Any:
    if isinstance(part, Mention):
        return {"mention": {"id": part.user.id, "name": part.user.name}}
    if isinstance(part, Strong):
        return {"strong": part.text}
    return part


def _inline_back(data: Any) -> Inline:
    if isinstance(data, str):
        return data
    if "mention" in data:
        return Mention(UserRef(data["mention"]["id"], data["mention"]["name"]))
    return Strong(data["strong"])


def message_to_json(message: Message) -> str:
    def block(b: Block) -> dict[str, Any]:
        if isinstance(b, Section):
            return {"section": [_inline(p) for p in b.parts]}
        if isinstance(b, Fields):
            return {"fields": [list(item) for item in b.items]}
        if isinstance(b, Bullets):
            return {"bullets": list(b.items)}
        return {"actions": [[x.label, x.command, x.style] for x in b.buttons]}

    data = {"title": message.title, "tone": message.tone.value, "blocks": [block(b) for b in message.blocks]}
    if message.elsewhere:
        data["elsewhere"] = message.elsewhere
    if message.zone:
        data["zone"] = message.zone
    return json.dumps(data)


def message_from_json(text: str) -> Message:
    data = json.loads(text)

    def block(b: Mapping[str, Any]) -> Block:
        if "section" in b:
            return Section(tuple(_inline_back(p) for p in b["section"]))
        if "fields" in b:
            return Fields(tuple((str(k), str(v)) for k, v in b["fields"]))
        if "bullets" in b:
            return Bullets(tuple(b["bullets"]))
        return Actions(tuple(Button(label, command, style) for label, command, style in b["actions"]))

    blocks = tuple(block(b) for b in data["blocks"])
    return Message(
        data["title"], blocks, Tone(data["tone"]), str(data.get("elsewhere") or ""), str(data.get("zone") or "")
    )


# --- delivery --------------------------------------------------------------------------------------------


class Deliverer:
    """Delivers what the outbox owes, outside any write transaction; safe to run in several replicas."""

    def __init__(
        self,
        db: Database,
        chat: ChatPort,
        clock: Clock,
        *,
        owner: str | None = None,
        lease: timedelta = timedelta(minutes=2),
        batch: int = 100,
    ) -> None:
        self.db, self.chat, self.clock = db, chat, clock
        self.owner = owner or uuid.uuid4().hex[:12]
        self.lease, self.batch = lease, batch
        self._ready: dict[int, OutboxRow] = {}  # committed, leased here, not yet tried: posted without a claim
        self._unmarked: list[tuple[list[int], str]] = []  # posted, not yet marked delivered (still leased here)
        self._incidents: dict[int, int | None] = {}  # the incident of each row posted and not yet marked
        self._marking: set[int] = set()  # marks (by their first row) an open transaction is writing
        self._since: dict[int, float] = {}  # when each mark (by its first row) was posted, on the loop's clock
        self._flusher: asyncio.Task[None] | None = None

    async def owe(
        self,
        store: Store,
        room_id: str,
        room_name: str,
        message: str,
        *,
        incident: int | None,
        now: datetime,
        thread_of: int | None = None,
        flush: bool = True,
    ) -> OutboxRow:
        """Owe a post in the caller's transaction, born leased to this deliverer: once the transaction commits it is
        handed here and posted without a claim (were this replica to die first, another takes it over when the
        lease runs out, and looks it up by its key before posting it). The first post a transaction owes also
        marks delivered, in it, what this deliverer posted and had not marked yet: no commit of their own."""
        row = await store.enqueue(
            room_id,
            room_name,
            message,
            incident=incident,
            now=now,
            thread_of=thread_of,
            flush=flush,  # False: a batch of firings flushes its posts together (one INSERT)
            leased=(self.owner, now + self.lease),
        )
        handed: list[OutboxRow] | None = store.session.info.get(HANDED)
        if handed is None:
            handed = store.session.info[HANDED] = []
            # not those another open transaction is marking: it would wait for that one's row locks
            marks = [m for m in self._unmarked if m[0][0] not in self._marking]
            self._marking.update(m[0][0] for m in marks)

            def committed(_session: Any) -> None:
                self._ready.update((r.id, r) for r in handed)
                self._forget(marks)

            def ended(_session: Any, transaction: Any) -> None:
                if transaction.parent is None:  # committed or rolled back: the marks are free again
                    self._marking.difference_update(m[0][0] for m in marks)
                    with contextlib.suppress(RuntimeError):  # (no event loop: nothing to schedule on)
                        self._flush_soon()  # rolled back: they are still to be marked

            event.listen(store.session.sync_session, "after_commit", committed)
            event.listen(store.session.sync_session, "after_transaction_end", ended)
            if marks:
                await self._mark(store, marks, now)
        handed.append(row)
        return row

    async def deliver(self, only: Sequence[int] | None = None) -> int:
        """Post everything due now (``only`` these rows when given); returns how many rows were delivered (a
        catch-up post counts them all). Rooms go side by side; the chat port paces each room's posts.

        Rows handed here by the transaction that owed them go first, without a claim; then (all of them, or those
        of ``only`` not handed here) a claim takes what is due. ``only`` (a command's own posts, whose fate its
        answer tells) is marked delivered before this returns; the rest within MARK_WITHIN, together."""
        if only is not None and not only:
            return 0
        delivered = 0
        handed = [self._ready.pop(i) for i in (list(self._ready) if only is None else only) if i in self._ready]
        # one whose lease ran out before its turn may be another replica's now: it is claimed again, not posted
        handed = [r for r in handed if r.lease_until is not None and r.lease_until > self.clock.now()]
        rest = None if only is None else [i for i in only if i not in {r.id for r in handed}]
        if handed:
            delivered += await self._round(handed, self.clock.now(), at_once=only is not None)
        if rest is not None and not rest:
            return delivered
        while True:
            now = self.clock.now()
            async with self.db.transaction() as store:  # finding nothing: rolled back, no commit
                rows = await store.claim_deliveries(self.owner, now, self.lease, self.batch, only=rest)
            delivered += await self._round(rows, now, at_once=only is not None)
            if len(rows) < self.batch or only is not None:
                return delivered

    async def _round(self, rows: list[OutboxRow], now: datetime, *, at_once: bool) -> int:
        """Post rows leased here, room by room side by side; what went out is marked delivered together."""
        by_room: dict[str, list[OutboxRow]] = {}
        for row in rows:
            by_room.setdefault(row.room_id, []).append(row)
        marks: list[tuple[list[int], str]] = []  # what went out, marked delivered together once all rooms are done
        try:
            done = await asyncio.gather(*(self._room(room_rows, now, marks) for room_rows in by_room.values()))
        finally:
            # (a replica that dies before they are marked: they stay leased, and whoever takes them over looks
            # each up by its key before posting it again)
            self._unmarked.extend(marks)
            self._since.update((m[0][0], asyncio.get_running_loop().time()) for m in marks)
            if at_once:
                await self.flush()
            else:
                self._flush_soon()
        return sum(done)

    def _flush_soon(self) -> None:
        """See that what is posted and not marked is marked MARK_WITHIN after it was posted, at the latest (while
        posts keep being owed, each transaction owing one marks them, and this finds nothing left to do)."""
        if self._flusher is None and self._unmarked:
            self._flusher = asyncio.get_running_loop().create_task(self._flusher_runs())

    async def _flusher_runs(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while waiting := [self._since.get(m[0][0], 0.0) for m in self._unmarked if m[0][0] not in self._marking]:
                age = loop.time() - min(waiting)
                if age < MARK_WITHIN:
                    await asyncio.sleep(MARK_WITHIN - age)
                else:
                    await self.flush()
        except Exception:  # the database may be away: the next flush (or whoever takes the leases over) sees to them
            log.warning("could not mark delivered posts; trying again with the next ones", exc_info=True)
        finally:
            self._flusher = None

    async def flush(self) -> None:
        """Mark delivered, in one transaction, every post delivered here and not marked yet (also before this
        replica hands back its leases: a post it made must not be posted again by another)."""
        marks = [m for m in self._unmarked if m[0][0] not in self._marking]
        if not marks:
            return
        self._marking.update(m[0][0] for m in marks)
        try:
            async with self.db.transaction() as store:
                await self._mark(store, marks, self.clock.now())
            self._forget(marks)
        finally:
            self._marking.difference_update(m[0][0] for m in marks)

    async def _mark(self, store: Store, marks: list[tuple[list[int], str]], now: datetime) -> None:
        incidents = [self._incidents.get(i) for ids, _ in marks for i in ids]
        await store.delivered_many(marks, self.owner, now, incidents=incidents)

    def _forget(self, marks: list[tuple[list[int], str]]) -> None:
        for mark in marks:
            with contextlib.suppress(ValueError):
                self._unmarked.remove(mark)
            self._since.pop(mark[0][0], None)
            for i in mark[0]:
                self._incidents.pop(i, None)

    async def _room(self, rows: list[OutboxRow], now: datetime, marks: list[tuple[list[int], str]]) -> int:
        """One room's due posts, in order. A post whose earlier answer was lost goes again alone (or with the
        catch-up it was part of), under the same key, so the platform can say it already has it; after an outage,
        many posts not yet taken go out as catch-up posts that each fit one message, each remembered as a batch
        before it is sent. A reply waits for the post it replies to."""
        room = RoomRef(rows[0].room_id, rows[0].room_name)
        units: dict[str, list[OutboxRow]] = {}
        fresh = [
            r for r in rows if r.batch_key is None and not r.maybe_posted and r.thread_of is None and r.form == FULL
        ]
        if len(fresh) > CATCH_UP_AFTER and any(r.attempts > 1 for r in fresh):
            async with self.db.transaction() as store:
                for chunk in self._chunks(fresh, now):
                    await store.batch([r.id for r in chunk], chunk[0].key)
                    for r in chunk:
                        r.batch_key = chunk[0].key
        for row in rows:
            units.setdefault(row.batch_key or row.key, []).append(row)
        posted: dict[int, str] = {}  # row id → the platform's id of its post, for the replies in its thread
        return await self._units(room, units, posted, marks, now)

    async def _units(
        self,
        room: RoomRef,
        units: dict[str, list[OutboxRow]],
        posted: dict[int, str],
        marks: list[tuple[list[int], str]],
        now: datetime,
    ) -> int:
        done = 0
        for key, unit in sorted(units.items(), key=lambda item: min(r.id for r in item[1])):
            if unit[0].batch_key is None:
                row = unit[0]
                thread: MessageRef | None = None
                if row.thread_of is not None:
                    head = posted.get(row.thread_of) or await self._head(row.thread_of)
                    if head is None:  # the post it replies to is not there yet: wait for it
                        async with self.db.transaction() as store:
                            await store.retry_later(
                                [row.id], self.owner, now + FIRST_RETRY, "waits for its thread", maybe_posted=False
                            )
                        continue
                    thread = MessageRef(room, head) if head else None
                sent, ref_id = await self._send(
                    unit, room, message_from_json(row.message), key, now, thread=thread, marks=marks
                )
                done += sent
                if ref_id is not None:
                    posted[row.id] = ref_id
                continue
            async with self.db.transaction() as store:  # the whole batch, or none of it, goes under its key
                whole = await store.claim_batch(key, self.owner, now, self.lease)
            if whole:
                sent, ref_id = await self._send(whole, room, catch_up(whole, now), key, now, marks=marks)
                done += sent
                if ref_id is not None:
                    posted.update(dict.fromkeys((r.id for r in whole), ref_id))
        return done

    def _chunks(self, rows: list[OutboxRow], now: datetime) -> list[list[OutboxRow]]:
        """Rows in order as catch-up posts of at most twenty, each small enough for one message."""
        chunks: list[list[OutboxRow]] = []
        for row in rows:
            grown = [*chunks[-1], row] if chunks else []
            if chunks and len(grown) <= CATCH_UP_MAX and len(self.chat.split(catch_up(grown, now))) == 1:
                chunks[-1].append(row)
            else:
                chunks.append([row])
        return chunks

    async def _head(self, row_id: int) -> str | None:
        """The platform's id of a delivered post ("" when it was given up on: reply outside any thread), or None
        while it is still owed."""
        for ids, message_id in self._unmarked:  # posted here, not marked yet
            if row_id in ids:
                return message_id
        async with self.db.read() as store:
            head = await store.outbox_row(row_id)
        if head is None or head.state not in (PENDING, SENT):
            return ""
        return head.message_id or "" if head.state == SENT else None

    async def _send(
        self,
        rows: list[OutboxRow],
        room: RoomRef,
        message: Message,
        key: str,
        now: datetime,
        *,
        thread: MessageRef | None = None,
        marks: list[tuple[list[int], str]] | None = None,
    ) -> tuple[int, str | None]:
        """Post one unit (a row, or a catch-up batch); how many rows it delivered and the post's id. With ``marks``
        the rows are marked delivered there, with others, by the caller; else now."""
        ids = [r.id for r in rows]
        sent = short_version(message, rows[0].last_error or "", rows[0].incident) if rows[0].form == SHORT else message
        try:
            retry = any(r.attempts > 1 for r in rows)  # an earlier attempt may have reached the platform
            ref: MessageRef = await self.chat.post(room, sent, key=key, retry=retry, thread=thread)
        except ChatError as err:
            if err.refused:
                return await self._refused(rows, room, message, key, now, err, thread, marks)
            again = now + backoff(max(r.attempts for r in rows))
            log.warning("could not post in %s (%s); trying again at %s", room.name, err, again.isoformat())
            async with self.db.transaction() as store:
                await store.retry_later(ids, self.owner, again, str(err), maybe_posted=err.unknown_outcome)
            return 0, None
        if marks is not None:
            marks.append((ids, ref.id))
            self._incidents.update((r.id, r.incident) for r in rows)
            return len(ids), ref.id
        async with self.db.transaction() as store:
            await store.delivered(ids, self.owner, ref.id, now)
        return len(ids), ref.id

    async def _refused(
        self,
        rows: list[OutboxRow],
        room: RoomRef,
        message: Message,
        key: str,
        now: datetime,
        err: ChatError,
        thread: MessageRef | None,
        marks: list[tuple[list[int], str]] | None = None,
    ) -> tuple[int, str | None]:
        """The platform refused the payload itself: never the same payload again. The full message falls back
        once to its short version; a short version refused too is given up on, and the commander told."""
        ids = [r.id for r in rows]
        if rows[0].form == FULL:
            log.warning("the platform refused a post in %s (%s); sending its short version instead", room.name, err)
            async with self.db.transaction() as store:
                await store.shorten(ids, self.owner, str(err))
            for r in rows:
                r.form, r.last_error = SHORT, str(err)
            return await self._send(rows, room, message, key, now, thread=thread, marks=marks)
        log.error("the platform refused a post in %s in full and in short (%s); giving up on it", room.name, err)
        notice: int | None = None
        async with self.db.transaction() as store:
            await store.give_up(ids, self.owner, str(err))
            if rows[0].form != NOTICE and rows[0].incident is not None:
                roles = {r.role: r.person for r in await store.roles(rows[0].incident)}
                commander = roles.get("commander")
                said = gave_up(message, str(err), UserRef(commander.id, commander.name) if commander else None)
                notice = (
                    await store.enqueue(
                        room.id, room.name, message_to_json(said), incident=rows[0].incident, now=now, form=NOTICE
                    )
                ).id
        if notice is not None:
            await self.deliver(only=[notice])
        return 0, None


def short_version(message: Message, reason: str, incident: int | None) -> Message:
    """What is sent once a platform refused a message as it is: its heading, the start of its body, the people it
    asks to act, and where the whole can be read."""
    body = " ".join(plain_text(replace(message, title="")).split())
    clipped = body if len(body) <= SHORT_BODY else body[: SHORT_BODY - 1] + "…"
    people: list[Inline] = [p for u in message.mentions[:SHORT_MENTIONS] for p in (Mention(u), " ")]
    where = message.elsewhere or (f"`status INC-{incident}`" if incident else "`status`") + " shows where things stand"
    title = message.title if len(message.title) <= 150 else message.title[:149] + "…"
    return Message(
        title,
        (
            *((Section.of(*people, clipped),) if clipped or people else ()),
            Section.of(f"(A short version: the chat platform refused the whole message — {reason}. {where}.)"),
        ),
        message.tone,
        message.elsewhere,
        message.zone,
    )


def gave_up(message: Message, reason: str, commander: UserRef | None) -> Message:
    """The notice, in the room, of a post the platform refused in full and in short."""
    title = message.title if len(message.title) <= 150 else message.title[:149] + "…"
    where = message.elsewhere or "`status` shows where things stand"
    return Message(
        f"⚠ I could not post “{title}” here",
        (
            Section.of(
                *((Mention(commander), " — ") if commander else ()),
                f"the chat platform refused it in full and in a short version ({reason}). Nothing recorded is lost:"
                f" {where}.",
            ),
        ),
        Tone.ERROR,
        zone=message.zone,
    )


def catch_up(rows: list[OutboxRow], now: datetime) -> Message:
    """Everything one room missed while the platform was away, as one post: each message's heading and body."""
    since = min(r.created_at for r in rows)
    zone = next((z for r in reversed(rows) if (z := message_from_json(r.message).zone)), "")  # the incident's now
    items = []
    for row in rows:
        text = plain_text(message_from_json(row.message)).replace("\n", " · ")
        clipped = text if len(text) <= CATCH_UP_ITEM else text[: CATCH_UP_ITEM - 1] + "…"
        items.append(f"{format_when(row.created_at, ZoneInfo(zone) if zone else UTC_ZONE)}: {clipped}")
    mentions = tuple(
        dict.fromkeys(u for r in rows for u in message_from_json(r.message).mentions)  # who was asked to act
    )
    parts: list[Inline] = [p for u in mentions for p in (Mention(u), " ")]
    return Message(
        f"⏪ Catching up: {len(rows)} posts I could not deliver for {format_duration(now - since)}",
        (
            Section.of(*parts, "— the chat platform was unreachable; here is what happened meanwhile, in order."),
            Bullets(tuple(items)),
        ),
        Tone.REMINDER,
        zone=zone,
    )
