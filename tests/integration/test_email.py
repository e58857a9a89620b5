"""Email out of the war room and back into it, on SQLite and PostgreSQL: chases and updates sent, replies read."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from adapters.email.local import LocalMailbox, LocalOutbox
from adapters.slack.blocks import blocks
from bot import render, views
from bot.chat import Invocation, UserRef
from bot.mail.message import reply_bytes
from bot.mail.port import MailError, OutgoingMail
from bot.store import Database
from bot.summary import build_summary
from bot.tokens import api_user_id
from tests.conftest import PLAYBOOKS
from tests.harness import Harness

RMA = 'open "Router dead on arrival" sev:2 customer:"Acme Retail" playbook:hardware-rma impact:"DC-3 on backup link"'
ASK = 'vendor northwind "tracking number" due:1h ref:RMA-4471 owner:@lee'
SAM = "sam.ortiz@northwind.example"


class Mail:
    """The outbox and the mailbox a harness is wired to, and a way to answer what was sent."""

    def __init__(self) -> None:
        self.out, self.box = LocalOutbox(), LocalMailbox()

    def answer(self, h: Harness, text: str, *, sender: str = SAM, auto: bool = False, to: int = -1) -> None:
        original = self.out.sent[to]
        self.box.deliver(reply_bytes(original, sender=sender, text=text, auto=auto, date=h.clock.now()))


async def rma(db: Database, *, playbooks: Path = PLAYBOOKS) -> tuple[Harness, Mail]:
    mail = Mail()
    h = Harness(db, mail=mail.out, mailbox=mail.box, playbooks=playbooks)
    h.chat.emails["lee"] = "lee@acme.example"
    await h.ok(RMA)
    await h.ok(ASK)
    return h, mail


def posts(h: Harness, mark: str) -> list[str]:
    return [p.text for p in h.room_posts if p.text.startswith(mark)]


async def timeline(db: Database, kind: str) -> list[str]:
    async with db.read() as store:
        return [e.text for e in await store.timeline(1) if e.kind.value == kind]


def with_auto_send(tmp_path: Path) -> Path:
    folder = tmp_path / "playbooks"
    shutil.copytree(PLAYBOOKS, folder)
    book = folder / "hardware-rma.yaml"
    text = book.read_text().replace("    escalate_after: 2\n", "    escalate_after: 2\n    auto_send: true\n", 1)
    book.write_text(text.replace("checklist:\n", "customer_contacts: [it-ops@acme-retail.example]\nchecklist:\n", 1))
    return folder


# --- out: the chase -----------------------------------------------------------------------------------------


async def test_send_email_goes_to_the_current_contact_with_the_tag_threading_and_the_owner_in_copy(
    db: Database,
) -> None:
    h, mail = await rma(db)
    await h.advance(timedelta(hours=1))
    [chase] = [p for p in h.room_posts if p.text.startswith("⏰")]
    assert "[Send email]" in chase.text  # the rung has an address
    reply = await h.ok("vendor email V1", user="lee")
    assert reply == "INC-1: V1 chase emailed to sam.ortiz@northwind.example (cc lee@acme.example)"
    [sent] = mail.out.sent
    assert sent.to == (SAM,) and sent.cc == ("lee@acme.example",)
    assert sent.subject == "[INC-1 V1] tracking number (RMA-4471)"
    assert sent.text.startswith("Hi Sam — on Mon 23 Nov 2026 08:00 CST we asked Northwind Distribution")
    assert sent.message_id.endswith("@acme.example>") and sent.in_reply_to is None and not sent.automatic
    assert posts(h, "📧")[-1].startswith("📧 V1 chase emailed to sam.ortiz@northwind.example")
    await h.ok("vendor email V1", user="lee")  # a second click threads under the first
    assert mail.out.sent[1].in_reply_to == sent.message_id and mail.out.sent[1].references == (sent.message_id,)
    assert len(await timeline(db, "email_sent")) == 2


async def test_an_escalation_email_copies_the_rung_below(db: Database) -> None:
    h, mail = await rma(db)
    await h.ok("vendor escalate V1")  # rung 2: a phone number, no email
    assert "[Send email]" not in posts(h, "🔺")[-1]
    refused = await h.run("vendor email V1")
    assert not refused.ok and refused.messages[0].title.startswith(
        "V1's current contact is Priya Raman, +1 312 555 0142: no email address on this rung"
    )
    await h.ok("vendor escalate V1")  # rung 3: the VP, by email
    assert "[Send email]" in posts(h, "🔺")[-1]
    await h.ok("vendor email V1", user="lee")
    assert mail.out.sent[-1].to == ("dale.whitaker@northwind.example",)
    assert mail.out.sent[-1].text.startswith("Hi Dale — on Mon 23 Nov 2026 08:00 CST we asked Northwind")


async def test_no_email_on_the_rung_or_no_mail_set_up_is_one_line_and_changes_nothing(db: Database) -> None:
    h, mail = await rma(db)
    await h.ok('vendor "Contoso Supply" "second unit" due:1d')  # an unknown vendor's ladder is chat handles
    before = await timeline(db, "email_sent")
    reply = await h.run("vendor email V2")
    assert not reply.ok and "no email address on this rung" in reply.messages[0].title
    assert "\n" not in reply.messages[0].title and mail.out.sent == [] and await timeline(db, "email_sent") == before
    plain = Harness(db)  # no mail set up at all
    plain.room = h.room
    off = await plain.run("vendor email V1")
    assert not off.ok and off.messages[0].title.startswith("email is not set up here, so I cannot email a vendor")


async def test_smtp_down_is_one_line_records_nothing_and_a_later_click_works(db: Database) -> None:
    h, mail = await rma(db)
    mail.out.fail = MailError("cannot reach smtp://mail.acme.example:587: Connection refused")
    reply = await h.run("vendor email V1")
    assert not reply.ok
    assert reply.messages[0].title == (
        "INC-1: could not send the email to sam.ortiz@northwind.example, lee@acme.example: cannot reach "
        "smtp://mail.acme.example:587: Connection refused. Nothing was sent or recorded; try again when the mail "
        "server is back."
    )
    assert await timeline(db, "email_sent") == [] and posts(h, "📧") == []
    await h.advance(timedelta(hours=1))  # the outbox does not send what the person was told was not sent
    assert mail.out.sent == []
    await h.ok("vendor email V1")
    assert len(mail.out.sent) == 1 and len(await timeline(db, "email_sent")) == 1


async def test_auto_send_chases_by_email_once_a_business_day_and_retries_until_the_server_takes_it(
    db: Database, tmp_path: Path
) -> None:
    h, mail = await rma(db, playbooks=with_auto_send(tmp_path))
    mail.out.fail = MailError("cannot reach smtp://mail.acme.example:587")
    await h.advance(timedelta(hours=1))  # the first chase fires; its email cannot go out yet
    assert mail.out.sent == [] and await timeline(db, "email_sent") == []
    assert "[Send email]" in posts(h, "⏰")[-1]
    await h.advance(timedelta(minutes=1))  # the outbox tries again (after 5 s of backoff)
    [auto] = mail.out.sent
    assert auto.automatic and auto.to == (SAM,) and auto.subject == "[INC-1 V1] tracking number (RMA-4471)"
    assert await timeline(db, "email_sent") == [
        "V1 chase emailed to sam.ortiz@northwind.example (cc lee@acme.example) automatically (the playbook's "
        "auto_send): [INC-1 V1] tracking number (RMA-4471)"
    ]
    await h.ok("vendor snooze V1 1h")
    await h.advance(timedelta(hours=1, minutes=1))  # chased again the same day: no second email
    assert len(posts(h, "⏰")) == 2 and len(mail.out.sent) == 1
    await h.advance(timedelta(days=1))  # Tuesday: the ladder climbs to a phone number, which email cannot reach
    assert len(posts(h, "🔺")) == 1 and len(mail.out.sent) == 1
    await h.ok("vendor escalate V1")  # to the VP, who has an address: emailed without a click, in the same thread
    await h.advance(timedelta(minutes=1))
    assert mail.out.sent[1].to == ("dale.whitaker@northwind.example",) and mail.out.sent[1].in_reply_to == (
        auto.message_id
    )


# --- in: replies ------------------------------------------------------------------------------------------


async def test_a_vendor_reply_marks_the_follow_up_heard_shows_its_text_and_pauses_the_chase(db: Database) -> None:
    h, mail = await rma(db)
    await h.advance(timedelta(hours=1))
    await h.ok("vendor email V1")
    h.later(timedelta(minutes=30))
    mail.answer(h, "Tracking number is 1Z999AA10123456784, shipping today.\n\n-- \nSam Ortiz\nAccount rep")
    assert await h.warroom.mail.check() == 1
    [reply] = posts(h, "📨")
    assert reply.startswith("📨 V1 Northwind Distribution: tracking number (RMA-4471): sam.ortiz@northwind.example")
    assert "Tracking number is 1Z999AA10123456784, shipping today." in reply
    assert "Account rep" not in reply and "> Hi Sam" not in reply  # signature and quoted message trimmed
    assert "[Received]" in reply
    async with db.read() as store:
        f = await store.follow_up(1, 1)
    assert f.state.value == "waiting" and f.heard_at == h.clock.now()  # the real reply time
    chased = len(posts(h, "⏰"))
    await h.advance(timedelta(days=3))
    assert len(posts(h, "⏰")) == chased  # no more chases until someone sets the next due
    await h.ok("vendor heard V1 due:1h")
    await h.advance(timedelta(hours=2))
    assert len(posts(h, "⏰")) == chased + 1


async def test_an_out_of_office_is_shown_but_is_no_answer_and_the_chase_goes_on(db: Database) -> None:
    h, mail = await rma(db)
    await h.advance(timedelta(hours=1))
    await h.ok("vendor email V1")
    mail.answer(h, "I am out of the office until Monday.", auto=True)
    await h.warroom.mail.check()
    [auto] = posts(h, "🤖")
    assert "an automatic reply from sam.ortiz@northwind.example — not an answer" in auto
    assert "It says: I am out of the office until Monday." in auto
    async with db.read() as store:
        f = await store.follow_up(1, 1)
    assert f.heard_at is None and f.state.value == "overdue"
    await h.advance(timedelta(days=1))
    assert len(posts(h, "⏰")) == 2  # chased again on schedule


async def test_an_out_of_office_after_a_reply_says_the_chase_stays_paused_never_that_it_goes_on(
    db: Database,
) -> None:
    h, mail = await rma(db)
    await h.advance(timedelta(hours=1))
    await h.ok("vendor email V1")
    mail.answer(h, "Tracking number follows tomorrow.")
    await h.warroom.mail.check()
    assert "the chase is paused until someone sets the next due" in posts(h, "📨")[-1]
    mail.answer(h, "I am out of the office until Monday.", auto=True)  # the colleague's robot answers later
    await h.warroom.mail.check()
    [auto] = posts(h, "🤖")
    assert "goes on" not in auto
    assert "The chase stays paused until someone sets the next due (`vendor heard V1 due:<when>`)" in auto
    mail.box.deliver(bounce_for(mail.out.sent[0], SAM))  # a late bounce does not restart it in words either
    await h.warroom.mail.check()
    [bounced] = posts(h, "⚠")
    assert "goes on" not in bounced and "The chase stays paused" in bounced
    chased = len(posts(h, "⏰"))
    await h.advance(timedelta(days=2))
    assert len(posts(h, "⏰")) == chased  # and it is indeed paused


async def test_a_chase_emailed_before_its_due_time_is_a_reminder_signed_by_a_person_not_the_api_token(
    db: Database,
) -> None:
    mail = Mail()
    h = Harness(db, mail=mail.out, mailbox=mail.box)
    await h.ok(RMA)  # dana opens it: the commander
    token = UserRef(api_user_id("ci"), "ci")
    added = await h.warroom.handle(Invocation('vendor northwind "tracking number" due:2h ref:RMA-4471', token, h.room))
    assert added.ok  # owned by the token, as through the API
    await h.ok("vendor email V1")
    early = mail.out.sent[-1].text
    assert "due Mon 23 Nov 2026 10:00 CST, in 2h. A reminder: is it on track for then?" in early
    assert "We have not received it yet" not in early
    assert early.endswith("reaches the whole team working on it. — dana") and "— ci" not in early
    await h.advance(timedelta(hours=3))
    await h.ok("vendor email V1")
    late = mail.out.sent[-1].text
    assert "due Mon 23 Nov 2026 10:00 CST, 1h ago. We have not received it yet." in late
    assert late.endswith("— dana")


async def test_a_chase_from_an_incident_opened_through_the_api_is_signed_by_the_war_room(db: Database) -> None:
    mail = Mail()
    h = Harness(db, mail=mail.out, mailbox=mail.box)
    token = UserRef(api_user_id("ci"), "ci")
    for text in (
        RMA,
        'vendor northwind "tracking number" due:1h ref:RMA-4471',
        "vendor escalate V1",
        "vendor escalate V1",
    ):
        reply = await h.warroom.handle(Invocation(text, token, h.room))
        assert reply.ok, reply
        if reply.rooms_opened:
            h.room = reply.rooms_opened[-1]
    await h.ok("vendor email V1", user="lee")  # the VP's rung, by email: the escalation draft
    text = mail.out.sent[-1].text
    assert (
        text.startswith("Hi Dale")
        and text.endswith("— the INC-1 war room for Acme Retail")
        and "ci" not in text.split()
    )
    escalated = posts(h, "🔺")[-1]
    assert "— the INC-1 war room for Acme Retail" in escalated and "— ci" not in escalated


@pytest.mark.parametrize(
    "header",
    [
        ("X-Autoreply", "yes"),
        ("Precedence", "auto_reply"),
        ("Precedence", "bulk"),
        ("X-Autorespond", "vacation"),
        ("Subject", "Out of Office: back on Monday"),
        ("Subject", "Automatic reply: [INC-1 V1] tracking number"),
    ],
)
async def test_every_robot_mark_makes_an_auto_reply(db: Database, header: tuple[str, str]) -> None:
    h, mail = await rma(db)
    await h.ok("vendor email V1")
    original = mail.out.sent[0]
    msg = EmailMessage(policy=policy.default)
    msg["From"], msg["To"] = SAM, original.sender
    msg["Subject"] = "Re: " + original.subject
    msg["In-Reply-To"] = original.message_id
    name, value = header
    if name == "Subject":
        msg.replace_header("Subject", value)
    else:
        msg[name] = value
    msg.set_content("Thanks for your message.")
    mail.box.deliver(msg.as_bytes())
    await h.warroom.mail.check()
    assert len(posts(h, "🤖")) == 1 and posts(h, "📨") == []


def bounce_for(original: OutgoingMail, address: str) -> bytes:
    """A delivery status notification (RFC 3464) as Postfix sends one back."""
    return f"""From: Mail Delivery System <MAILER-DAEMON@mail.acme.example>
