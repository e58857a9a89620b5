"""Nothing internal reaches the customer: random names in every internal field, every customer text searched for them.

Each example writes its own playbooks (a vendor, its aliases, its ladder of contacts, our team ladders and role
handles, all random), opens a new incident on the shared database and fills every internal field the war room has
(title, impact, notes, lessons, actions, refs, the asks' own words, handles and names, the reasons given with
`sev`, `reopen`, `vendor escalate`, `vendor heard`…) with strings like ``Zqkmvbwtra`` that no text holds by chance.
It then drives every kind of customer text the bot writes — the cadence prompt, bad news of each trigger, the final
prompt, the watch prompt, the emails of `update send` — and proves none of them names any of it (nor speaks of
severity), on SQLite and PostgreSQL. The customer fields (headline, `doing:`, promises, a follow-up's `customer:`) are
fixed plain words, so every draft must be its template's, never the safe skeleton: the test cannot pass vacuously.
"""

from __future__ import annotations

import re
import shutil
import string
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import jinja2
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.email.local import LocalMailbox, LocalOutbox
from bot.chat import Invocation, Message, Section, Strong, UserRef
from bot.customer import Trigger
from bot.domain import SEVERITY_MEANING, EventKind, IncidentState
from bot.render import plain_text
from bot.sharing import CustomerPages
from bot.store import Database
from tests.conftest import PLAYBOOKS, ROOT
from tests.harness import LOBBY, Harness

CUSTOMER = "Acme Retail"
CONTACT = "it-ops@acme-retail.example"
HEADLINE = "the outage at the checkout counters"
DOING = "replacing the failed unit at the site"
PROMISE_1 = "a working replacement unit on site"
PROMISE_2 = "a workaround in every store"
PROMISE_3 = "a loan unit at the site"
VENDOR_TEXT = "the replacement unit"  # `customer:` of the vendor's ask
TEAM_TEXT = "a configuration fix"  # `customer:` of our team's ask
STARTS = {  # how each shipped template begins: the drafts are the real ones, not the safe skeleton
    "update": "Here is our latest update on ",
    "bad_news": "We want you to hear this from us first.",
    "final": "Good news about ",
    "watch": "Service was restored on ",
}

# --- the random internal names -----------------------------------------------------------------------------

_TOKEN = st.text(alphabet=string.ascii_lowercase, min_size=8, max_size=12).map(lambda s: "Zq" + s)


@dataclass(frozen=True)
class Secrets:
    """Every internal field of one example, each made of random words no customer text can hold by chance."""

    title: str
    impact: str
    note: str
    lesson: str
    action: str
    mitigate_note: str
    resolve_note: str
    recorded_update: str  # `update <text>`: the team's record of what it said, not what the customer read
    vendor: str  # the playbook vendor's name, two words
    aliases: tuple[str, str]
    plan_b: str
    unknown_vendor: str  # a vendor no playbook knows (a generic ladder of our own people)
    rungs: tuple[str, str, str]  # ladder contact names, "First Last"
    emails: tuple[str, str]  # rungs 1 and 3, on a random mail domain
    phone: str  # rung 2
    team: str  # one of our team ladders (a lowercase name)
    team_handles: tuple[str, str, str]  # its lead, manager, exec sponsor
    playbook_roles: tuple[str, str, str, str]  # comms, scribe, vendor_manager, exec sponsor of the playbook
    opener: UserRef  # who opens the incident: an id and a "First Last" name
    typist: str  # who types the other commands
    comms: str  # `role comms @…`
    owner: str  # `owner:@…` of the vendor's ask and of the action
    asked: str  # `ask @…`
    refs: tuple[str, str, str]
    vendor_ask: str
    person_ask: str
    team_ask: str
    rca_ask: str
    unknown_ask: str
    heard: str
    done_note: str
    rca_note: str
    kept_note: str
    escalations: tuple[str, str, str]
    sev_reason: str
    reopen_reason: str
    named_as: int  # how `vendor` and `rca` name the vendor: 0 its name, 1 and 2 its aliases
    with_headline: bool
    with_customer_text: bool  # the vendor's and the team's asks carry a `customer:` text

    def words(self) -> list[str]:
        """Every random word, once: each must be absent from every customer text."""
        found: list[str] = []
        for value in vars(self).values():
            for text in value if isinstance(value, tuple) else (value,):
                if isinstance(text, UserRef):
                    found += [text.id, *text.name.split()]
                elif isinstance(text, str):
                    found += re.findall(r"zq[a-z]+", text, flags=re.IGNORECASE)
        return list(dict.fromkeys(w.casefold() for w in found))

    @property
    def vendor_as_typed(self) -> str:
        return (self.vendor, *self.aliases)[self.named_as]


