"""`share`, `share list`, `share revoke`, and what the customer's page does: read, record an open, take a question.

The page itself is composed by bot.voice.compose (customer fields only, the one guard); this module finds the link
behind a token, says whether it is live, and tells the war room what the customer did (outbox posts, timeline).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot import commands as c
from bot import views
from bot.chat import Bullets, Invocation, Message, Reply, Section, Strong, Tone
from bot.clock import Clock
from bot.desk import Desk, person
from bot.domain import EventKind, Incident
from bot.errors import BadInput, NotFound
from bot.outbox import message_to_json
from bot.playbooks import PlaybookLibrary
from bot.share import LINK_DAYS, MAX_QUESTION, CustomerLink, new_token, page_url, token_hash
from bot.store import Database, Store
from bot.voice.compose import CustomerPage, Voice
from bot.when import format_duration, format_when

log = logging.getLogger(__name__)
EmailLink = Callable[[Incident, CustomerLink, str, Sequence[str], Invocation], Awaitable[str]]


class ShareDesk:
    """The verbs of the customer's page in the war room."""

    def __init__(self, desk: Desk, public_url: str | None = None) -> None:
        self.desk = desk
        self.public_url = public_url
        self.email: EmailLink | None = None  # set by the service: `share to:` through the customer-email path

    async def share(self, cmd: c.ShareLink, inv: Invocation) -> Reply:
        """A new private link, shown only to the person who asked (the reply), and recorded on the timeline."""
        now = self.desk.now
        token = new_token()
        async with self.desk.db.transaction() as store:
            incident = await self.desk.target(store, cmd, inv)
            days = self._days(incident)
            if incident.closed_at is not None and now >= incident.closed_at + timedelta(days=days):
                raise BadInput(
                    f"{incident.ref} closed more than {days} days ago; its page has ended", example="share list"
                )
            link = await store.add_link(incident.number, token_hash(token), person(inv), now=now, days=days)
            await store.add_event(
                incident.number, now, EventKind.SHARED, person(inv), f"made {link.ref} to the customer's page"
            )
        url = page_url(self.public_url, token)
        lines = [
            Section.of(
                "Send this link to ", Strong(incident.customer or "the customer"), " (it is shown only to you):"
            ),
            Section.of(url),
            Section.of(
                f"It shows the headline, the promises and their state, the next update time and the updates sent; "
                f"`share revoke {link.number}` ends it at once, and it ends by itself {days} days after close."
            ),
        ]
        if cmd.to and self.email is not None:
            said = await self.email(incident, link, url, cmd.to, inv)
            lines.append(Section.of(said))
        elif cmd.to:
            lines.append(Section.of("Email is not set up here, so nothing was emailed: send the link yourself."))
        return Reply((Message(f"{incident.ref}: {link.ref} to the customer's page", tuple(lines), Tone.SUCCESS),))

    def _days(self, incident: Incident) -> int:
        try:
            return self.desk.core.playbooks.get(incident.playbook).share_days
        except NotFound:  # a playbook removed since
            return LINK_DAYS

    async def list(self, cmd: c.ListShares, inv: Invocation) -> Reply:
        now = self.desk.now
        async with self.desk.db.read() as store:
            incident = await self.desk.target(store, cmd, inv, lock=False)
            links = await store.links(incident.number)
        if not links:
            return Reply((Message(f"{incident.ref}: no link to the customer's page yet; `share` makes one"),))
        zone = ZoneInfo(incident.timezone)
        items = []
        for link in links:
            if link.revoked_at is not None:
                state = f"revoked {format_when(link.revoked_at, zone)}"
            elif not link.live(incident.closed_at, now):
                state = f"ended {link.days} days after close"
            else:
                ends = link.ends_at(incident.closed_at)
                state = "live" + (f" until {format_when(ends, zone)}" if ends else "")
            opened = (
                f"last opened {format_when(link.last_opened_at, zone)} ({link.opens} opens)"
                if link.last_opened_at
                else "never opened"
            )
            sent = f", emailed to {', '.join(link.emailed_to)}" if link.emailed_to else ""
            made = f"made {format_when(link.created_at, zone)} by {link.created_by.name}"
            items.append(f"{link.ref}: {state}; {opened}; {made}{sent}")
        return Reply((Message(f"{incident.ref}: links to the customer's page", (Bullets(tuple(items)),)),))

    async def revoke(self, cmd: c.RevokeShare, inv: Invocation) -> Reply:
        now = self.desk.now
        async with self.desk.db.transaction() as store:
            incident = await self.desk.target(store, cmd, inv)
            links = await store.links(incident.number)
            if cmd.number is not None and cmd.number not in {link.number for link in links}:
                raise NotFound(f"{incident.ref} has no link {cmd.number}; `share list` lists them")
            ended = await store.revoke_links(incident.number, cmd.number, now=now)
            if not ended:
                what = f"link {cmd.number} was" if cmd.number is not None else "every link was"
                raise BadInput(f"nothing to revoke: {what} already revoked", example="share list")
            text = "revoked " + ", ".join(link.ref for link in ended) + " to the customer's page"
            await store.add_event(incident.number, now, EventKind.SHARED, person(inv), text)
        return self.desk.ack(incident, text + "; it answers 404 from now on")


@dataclass(frozen=True)
class Opened:
    """A live link's page: the incident and what it shows."""

    link: CustomerLink
    incident: Incident
    page: CustomerPage


class Asked:
    """What became of a question from the page."""

    SENT, EMPTY, TOO_LONG, TOO_MANY = "sent", "empty", "too_long", "too_many"