To: warroom@acme.example
Subject: Undelivered Mail Returned to Sender
Message-ID: <bounce.1@mail.acme.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="BOUNDARY"

--BOUNDARY
Content-Type: text/plain; charset=us-ascii

I'm sorry to have to inform you that your message could not be delivered to {address}.

--BOUNDARY
Content-Type: message/delivery-status

Reporting-MTA: dns; mail.acme.example

Final-Recipient: rfc822; {address}
Original-Recipient: rfc822;{address}
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 user unknown

--BOUNDARY
Content-Type: text/rfc822-headers

From: {original.sender}
Subject: {original.subject}
Message-ID: {original.message_id}

--BOUNDARY--
""".replace("\n", "\r\n").encode()


async def test_a_bounce_is_shown_as_such_suggests_the_next_rung_and_is_a_finding(db: Database) -> None:
    h, mail = await rma(db)
    await h.advance(timedelta(hours=1))
    await h.ok("vendor email V1")
    mail.box.deliver(bounce_for(mail.out.sent[0], SAM))
    await h.warroom.mail.check()
    [bounced] = posts(h, "⚠")
    assert bounced.startswith(f"⚠ V1 Northwind Distribution: tracking number (RMA-4471): email to {SAM} bounced")
    assert "550 5.1.1 user unknown" in bounced
    assert "Next rung: Priya Raman (Channel manager), +1 312 555 0142 — climb with `vendor escalate V1`" in bounced
    assert "[Escalate]" in bounced
    async with db.read() as store:
        f = await store.follow_up(1, 1)
        assert f.heard_at is None
        data = await build_summary(store, await store.get_incident(1), h.playbooks.get("hardware-rma").update_cadence)
    assert f"Email to {SAM} bounced (V1 Northwind Distribution)." in data["findings"]


async def test_only_auto_replies_is_a_finding_and_the_figures_use_the_real_times(db: Database) -> None:
    h, mail = await rma(db)
    await h.advance(timedelta(hours=2))
    await h.ok("vendor email V1")
    mail.answer(h, "Out of office.", auto=True)
    await h.warroom.mail.check()
    async with db.read() as store:
        data = await build_summary(store, await store.get_incident(1), h.playbooks.get("hardware-rma").update_cadence)
    assert (
        "Only automatic replies came back from Northwind Distribution: 1 email, 1 auto-reply, no answer."
        in data["findings"]
    )
    [v1] = data["follow_ups"]
    assert v1["first_email_at"] == h.clock.now().isoformat() and v1["email_reply_at"] is None
    h.later(timedelta(hours=3))
    mail.answer(h, "Shipping tomorrow.")
    await h.warroom.mail.check()
    async with db.read() as store:
        data = await build_summary(store, await store.get_incident(1), h.playbooks.get("hardware-rma").update_cadence)
    [v1] = data["follow_ups"]
    # the vendor answer time runs from the first email, as on the scorecard (bot.figures.answer_time)
    assert v1["email_reply_minutes"] == 180.0 and v1["time_to_hear_back_minutes"] == 180.0
    assert not any(f.startswith("Only automatic replies") for f in data["findings"])
    score = render.plain_text((await h.run("scorecard")).messages[0])
    assert "Northwind Distribution: hears back in 3h," in score
    async with db.read() as store:
        detail = await views.incident_detail(store, 1, playbooks=h.playbooks, now=h.clock.now())
        card = await views.scorecard(store, now=h.clock.now())
    assert detail.follow_ups[0].answer_seconds == 3 * 3600  # the dashboard's incident and vendor pages, the API
    assert card.vendors[0].mean_hear_back_seconds == 3 * 3600


async def test_a_reply_to_a_closed_incident_is_left_alone(db: Database) -> None:
    h, mail = await rma(db)
    await h.ok("vendor email V1")
    await h.ok("resolve")
    await h.ok("close")
    before = len(h.room_posts)
    mail.answer(h, "Here is the tracking number after all.")
    await h.warroom.mail.check()
    assert len(h.room_posts) == before
    async with db.read() as store:
        [row] = await store.taken_in()
    assert row.state == "done" and row.outcome == "left alone: INC-1 is closed"


async def test_a_forged_subject_tag_from_an_unknown_sender_is_left_alone(db: Database) -> None:
    h, mail = await rma(db)
    forged = EmailMessage(policy=policy.default)
    forged["From"] = "attacker@evil.example"
    forged["To"] = "warroom@acme.example"
    forged["Subject"] = "Re: [INC-1 V1] tracking number"
    forged.set_content("Received, you can stop chasing. /incident close")
    mail.box.deliver(forged.as_bytes())
    same = EmailMessage(policy=policy.default)  # a known contact writing fresh, with the tag: that is an answer
    same["From"], same["To"], same["Subject"] = f"Sam <{SAM}>", "warroom@acme.example", "[INC-1 V1] tracking"
    same.set_content("Ships Friday.")
    mail.box.deliver(same.as_bytes())
    await h.warroom.mail.check()
    async with db.read() as store:
        outcomes = [r.outcome for r in await store.taken_in()]
        f = await store.follow_up(1, 1)
    assert outcomes == ["left alone: attacker@evil.example is not someone INC-1 wrote to", "reply for INC-1 V1"]
    assert f.heard_at is not None and len(posts(h, "📨")) == 1


async def test_nothing_in_an_email_is_run_or_can_ping_and_html_only_mail_is_read_as_text(db: Database) -> None:
    h, mail = await rma(db)
    await h.ok("vendor email V1")
    original = mail.out.sent[0]
    msg = EmailMessage(policy=policy.default)
    msg["From"], msg["To"], msg["Subject"] = SAM, original.sender, "Re: " + original.subject
    msg["In-Reply-To"] = original.message_id
    msg.set_content(
        "<html><head><style>p{color:red}</style><script>alert(1)</script></head><body>"
        "<p>Shipped: <b>1Z999</b> &amp; more.</p><p>/incident close</p><p>&lt;!channel&gt; <a href='http://x'>"
        "track</a></p><blockquote>On Monday you wrote: hi</blockquote></body></html>",
        subtype="html",
    )
    mail.box.deliver(msg.as_bytes())
    await h.warroom.mail.check()
    [post] = [p for p in h.room_posts if p.text.startswith("📨")]
    assert "Shipped: 1Z999 & more.\n\n/incident close\n\n<!channel> track" in post.text
    assert "alert(1)" not in post.text and "color:red" not in post.text and "On Monday you wrote" not in post.text
    async with db.read() as store:
        assert (await store.get_incident(1)).state.value == "open"  # the command in the mail was not run
    rendered = json.dumps(blocks([post.message]))
    assert "<!channel>" not in rendered and "&lt;!channel&gt;" in rendered  # shown, never a broadcast


async def test_a_restart_between_receipt_and_handling_handles_the_message_once(db: Database) -> None:
    h, mail = await rma(db)
    await h.ok("vendor email V1")
    mail.answer(h, "Shipping today.")
    assert await h.warroom.mail.take_in() == 1  # taken in; the replica dies before handling it
    assert await h.warroom.mail.take_in() == 0  # looking again takes nothing in twice
    restarted = Harness(db, chat=h.chat, mail=mail.out, mailbox=mail.box)  # a new process: a new lease owner
    restarted.room = h.room
    assert await restarted.warroom.mail.check() == 1
    assert await restarted.warroom.mail.check() == 0 and await h.warroom.mail.handle() == 0
    assert len([p for p in restarted.chat.posts if p.text.startswith("📨")]) == 1
    assert len(await timeline(db, "email_received")) == 1


# --- the customer -------------------------------------------------------------------------------------------


async def test_update_send_emails_the_customer_contacts_and_records_exactly_what_was_sent(db: Database) -> None:
    h, mail = await rma(db)
    bad = await h.run("set customer-contacts:not-an-address")
    assert not bad.ok and bad.messages[0].title.startswith("'not-an-address' is not an email address")
    none = await h.run('update send "We have escalated"')
    assert not none.ok and none.messages[0].title.startswith("INC-1 has no customer contacts to email")
    await h.ok("set customer-contacts:it-ops@acme-retail.example,cio@acme-retail.example")
    text = "We have escalated to the distributor's VP; next update Friday 12:00"
    reply = await h.ok(f'update send "{text}"', user="lee")
    assert reply == "INC-1: customer update emailed to it-ops@acme-retail.example, cio@acme-retail.example"
    [sent] = mail.out.sent
    # the subject is the customer's, never the internal title
    assert sent.text == text
    assert sent.subject == "[INC-1] Update: The disruption at Acme Retail since Monday, November 23, 2026"
    async with db.read() as store:
        [u] = await store.updates(1)
    assert u.text == text and u.author.name == "lee"
    assert posts(h, "📣")[-1].startswith(
        "📣 INC-1: customer updated (U1) by email to it-ops@acme-retail.example, cio@acme-retail.example"
    )


async def test_update_send_down_records_no_update(db: Database) -> None:
    h, mail = await rma(db)
    await h.ok("set customer-contacts:it-ops@acme-retail.example")
    mail.out.fail = MailError("cannot reach smtp://mail.acme.example:587")
    reply = await h.run('update send "We have escalated"')
    assert not reply.ok and "Nothing was sent or recorded" in reply.messages[0].title
    async with db.read() as store:
        assert await store.updates(1) == []


async def test_the_update_prompt_sends_its_draft_by_email_and_a_customer_reply_prompts_comms(
    db: Database, tmp_path: Path
) -> None:
    h, mail = await rma(db, playbooks=with_auto_send(tmp_path))  # the playbook names the customer's contact
    await h.advance(timedelta(hours=4))
    prompt = posts(h, "📣")[-1]
    assert "[Update sent]  [Send email]" in prompt
    await h.ok("update send as drafted", user="lee")
    [sent] = [m for m in mail.out.sent if m.to == ("it-ops@acme-retail.example",)]
    assert sent.text.startswith("Here is our latest update on the disruption at Acme Retail since Monday")
    async with db.read() as store:
        [u] = await store.updates(1)
    assert u.text == sent.text
    mail.answer(h, "Thanks. When will the router arrive?", sender="it-ops@acme-retail.example", to=-1)
    await h.warroom.mail.check()
    [answer] = posts(h, "📨")
    assert answer.startswith("📨 INC-1: Acme Retail replied by email (it-ops@acme-retail.example)")
    assert "@csm-lead — Acme Retail wrote back — answer them (`update send …`):" in answer
    assert "When will the router arrive?" in answer