@st.composite
def secrets(draw: st.DrawFn) -> Secrets:
    seen: set[str] = set()

    def one() -> str:
        """A new random word: "Zq" and 8 to 12 letters, unlike any drawn before."""
        token = draw(_TOKEN.filter(lambda t: t.casefold() not in seen))
        seen.add(token.casefold())
        return token

    def two() -> str:
        return f"{one()} {one()}"

    digits = draw(st.lists(st.integers(0, 9), min_size=7, max_size=7))
    return Secrets(
        title=two(),
        impact=two(),
        note=two(),
        lesson=two(),
        action=two(),
        mitigate_note=two(),
        resolve_note=two(),
        recorded_update=two(),
        vendor=two(),
        aliases=(one(), one()),
        plan_b=two(),
        unknown_vendor=two(),
        rungs=(two(), two(), two()),
        emails=(f"{one().lower()}@{one().lower()}.example", f"{one().lower()}@{one().lower()}.example"),
        phone="+1 {}{}{} 555 {}{}{}{}".format(*digits),
        team=one().lower(),
        team_handles=(one(), one(), one()),
        playbook_roles=(one(), one(), one(), one()),
        opener=UserRef(one().lower(), two()),
        typist=one(),
        comms=one(),
        owner=one(),
        asked=one(),
        refs=(f"{one()}-4471", f"{one()}-18", f"{one()}-5521"),
        vendor_ask=two(),
        person_ask=two(),
        team_ask=two(),
        rca_ask=two(),
        unknown_ask=two(),
        heard=two(),
        done_note=two(),
        rca_note=two(),
        kept_note=two(),
        escalations=(two(), two(), two()),
        sev_reason=two(),
        reopen_reason=two(),
        named_as=draw(st.integers(0, 2)),
        with_headline=draw(st.booleans()),
        with_customer_text=draw(st.booleans()),
    )


def playbooks_with(s: Secrets, folder: Path) -> Path:
    """The shipped playbooks, with hardware-rma's vendor, team ladders and role handles replaced by random ones."""
    shutil.copytree(PLAYBOOKS, folder, dirs_exist_ok=True)
    path = folder / "hardware-rma.yaml"
    book: dict[str, Any] = yaml.safe_load(path.read_text())
    comms, scribe, vendor_manager, sponsor = (f"@{h}" for h in s.playbook_roles)
    book["roles"] = {"comms": comms, "scribe": scribe, "vendor_manager": vendor_manager}
    book["exec_sponsor"]["people"] = [sponsor]
    lead, manager, exec_sponsor = (f"@{h}" for h in s.team_handles)
    book["team_ladders"][s.team] = {"lead": lead, "manager": manager, "exec_sponsor": exec_sponsor}
    book["vendors"] = [
        {
            "name": s.vendor,
            "aliases": list(s.aliases),
            "timezone": "America/Chicago",
            "business_hours": {"days": "mon-fri", "start": "08:00", "end": "17:00"},
            "remind_every": "1d",
            "escalate_after": 2,
            "ladder": [
                {"name": s.rungs[0], "role": "Account rep", "contact": s.emails[0]},
                {"name": s.rungs[1], "role": "Channel manager", "contact": s.phone},
                {"name": s.rungs[2], "role": "VP Sales", "contact": s.emails[1]},
            ],
            "plan_b": s.plan_b,
        }
    ]
    path.write_text(yaml.safe_dump(book, sort_keys=False, allow_unicode=True))
    return folder


# --- driving the war room ----------------------------------------------------------------------------------


async def say(h: Harness, text: str, who: UserRef) -> str:
    """Run a command that must succeed, typed by ``who`` (an id and a display name, unlike ``Harness.ok``)."""
    reply = await h.warroom.handle(Invocation(text, who, h.room))
    if reply.rooms_opened:
        h.room = reply.rooms_opened[-1]
    body = "\n".join(m.title for m in reply.messages)
    assert reply.ok, f"{text!r} was refused: {body}"
    return body


def draft_of(message: Message) -> str | None:
    """The text after "Draft: " in a post: its own section, whose paragraphs may span several lines."""
    for block in message.blocks:
        if isinstance(block, Section) and block.parts and block.parts[0] == Strong("Draft: "):
            return plain_text(Message("", (block,))).removeprefix("\n").removeprefix("Draft: ")
    return None


def kind_of(title: str) -> str:
    """Which customer text a post drafts, from its title."""
    if title.startswith("🚨 "):
        return "bad_news"
    if title.startswith("🔭 "):
        return "watch"
    if "send the final customer update" in title:
        return "final"
    if "service is restored but the customer has not heard" in title:
        return "final"  # the final update again, still carrying bad news untold
    assert re.search(r"customer update (due|overdue)", title), f"a draft in a post nobody expected: {title}"
    return "update"


