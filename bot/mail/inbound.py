"""Email coming back: a message is taken in once (kept by its Message-ID), then handled once under a lease.

Matched to what we sent by its threading headers, else by the subject's tag from a sender we wrote to, else left
alone; a vendor's reply marks the follow-up heard and pauses the chase, an auto-reply or a bounce is shown for what it
is, a customer's reply prompts comms. Nothing in a message is ever run or followed; its text is quoted as plain text.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import timedelta
from typing import Any

from bot import render
from bot.chat import Actions, Button, Inline, Message, Section, Strong, Tone
from bot.desk import Desk
from bot.domain import EventKind, Incident
from bot.errors import NotFound
from bot.followups import FollowUp
from bot.mail.compose import address_of
from bot.mail.message import MailKind, Received, parse
from bot.mail.port import Mailbox, MailError
from bot.outbox import backoff
from bot.store import Store
from bot.store.mail import DONE, PENDING
from bot.store.tables import MailInRow, MailOutRow
from bot.updates import CustomerDesk
from bot.vendors import CHASE, title

log = logging.getLogger(__name__)
FETCH_BATCH = 50  # messages taken in per look at the mailbox
POLL = 60.0  # seconds between looks at a mailbox without IDLE (IDLE wakes us sooner)


class Inbound:
    """What comes back from the mailbox; mixed into the MailDesk, which sends."""

    desk: Desk
    customer: CustomerDesk
    mailbox: Mailbox | None
    mail_from: str
    owner: str
    lease: timedelta

    async def deliver(self) -> int:
        raise NotImplementedError

    def customer_addresses(self, incident: Incident) -> tuple[str, ...]:
        """The incident's customer contacts, else its playbook's."""
        if incident.customer_contacts:
            return incident.customer_contacts
        return self.desk.playbooks.get(incident.playbook).customer_contacts

    async def take_in(self) -> int:
        """Read what is new in the mailbox and keep each message once (step one; `handle` is step two)."""
        if self.mailbox is None:
            return 0

        async def cursor(folder: str, uidvalidity: int) -> int:
            async with self.desk.db.read() as store:
                return await store.mail_cursor(folder, uidvalidity)

        kept = 0
        for fetched in await self.mailbox.fetch_new(cursor, limit=FETCH_BATCH):
            place = f"{fetched.folder}/{fetched.uidvalidity}/{fetched.uid}"
            try:
                received: Received | None = parse(fetched.raw, size=fetched.size)
            except Exception:  # a message the parser cannot read at all is kept as unreadable, not retried forever
                log.warning("message %s could not be read; it is left alone", place)
                received = None
            row = MailInRow(
                key=((received.message_id if received else None) or place)[:300],
                folder=fetched.folder,
                uidvalidity=fetched.uidvalidity,
                uid=fetched.uid,
                received_at=self.desk.now,
                mail=json.dumps(received.to_json() if received else {}),
                state=PENDING if received else DONE,
                attempts=0,
                outcome=None if received else "left alone: it could not be read",
            )
            async with self.desk.db.transaction() as store:
                if await store.take_in(row):
                    kept += 1
                    continue
                # The same message seen again (delivered twice, or under a new UIDVALIDITY): its place is kept so
                # the cursor moves past it, and it is handled no second time.
                await store.take_in(
                    MailInRow(
                        key=place[:300],
                        folder=fetched.folder,
                        uidvalidity=fetched.uidvalidity,
                        uid=fetched.uid,
                        received_at=self.desk.now,
                        mail="{}",
                        state=DONE,
                        attempts=0,
                        outcome="left alone: a copy of a message already taken in",
                        handled_at=self.desk.now,
                    )
                )
        return kept

    async def handle(self) -> int:
        """Handle every message taken in and not yet handled, each once across replicas (step two)."""
        handled = 0
        while True:
            now = self.desk.now
            async with self.desk.db.transaction() as store:
                ids = await store.claim_taken_in(self.owner, now, self.lease, 50)
            for row_id in ids:
                try:
                    async with self.desk.db.transaction() as store:
                        row = await store.locked_taken_in(row_id, self.owner)
                        if row is None:
                            continue
                        outcome, incident = await self._handle(store, row, Received.from_json(json.loads(row.mail)))
                        row.state, row.outcome, row.incident, row.handled_at = DONE, outcome, incident, now
                        row.lease_owner, row.lease_until = None, None
                    handled += 1
                except Exception:
                    log.exception("handling message %s failed; it is kept and tried again", row_id)
                    with contextlib.suppress(Exception):
                        async with self.desk.db.transaction() as store:
                            await store.release_taken_in(row_id, self.owner, now + backoff(1))
            if len(ids) < 50:
                break
        if handled:
            await self.desk.outbox.deliver()
        return handled

    async def check(self) -> int:
        """Take in what is new and handle it: one look at the mailbox."""
        await self.take_in()
        return await self.handle()

    async def run_forever(self, stop: asyncio.Event, *, poll: float = POLL) -> None:
        """Look at the mailbox until ``stop``: at once when IDLE says mail came, else every ``poll`` seconds."""
        while not stop.is_set():
            try:
                await self.check()
                await self.deliver()
            except MailError as err:
                log.warning("the mailbox %s: %s", self.mailbox.name if self.mailbox else "-", err)
            except Exception:
                log.exception("looking at the mailbox failed; trying again shortly")
            waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(stop.wait())]
            if self.mailbox is not None:
                waits.append(asyncio.ensure_future(self.mailbox.wait(poll)))
            try:
                await asyncio.wait(waits, timeout=poll, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()
                for w in waits:
                    with contextlib.suppress(BaseException):
                        await w

    async def _handle(self, store: Store, row: MailInRow, mail: Received) -> tuple[str, int | None]:
        """Match a message to what we sent and act on it; or leave it alone, saying why."""
        ours = await store.mails_by_message_id(mail.thread_ids)
        by_id = {m.message_id: m for m in ours}
        matched = next((by_id[i] for i in mail.thread_ids if i in by_id), None)
        if matched is not None:
            number, follow_up, exact = matched.incident, matched.follow_up, False
        elif mail.tag is not None and mail.kind is not MailKind.BOUNCE:
            (number, follow_up), exact = mail.tag, True
        else:
            return "left alone: it answers nothing Warroom sent", None
        try:
            incident = await store.get_incident(number, lock=True)
            f = await store.follow_up(number, follow_up) if follow_up is not None else None
        except NotFound:
            return f"left alone: INC-{number} {f'V{follow_up} ' if follow_up else ''}does not exist", None
        if incident.is_closed:
            return f"left alone: {incident.ref} is closed", incident.number
        sent = await store.mails(incident.number)
        if mail.kind is not MailKind.BOUNCE and not self._known(mail.sender, incident, f, sent, exact=exact):
            return f"left alone: {mail.sender or 'no sender'} is not someone {incident.ref} wrote to", incident.number
        if f is not None:
            return await self._from_vendor(store, incident, f, row, mail, matched), incident.number
        return await self._from_customer(store, incident, row, mail, matched), incident.number

    def _known(
        self, sender: str, incident: Incident, f: FollowUp | None, sent: list[MailOutRow], *, exact: bool
    ) -> bool:
        """Someone we wrote to about this: a rung of the ladder, a customer contact, an address we emailed — exactly,
        for a subject tag anyone could type; or at the same organisation, for a reply that quotes our Message-ID."""
        if f is not None:
            ours = {a for m in sent if m.follow_up == f.number for a in json.loads(m.data).get("ours", [])}
            known = {a for r in f.ladder if (a := address_of(r))}
            known |= {a for m in sent if m.follow_up == f.number for a in json.loads(m.recipients)["to"]}
        else:
            ours = set()
            known = set(self.customer_addresses(incident))
            known |= {a for m in sent if m.purpose == "update" for a in json.loads(m.recipients)["to"]}
        sender = sender.lower()
        if not sender or sender in ours or sender == self.mail_from.lower().rsplit("<", 1)[-1].rstrip(">"):
            return False
        if sender in known:
            return True
        domain = sender.rsplit("@", 1)[-1]
        return not exact and any(a.rsplit("@", 1)[-1] == domain for a in known)

    @staticmethod
    async def _chase_state(store: Store, incident: Incident, f: FollowUp) -> str:
        """What a reply that is not an answer leaves of the chase, as it stands: going on, paused or over."""
        if not f.is_open:
            return f"{f.ref} is {f.state}: there is no chase to go on."
        if await store.pending_reminder(incident.number, CHASE, f.number) is None:
            return (
                f"The chase stays paused until someone sets the next due (`vendor heard {f.ref} due:<when>`), "
                f"or `vendor done {f.ref}` when it has arrived."
            )
        return "The chase goes on as planned."

    async def _from_vendor(
        self, store: Store, incident: Incident, f: FollowUp, row: MailInRow, mail: Received, matched: MailOutRow | None
    ) -> str:
        who = f"{mail.sender_name} <{mail.sender}>" if mail.sender_name else mail.sender
        data = {"follow_up": f.number, "vendor": f.vendor, "from": mail.sender, "message_id": mail.message_id}
        note = _size_note(mail)
        if mail.kind is MailKind.BOUNCE:
            failed = list(mail.bounced or (json.loads(matched.recipients)["to"] if matched else []))
            text = f"{f.ref} email to {', '.join(failed) or 'the vendor'} bounced" + (
                f" ({mail.bounce_reason})" if mail.bounce_reason else ""
            )
            await store.add_event(incident.number, row.received_at, EventKind.EMAIL_RECEIVED, None, text,
                                  {**data, "mail": "bounce", "to": failed})  # fmt: skip
            nxt = f.ladder[f.rung + 1] if f.rung + 1 < len(f.ladder) else None
            goes_on = await self._chase_state(store, incident, f)
            advice = (
                f"{goes_on} Next rung: {nxt.name}" + (f" ({nxt.role})" if nxt.role else "") + f", {nxt.contact}"
                f" — climb with `vendor escalate {f.ref}`."
                if nxt
                else f"{goes_on} No rung is left above this one — Plan B is next."
            )
            await self.desk.post(
                store,
                incident,
                Message(
                    f"⚠ {title(f)}: {text.removeprefix(f.ref + ' ')}",
                    (Section.of(render.mention(f.owner), f" — {advice}"), _vendor_buttons(f, bounce=True)),
                    Tone.BAD_NEWS,
                ),
            )
            return f"bounce for {incident.ref} {f.ref}"
        if mail.kind is MailKind.AUTO_REPLY:
            text = f"{f.ref} automatic reply from {who}: not an answer"
            await store.add_event(incident.number, row.received_at, EventKind.EMAIL_RECEIVED, None, text,
                                  {**data, "mail": "auto_reply"})  # fmt: skip
            await self.desk.post(
                store,
                incident,
                Message(
                    f"🤖 {title(f)}: an automatic reply from {who} — not an answer",
                    (
                        Section.of(Strong("It says: "), _short(mail.text) or "(nothing)"),
                        Section.of(
                            f"{await self._chase_state(store, incident, f)} An out-of-office is not an answer." + note
                        ),
                    ),
                    Tone.INFO,
                ),
            )
            return f"auto-reply for {incident.ref} {f.ref}"
        answered = f.is_open
        if answered:
            heard = f.heard(row.received_at, None)
            await store.save_follow_up(heard)
            await store.cancel_reminders(incident.number, CHASE, f.number)  # paused until a person sets the next due
            f = heard
        text = f"{f.ref} {f.vendor} replied by email ({who})"
        await store.add_event(
            incident.number, row.received_at, EventKind.EMAIL_RECEIVED, None, f"{text}: {_short(mail.text, 300)}",
            {**data, "mail": "reply", "heard": answered},
        )  # fmt: skip
        after = (
            f"{f.ref} is marked heard and the chase is paused until someone sets the next due: "
            f"`vendor heard {f.ref} due:<when>`, or `vendor done {f.ref}` when it has arrived."
            if answered
            else f"{f.ref} is {f.state}; nothing was changed."
        )
        await self.desk.post(
            store,
            incident,
            Message(
                f"📨 {title(f)}: {who} replied by email",
                (
                    Section.of(render.mention(f.owner), " — ", mail.text or "(no text)"),
                    Section.of(after + note),
                    _vendor_buttons(f, bounce=False),
                ),
                Tone.SUCCESS,
            ),
        )
        return f"reply for {incident.ref} {f.ref}" + ("" if answered else f" ({f.ref} was {f.state})")

    async def _from_customer(
        self, store: Store, incident: Incident, row: MailInRow, mail: Received, matched: MailOutRow | None
    ) -> str:
        who = f"{mail.sender_name} <{mail.sender}>" if mail.sender_name else mail.sender
        customer = incident.customer or "the customer"
        comms = await self.customer.comms(store, incident)
        data = {"customer": True, "from": mail.sender, "message_id": mail.message_id}
        if mail.kind is MailKind.BOUNCE:
            failed = list(mail.bounced or (json.loads(matched.recipients)["to"] if matched else []))
            text = f"email to {', '.join(failed) or customer} bounced" + (
                f" ({mail.bounce_reason})" if mail.bounce_reason else ""
            )
            await store.add_event(incident.number, row.received_at, EventKind.EMAIL_RECEIVED, None, text,
                                  {**data, "mail": "bounce", "to": failed})  # fmt: skip
            body = "the update did not reach them: check `set customer-contacts:` and send it again."
            kind, tone, head = "bounce", Tone.BAD_NEWS, f"⚠ {incident.ref}: {text}"
        elif mail.kind is MailKind.AUTO_REPLY:
            text = f"automatic reply from {who} ({customer}): not an answer"
            await store.add_event(incident.number, row.received_at, EventKind.EMAIL_RECEIVED, None, text,
                                  {**data, "mail": "auto_reply"})  # fmt: skip
            body = f"an automatic reply, not {customer}'s answer. It says: {_short(mail.text)}"
            kind, tone, head = "auto-reply", Tone.INFO, f"🤖 {incident.ref}: {text}"
        else:
            text = f"{customer} replied by email ({who})"
            await store.add_event(incident.number, row.received_at, EventKind.EMAIL_RECEIVED, None,
                                  f"{text}: {_short(mail.text, 300)}", {**data, "mail": "reply"})  # fmt: skip
            body = f"{customer} wrote back — answer them (`update send …`):"
            kind, tone, head = "reply", Tone.REMINDER, f"📨 {incident.ref}: {text}"
        mention: list[Inline] = [render.mention(comms), " — "] if comms else []
        blocks: list[Section | Actions] = [Section.of(*mention, body)]
        if kind == "reply":
            blocks.append(Section.of(mail.text or "(no text)"))
        if _size_note(mail):
            blocks.append(Section.of(_size_note(mail).strip()))
        await self.desk.post(store, incident, Message(head, tuple(blocks), tone))
        return f"customer {kind} for {incident.ref}"


def _vendor_buttons(f: FollowUp, *, bounce: bool) -> Actions:
    if bounce:
        return Actions((Button("Escalate", f"vendor escalate {f.ref}", "danger"),))
    return Actions(
        (
            Button("Received", f"vendor done {f.ref}", "primary"),
            Button("Heard back", f"vendor heard {f.ref}"),
            Button("Escalate", f"vendor escalate {f.ref}", "danger"),
        )
    )


def _short(text: str, limit: int = 200) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _size_note(mail: Received) -> str:
    if not mail.cut:
        return ""
    return f" (A {mail.size / 1_000_000:.1f} MB message: only its beginning was read; attachments are not kept.)"