class CustomerPages:
    """What the web adapter asks of the customer's page: only ever for a live link, else None (a 404)."""

    def __init__(
        self,
        db: Database,
        playbooks: PlaybookLibrary,
        clock: Clock,
        public_url: str | None = None,
        *,
        deliver: Callable[[], Awaitable[int]] | None = None,
    ) -> None:
        self.deliver = deliver  # the outbox, where the server runs one; else the server's next tick posts it
        self.db = db
        self.playbooks = playbooks
        self.voice = Voice(playbooks)
        self.clock = clock
        self.public_origin = public_url.rstrip("/") if public_url else None

    def now(self) -> datetime:
        return self.clock.now()

    async def _live(self, store: Store, token: str, now: datetime) -> tuple[CustomerLink, Incident] | None:
        # One lookup by the token's hash, whatever the token: unknown, revoked and ended links do the same work.
        found = await store.link_by_hash(token_hash(token))
        if found is None or not found[0].live(found[1], now):
            return None
        link = found[0]
        return link, await store.get_incident(link.incident)

    async def read(self, token: str) -> Opened | None:
        """The page of a live link, without recording anything (the live part and the feed)."""
        now = self.now()
        async with self.db.read() as store:
            found = await self._live(store, token, now)
            if found is None:
                return None
            link, incident = found
            return Opened(link, incident, await self._page(store, incident, now))

    async def open(self, token: str) -> Opened | None:
        """The page of a live link, recording that it was opened (the time only); the room is told the first time
        the customer opens it after an update or bad news."""
        now = self.now()
        async with self.db.read() as store:  # a token that opens nothing never takes a write transaction
            if await self._live(store, token, now) is None:
                return None
        async with self.db.transaction() as store:
            found = await self._live(store, token, now)
            if found is None:  # revoked in between
                return None
            link, incident = found
            await store.link_opened(link.id, now=now)
            told = await self._tell_opened(store, incident, now)
            opened = Opened(link, incident, await self._page(store, incident, now))
        if told:
            await self._deliver()
        return opened

    async def _deliver(self) -> None:
        if self.deliver is None:
            return
        try:
            await self.deliver()
        except Exception:  # recorded and owed: the outbox retries it
            log.exception("could not deliver the war room's posts about the customer's page; they are retried")

    async def _page(self, store: Store, incident: Incident, now: datetime) -> CustomerPage:
        detail = await views.incident_detail(store, incident.number, playbooks=self.playbooks, now=now)
        return await self.voice.page(store, incident, now, next_update=detail.next_update_due)

    async def _tell_opened(self, store: Store, incident: Incident, now: datetime) -> bool:
        news: list[tuple[datetime, str]] = [(u.at, u.ref) for u in await store.updates(incident.number)]
        news += [(b.at, b.ref) for b in await store.bad_news(incident.number)]
        seen = [e.at for e in await store.timeline(incident.number) if e.kind is EventKind.PAGE_OPENED]
        latest = max(news, default=None)
        if seen and (latest is None or latest[0] <= seen[-1]):
            return False  # nothing new since the customer last opened it
        zone = ZoneInfo(incident.timezone)
        who = incident.customer or "The customer"
        at = now.astimezone(zone).strftime("%H:%M")
        if latest is None:
            text = f"{who} opened their page for the first time at {at}"
        else:
            text = f"{who} opened their page at {at}, {format_duration(now - latest[0])} after {latest[1]}"
        data = {"after": latest[1] if latest else None}
        await store.add_event(incident.number, now, EventKind.PAGE_OPENED, None, text, data)
        await _post(store, incident, Message(f"{incident.ref}: {text}", tone=Tone.INFO), now)
        return True

    async def ask(self, token: str, text: str) -> str | None:
        """A question or correction from the page, posted in the war room as the customer's quoted words and kept
        on the timeline; None when the link is not live, else one of Asked's outcomes."""
        question = "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").split("\n")).strip()
        question = "".join(ch for ch in question if ch in "\n\t" or ch.isprintable())
        now = self.now()
        async with self.db.read() as store:  # a token that opens nothing never takes a write transaction
            if await self._live(store, token, now) is None:
                return None
        async with self.db.transaction() as store:
            found = await self._live(store, token, now)
            if found is None:
                return None
            link, incident = found
            if not question:
                return Asked.EMPTY
            if len(question) > MAX_QUESTION:
                return Asked.TOO_LONG
            left, recent = link.questions_left(now)
            if left <= 0:
                return Asked.TOO_MANY
            await store.link_asked(link.id, [*recent, now])
            who = incident.customer or "The customer"
            await store.add_event(
                incident.number, now, EventKind.CUSTOMER_ASKED, None, f"{who} asked from their page: {question}"
            )
            quoted = "\n".join(f"> {line}" for line in question.split("\n"))
            message = Message(
                f"{incident.ref}: {who} asks, from their page",
                (
                    Section.of(quoted),
                    Section.of("Answer with your next update (`update send …`): the page shows it."),
                ),
                Tone.REMINDER,
            )
            await _post(store, incident, message, now)
        await self._deliver()
        return Asked.SENT


async def _post(store: Store, incident: Incident, message: Message, now: datetime) -> None:
    """Owe a post to the war room in this transaction (the outbox delivers it once it commits)."""
    if incident.room_id is None:
        return
    await store.enqueue(
        incident.room_id,
        incident.room_name or incident.room_id,
        message_to_json(replace(message, zone=incident.timezone)),
        incident=incident.number,
        now=now,
    )