async def drive(h: Harness, s: Secrets, outbox: LocalOutbox) -> int:
    """Fill every internal field and raise every kind of customer text; returns the incident's number."""
    me = UserRef(s.typist, s.typist)

    async def ok(text: str) -> str:
        return await say(h, text, me)

    vendor = f'"{s.vendor_as_typed}"'
    opened = await say(
        h, f'open "{s.title}" sev:3 customer:"{CUSTOMER}" playbook:hardware-rma impact:"{s.impact}"', s.opener
    )
    found = re.search(r"INC-(\d+)", opened)
    assert found is not None, opened
    number = int(found.group(1))
    await say(h, f"role comms @{s.comms}", s.opener)  # roles are the commander's: the opener (docs/SECURITY.md)
    await ok(f'set doing:"{DOING}" customer-contacts:{CONTACT}')
    if s.with_headline:
        await ok(f'set headline:"{HEADLINE}"')
    await ok(f"note {s.note}")
    await ok(f"lesson {s.lesson}")
    await ok(f'action "{s.action}" owner:@{s.owner} due:3d')
    vendor_text, team_text = (
        (f' customer:"{VENDOR_TEXT}"', f' customer:"{TEAM_TEXT}"') if s.with_customer_text else ("", "")
    )
    await ok(f'vendor {vendor} "{s.vendor_ask}" due:1d ref:{s.refs[0]} owner:@{s.owner}{vendor_text}')  # V1
    await ok(f'commit "{PROMISE_1}" due:3d needs:V1')  # C1
    await ok(f'ask @{s.asked} "{s.person_ask}" due:2d ref:{s.refs[1]}')  # V2
    await ok(f'ask {s.team} "{s.team_ask}" due:2d{team_text}')  # V3
    await ok(f'rca {vendor} "{s.rca_ask}" due:5bd ref:{s.refs[2]}')  # V4
    await ok(f'vendor "{s.unknown_vendor}" "{s.unknown_ask}" due:2d owner:@{s.owner}')  # V5
    await ok(f"vendor done V2 {s.done_note}")
    await ok(f"rca heard {s.rca_note}")
    # V1 slips past the promise that needs it, then climbs its whole ladder: escalated twice, then Plan B.
    await ok(f"vendor heard V1 {s.heard} due:4d")
    for reason in s.escalations:
        await ok(f"vendor escalate V1 {reason}")
    await ok(f'commit "{PROMISE_2}" due:2h')  # C2: inside the 4h at-risk window at once
    await ok(f"sev 1 {s.sev_reason}")  # the cadence is 1h from now on
    await h.advance(timedelta(hours=2, minutes=5))  # C2 at risk, two cadence prompts, C2 missed
    async with h.db.read() as store:
        untold = [b.ref for b in await store.bad_news(number) if b.pending]
    assert len(untold) >= 2, untold
    await ok(f"update sent {untold[0]}")
    await ok(f"update send {untold[1]}")  # the bad news's own draft, by email
    await ok("update send as drafted")  # the last prompt's draft, by email
    await ok(f'update "{s.recorded_update}"')  # the team's own words: never quoted to the customer after
    await ok(f'commit "{PROMISE_3}" due:1d')  # C3, kept: the final update says so
    await ok(f"commit kept C3 {s.kept_note}")
    await ok(f"mitigate {s.mitigate_note}")
    await ok(f"resolve {s.resolve_note}")  # the final prompt
    await ok(f"reopen {s.reopen_reason}")
    await ok(f"resolve {s.resolve_note} watch:1d")
    await h.advance(timedelta(days=1, minutes=1))  # the watch is over: confirm with the customer
    await ok("update send as drafted")
    assert len([m for m in outbox.sent if CONTACT in m.to]) == 3, [(m.to, m.subject) for m in outbox.sent]
    return number


async def customer_texts(h: Harness, number: int, outbox: LocalOutbox) -> list[tuple[str, str, str]]:
    """(kind, where, text) of every text addressed to the customer: drafts posted and stored, updates recorded as
    sent exactly, emails to the customer (subject and body)."""
    texts: list[tuple[str, str, str]] = []
    for post in h.chat.posts:
        draft = draft_of(post.message)
        if "\nDraft: " in post.text:
            assert draft is not None, f"a draft not in its own section: {post.text}"
        if draft is not None:
            texts.append((kind_of(post.message.title), f"post {post.message.title!r}", draft))
    async with h.db.read() as store:
        for b in await store.bad_news(number):
            texts.append((f"bad_news:{b.trigger.value}", f"{b.ref}.draft", b.draft))
            texts.append(("tell", f"{b.ref}.tell", b.tell))
        for u in await store.updates(number):
            if u.exact:
                texts.append(("sent", f"{u.ref}.text", u.text))
        for e in await store.timeline(number):
            if e.kind is EventKind.UPDATE_PROMPTED and e.data.get("draft"):
                texts.append(("prompted", f"the prompt of {e.at:%d %H:%M}", str(e.data["draft"])))
    for mail in outbox.sent:
        if CONTACT in mail.to:
            texts.append(("email_subject", f"email {mail.message_id}", mail.subject))
            texts.append(("email_body", f"email {mail.message_id}", mail.text))
    return texts


async def page_texts(h: Harness, s: Secrets) -> list[tuple[str, str, str]]:
    """(kind, where, text) of everything the customer's page shows, read through a link made with `share`, and of
    its HTML as served (the fixed words around them included)."""
    reply = await h.run("share", user=s.opener.id)  # sharing is the commander's (the opener's) by default
    said = "\n".join(plain_text(m) for m in reply.messages)
    found = re.search(r"/c/([A-Za-z0-9_-]+)", said)
    assert reply.ok and found is not None, said
    opened = await CustomerPages(h.db, h.playbooks, h.clock).open(found.group(1))
    assert opened is not None
    page = opened.page
    assert not page.leaks, page.leaks  # the customer fields are plain words: nothing fell back
    assert {p.text for p in page.promises} >= {PROMISE_1, PROMISE_2, PROMISE_3}
    assert page.updates and all(u.text != page.words.sent_by_email for u in page.updates)
    texts = [("page", "the page", text) for text in page.texts() if text]
    templates = jinja2.Environment(
        loader=jinja2.FileSystemLoader(ROOT / "adapters" / "web" / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    html = templates.get_template("_customer.html").render(p=page, w=page.words)
    texts.append(("page_html", "the page's HTML", html))
    return texts


# How the war room speaks of severity ("sev 1", "severity 2", "critical: the customer's business is down"): the
# customer hears that the problem became more serious, never our scale.
_SEVERITY = re.compile(
    r"\bsev(erity)?\b|\bsev\s*[1-4]\b|\b("
    + "|".join(re.escape(meaning.split(":")[0]) for meaning in SEVERITY_MEANING.values())
    + r")\b",
    re.IGNORECASE,
)


def leaks(s: Secrets, texts: list[tuple[str, str, str]]) -> list[str]:
    """Each internal word, the phone number or severity wording found in a customer text, and where."""
    phone = re.compile(r"\s*".join(re.escape(c) for c in s.phone.replace(" ", "")))
    words = s.words()
    found = []
    for _kind, where, text in texts:
        folded = text.casefold()
        found += [f"{where} names {word!r}: {text!r}" for word in words if word in folded]
        if phone.search(text):
            found.append(f"{where} names the phone {s.phone!r}: {text!r}")
        if m := _SEVERITY.search(text):
            found.append(f"{where} speaks of severity ({m.group(0)!r}): {text!r}")
    return found


# --- the property ------------------------------------------------------------------------------------------


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    print_blob=True,
)
@given(s=secrets())
async def test_no_internal_name_reaches_any_customer_text(db: Database, s: Secrets) -> None:
    with tempfile.TemporaryDirectory() as folder:
        outbox = LocalOutbox()
        h = Harness(db, playbooks=playbooks_with(s, Path(folder)), mail=outbox, mailbox=LocalMailbox())
        try:
            number = await drive(h, s, outbox)
            texts = await customer_texts(h, number, outbox)
            texts += await page_texts(h, s)
        finally:  # the examples share the database: this incident's reminders must not fire in the next one's time
            if h.room != LOBBY and not (await h.run("close", user=s.opener.id)).ok:
                await h.run("close unresolved the example stopped early", user=s.opener.id)
    found = leaks(s, texts)
    assert not found, "\n".join(found)
    # … and not vacuously: every kind of customer text was written, from its template (not the safe skeleton)
    assert not [p.text for p in h.chat.posts if "⚠ Draft check" in p.text]
    kinds = {kind for kind, _where, _text in texts}
    assert {
        "update",
        "bad_news",
        "final",
        "watch",
        "sent",
        "prompted",
        "tell",
        "email_subject",
        "email_body",
        "page",
        "page_html",
    } <= kinds
    assert {f"bad_news:{t.value}" for t in Trigger} <= kinds, sorted(kinds)
    for kind, where, text in texts:
        assert text.strip(), f"{where}: an empty {kind} text"
        if kind in STARTS:
            assert text.startswith(STARTS[kind]), f"{where}: the {kind} draft is not its template: {text!r}"
        if kind == "email_subject":
            assert text.startswith(f"[INC-{number}] Update: "), text
    async with db.read() as store:  # the examples share the database: each leaves its incident closed
        assert (await store.get_incident(number)).state is IncidentState.CLOSED
