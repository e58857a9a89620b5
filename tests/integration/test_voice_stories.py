"""The five stories typed the way a busy team types them, and every word the bot drafts for the customer checked.

No `customer:"…"` on an ask and no `set headline:` anywhere: the defaults must be safe. Titles name the vendor,
notes name people and tickets, updates are the team's own shorthand, and time runs for days so prompts, chases,
escalations, Plan B, bad news, the final prompt and the watch all fire. Every customer-addressed text (each post's
`Draft: `, each stored bad news draft) must name nothing internal and read as sentences. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from bot.playbooks import Playbook
from bot.store import Database
from tests.conftest import PLAYBOOKS
from tests.harness import Harness

Step = str | tuple[str, str] | timedelta  # a command (as dana, or as someone), or time passing with reminders on

SEVERITY = re.compile(r"\b(critical|major|minor|severity|sev)\b|\bsev\s*:?\s*\d", re.IGNORECASE)
INTERNAL_REF = re.compile(r"\b[VCBUAL]\d+\b|\bINC-\d+")
HANDLE = re.compile(r"(?<![\w.])@([\w-]+(?:\.[\w-]+)*)")
QUOTED = re.compile(r'(?<!:)"([^"]*)"')  # quoted words, not an option's quoted value
OPTION = re.compile(r"\b(?:ref|owner):(\S+)")
OPTIONS = re.compile(r'\b[a-z-]+:(?:"[^"]*"|\S+)')
# The commands whose words after the verb (and its V<n> or C<n>) are the team's own, for the room only.
FREE_TEXT = re.compile(
    r"^(?:note|lesson|mitigate|resolve|reopen|sev \d|update(?! sent)|(?:vendor|ask) (?:heard|done|cancel) V\d+"
    r"|commit (?:kept|missed) C\d+|rca (?:heard|done|pushed))\s+(.+)$"
)
# Words a draft says of itself, whatever the title says: a title word is only a leak when it is not one of these.
FUNCTION_WORDS = frozenset(
    {"a", "an", "and", "as", "at", "by", "for", "from", "in", "into", "is", "it", "its", "of", "on", "or", "our"}
    | {"the", "their", "to", "up", "with"}
)


# --- what the customer reads --------------------------------------------------------------------------------------


async def customer_texts(h: Harness) -> list[str]:
    """Every customer-addressed text: the `Draft: ` of every post (up to its buttons) and every stored bad news draft.
    The escalation's `Draft to send: ` goes to the vendor and is not collected."""
    texts: list[str] = []
    for post in (*h.chat.posts, *h.chat.updates):
        text = post.text
        if "Draft: " not in text:
            continue
        draft = text[text.index("Draft: ") + len("Draft: ") :]
        assert "⚠ Draft check" not in draft, f"a default draft fell back to the skeleton:\n{text}"
        texts.append(draft.split("\n  [")[0].strip())
    async with h.db.read() as store:
        for incident in await store.incidents(include_closed=True):
            texts += [b.draft for b in await store.bad_news(incident.number) if b.draft]
    return texts


# --- what only the war room knows ---------------------------------------------------------------------------------


def _phrase(text: str) -> re.Pattern[str]:
    body = r"\s+".join(re.escape(w) for w in text.split())
    return re.compile(rf"(?<![\w-]){body}(?![\w-])", re.IGNORECASE)


def _name(text: str) -> re.Pattern[str]:
    """A proper name: whole word, as it is capitalised (so "Pat" is a name, "pat" is not)."""
    return re.compile(rf"(?<![\w-]){re.escape(text)}(?![\w-])")


def playbook_names(book: Playbook) -> list[tuple[str, re.Pattern[str]]]:
    """The playbook's vendors and aliases, its ladder contacts (each name and name part, address, mail domain,
    phone) and every handle it pulls in."""
    found: list[tuple[str, re.Pattern[str]]] = []
    for vendor in book.vendors:
        found += [(n, _phrase(n)) for n in (vendor.name, *vendor.aliases)]
        found += [(w, _name(w)) for w in vendor.name.split() if len(w) >= 4]
        for rung in vendor.ladder:
            found += [(rung.name, _phrase(rung.name)), (rung.contact, _phrase(rung.contact))]
            found += [(part, _name(part)) for part in rung.name.split() if len(part) >= 3]
            if "@" in rung.contact:
                domain = rung.contact.split("@", 1)[1]
                found.append((domain, _phrase(domain)))
    source = Path(book.source).read_text(encoding="utf-8") if book.source else ""
    found += [(f"@{handle}", _phrase(handle)) for handle in set(HANDLE.findall(source))]
    return found


def story_names(
    title: str, customer: str, steps: Sequence[Step], secrets: Sequence[str]
) -> list[tuple[str, re.Pattern[str]]]:
    """What the team typed for the room only: handles (typed, and of whoever typed), refs and owners, every quoted
    ask and the title, the free text of notes, lessons, update records, severity reasons, resolve, reopen and
    mitigate notes, what was heard from or handed over by a vendor, the title's words that are not the customer's
    name, and the story's own ``secrets`` (people and tickets its notes name)."""
    found: list[tuple[str, re.Pattern[str]]] = [(s, _phrase(s)) for s in secrets]
    customer_words = {w.casefold() for w in re.findall(r"\w+", customer)}
    for word in re.findall(r"\w+(?:[.,'’-]\w+)*", title):
        word = re.sub(r"['’]s$", "", word)
        if word.casefold() not in customer_words | FUNCTION_WORDS:
            found.append((f"title word {word!r}", _phrase(word)))
    for step in steps:
        if isinstance(step, timedelta):
            continue
        command, user = step if isinstance(step, tuple) else (step, "dana")
        found.append((f"@{user}", _phrase(user)))
        found += [(f"@{h}", _phrase(h)) for h in HANDLE.findall(command)]
        found += [(o, _phrase(o.lstrip("@"))) for o in OPTION.findall(command)]
        if command.startswith(("open ", "vendor ", "ask ", "rca ", "action ")):
            found += [(q, _phrase(q)) for q in QUOTED.findall(command) if len(q.split()) > 1]
        if said := FREE_TEXT.match(command):
            free = " ".join(OPTIONS.sub("", said.group(1)).replace('"', "").split())
            if len(free.split()) > 2:
                found.append((free, _phrase(free)))
    return list(dict.fromkeys(found))


def assert_customer_safe(texts: Sequence[str], names: Sequence[tuple[str, re.Pattern[str]]], at_least: int) -> None:
    assert len(texts) >= at_least, f"only {len(texts)} customer drafts: {texts}"
    for text in texts:
        leaked = [what for what, pattern in names if pattern.search(text)]
        assert not leaked, f"internal {leaked} in a customer draft: {text}"
        assert not SEVERITY.search(text), f"severity wording in a customer draft: {text}"
        assert not INTERNAL_REF.search(text), f"an internal reference in a customer draft: {text}"
        assert "@" not in text, text
        assert text[:1].isupper(), f"does not start with a capital: {text}"
        assert text.endswith((".", "?")), f"does not end a sentence: {text}"
        for wrong in ("  ", "None", "{{", "()", " ."):
            assert wrong not in text, f"{wrong!r} in a customer draft: {text}"


async def replay(h: Harness, steps: Sequence[Step]) -> None:
    for step in steps:
        if isinstance(step, timedelta):
            await h.advance(step)
        elif isinstance(step, tuple):
            await h.ok(step[0], user=step[1])
        else:
            await h.ok(step)


def posted(h: Harness, prefix: str) -> list[str]:
    return [p.text for p in h.chat.posts if p.text.startswith(prefix)]


async def story(
    db: Database,
    playbook: str,
    title: str,
    customer: str,
    options: str,
    steps: Sequence[Step],
    *,
    secrets: Sequence[str] = (),
    at_least: int,
    playbooks: Path = PLAYBOOKS,
) -> tuple[Harness, list[str]]:
    """Open the incident as typed, replay the story, and check every customer text it produced."""
    h = Harness(db, playbooks=playbooks)
    opening = f'open "{title}" customer:"{customer}" playbook:{playbook} {options}'
    await replay(h, [opening, *steps])
    texts = await customer_texts(h)
    names = playbook_names(h.playbooks.get(playbook)) + story_names(title, customer, [opening, *steps], secrets)
    assert_customer_safe(texts, names, at_least)
    return h, texts


# --- 1. The RMA that sat for two months ---------------------------------------------------------------------------

RMA_TITLE = "Northwind RMA for Acme's dead core router"
RMA_OPEN = 'sev:2 impact:"DC-3 core down, running on the backup link"'
RMA_STEPS: list[Step] = [
    "role comms @tom-csm",
    "note Tom spoke to Bob Ferris (Acme IT lead): serial FX-20931 is dead, RMA-88213 opened with Sam at Northwind",
    'vendor northwind "advance replacement for the dead core router" due:2d ref:RMA-88213 owner:@raj-logistics',
    'commit "a replacement unit installed at your data centre" due:6d needs:V1',
    ("update told Acme's IT lead the RMA is open", "tom-csm"),
    timedelta(days=1),
    ("update told Bob we are chasing the distributor, no date yet", "tom-csm"),
    timedelta(days=2),  # V1 overdue: chased, and C1 at risk
    'vendor heard V1 "Sam says no tracking number yet, maybe Monday" due:4d',
    "note Priya at Northwind says only one distributor stocks this SKU for us",
    ("update sent as drafted", "tom-csm"),
    "sev 1 backup link at DC-3 dropped twice overnight",
    timedelta(days=5),  # Monday passes with no unit, C1 missed
    "vendor escalate V1",
    'commit "a working unit back in your data centre" due:10d needs:V1',  # promised again, on the same RMA
    timedelta(days=8),  # chased up the ladder until it is exhausted: Plan B
    "lesson the partner has a single distributor",
    'action "qualify a second distributor for core routers" owner:@raj-logistics due:2w',
    ("update told Bob we are buying the unit elsewhere tells:all", "tom-csm"),
    "vendor done V1 unit bought from Contoso Networks instead, PO-55102",
    "commit kept C2 spare from Contoso Networks racked and cabled",
    "resolve spare from Contoso Networks installed by Raj, DC-3 back on primary watch:2d",
    timedelta(days=2, hours=1),
]


async def test_story_1_the_rma_that_sat_is_told_without_a_vendor_a_ticket_or_a_name(db: Database) -> None:
    h, texts = await story(
        db,
        "hardware-rma",
        RMA_TITLE,
        "Acme Retail",
        RMA_OPEN,
        RMA_STEPS,
        secrets=("Bob Ferris", "Bob", "Tom", "Raj", "FX-20931", "RMA-88213", "PO-55102", "Contoso", "DC-3", "SKU"),
        at_least=35,
    )
    assert posted(h, "🔺") and posted(h, "🅱"), "the RMA was never escalated or sent to Plan B"
    assert posted(h, "🚨") and posted(h, "📣 INC-1: send the final customer update") and posted(h, "🔭")


# --- 2. The $1,895 credit that cost $2M ---------------------------------------------------------------------------

CREDIT_TITLE = "Litware and AWD bounce Contoso's $1,895 overbilling on invoice 5521"
CREDIT_OPEN = "sev:3"
CREDIT_STEPS: list[Step] = [
    "role comms @maya-ae",
    "note Grace Liu (Contoso AP lead) disputes the licence true-up; Chris at Litware says AWD owes the credit",
    'vendor litware "credit note for the $1,895 overbilling on invoice 5521" due:1d ref:LW-7731 owner:@partner-desk',
    'vendor awd "confirm who issues the credit on invoice 5521" due:2d ref:AWD-CR-442 owner:@partner-desk',
    'commit "the corrected amount refunded to your account" due:5d needs:V1',
    ("update told Grace we are sorting it out with the partner", "maya-ae"),
    timedelta(days=2),  # V1 overdue and chased; C1 at risk
    'vendor heard V2 "Lee at the credit desk says it is Litware\'s call, not theirs"',
    "note Grace mentioned their $2M renewal goes to procurement this month",
    "set at-risk:2M",
    "sev 2 the $2M renewal is now at risk over a $1,895 credit",
    ("update sent as drafted", "maya-ae"),
    timedelta(days=3),  # escalated up Litware's ladder; C1 missed
    "vendor escalate V1",
    'vendor heard V1 "Robin promises the credit note by Friday" due:"fri 17:00"',
    'commit "the corrected amount refunded to your account" due:"fri 17:00" needs:V1',
    timedelta(days=2),
    ("update told Grace the refund is coming Friday tells:all", "maya-ae"),
    "vendor done V1 credit note CN-2231 issued by Robin Alvarez",
    "vendor cancel V2 moot now",
    "commit kept C2 CN-2231 applied to Contoso's account",
    "lesson nobody owned the credit end to end for a week",
    "resolve CN-2231 applied, Grace confirmed",
    timedelta(hours=6),
    'close outcome:"renewal signed after the VP call"',
]


async def test_story_2_the_credit_that_cost_2m_never_names_a_partner_or_the_sums_at_stake(db: Database) -> None:
    h, texts = await story(
        db,
        "billing-dispute",
        CREDIT_TITLE,
        "Contoso Health",
        CREDIT_OPEN,
        CREDIT_STEPS,
        secrets=(
            "Grace Liu",
            "Grace",
            "LW-7731",
            "AWD-CR-442",
            "CN-2231",
            "$2M",
            "2,000,000",
            "true-up",
            "procurement",
        ),
        at_least=12,
    )
    assert posted(h, "👔") and posted(h, "🔺") and len(posted(h, "🚨")) >= 4
    assert posted(h, "📣 INC-1: send the final customer update")


# --- 3. The interop bug that froze cash registers ----------------------------------------------------------------

POS_TITLE = "Fabrikam terminal firmware 4.2 freezes POS at Globex checkouts"
POS_OPEN = "sev:2"
POS_STEPS: list[Step] = [
    "role comms @nina-csm",
    "note Hank Scorpio (Globex ops) counts 312 stores frozen; Omar reproduced it in the lab on firmware 4.2.0-b17",
    "set cost:40k/h",
    "sev 1 registers frozen in 312 stores, 40k an hour",
    'ask @pos-eng "find why the POS client hangs on the 4.2 card reader handshake" due:2h',
    'ask payments "check gateway timeouts for the Globex merchant IDs" due:4h ref:PAY-3391',
    'vendor fabrikam "handshake logs and a fixed firmware build" due:6h ref:FAB-77120',
    'commit "a workaround in every store" due:6h',
    'commit "the permanent fix rolled out to every store" due:1d needs:V3',
    ("update told Hank we have a repro in the lab", "nina-csm"),
    timedelta(hours=5),  # hourly prompts; the POS team chased, then its manager
    'vendor done V1 "hang is the 4.2 handshake timeout; POS patch 7.3.1 ready"',
    "vendor done V2 gateway clean, no timeouts on PAY-3391",
    'set doing:"rolling the card readers back to the previous version, store by store"',
    "mitigate readers rolled back to 4.1 in 280 of 312 stores",
    "commit kept C1 rollback done everywhere by Omar's script",
    timedelta(hours=2),
    'vendor heard V3 "Jordan says the fixed build slips to tomorrow morning" due:20h',
    ("update told Hank the permanent fix lands tomorrow tells:all", "nina-csm"),
    timedelta(hours=12),
    "vendor done V3 firmware 4.2.1 certified by Fabrikam QA",
    "commit kept C2 4.2.1 pushed to all 312 stores overnight",
    "resolve 4.2.1 everywhere, Hank confirms checkouts are normal watch:1d",
    timedelta(days=1, hours=1),
]


async def test_story_3_the_frozen_registers_never_name_a_team_an_engineer_or_a_firmware(db: Database) -> None:
    h, texts = await story(
        db,
        "interop-defect",
        POS_TITLE,
        "Globex Stores",
        POS_OPEN,
        POS_STEPS,
        secrets=("Hank Scorpio", "Hank", "Omar", "4.2.0-b17", "PAY-3391", "FAB-77120", "7.3.1", "4.2.1", "40k"),
        at_least=15,
    )
    assert posted(h, "⏰ V1 our team pos-eng") and len(posted(h, "🚨")) >= 4 and posted(h, "🔭")


# --- 4. The fix promised "in days" that never came ----------------------------------------------------------------

SYNC_TITLE = "Proseware sync bug corrupts Woodgrove's branch ledgers"
SYNC_OPEN = "sev:2"
SYNC_STEPS: list[Step] = [
    "role comms @ivan-csm",
    'vendor proseware "hotfix for the sync corruption bug" due:2d ref:PW-4410',
    'commit "the fix installed on your systems" due:3d needs:V1',
    ("update told Woodgrove's CIO a fix is coming in days", "ivan-csm"),
    timedelta(days=1),
    'vendor heard V1 "Proseware says the hotfix needs another QA cycle" due:4d',
    'commit "a daily reconciliation report until the fix is in" due:1d',
    "note Ivan: Woodgrove CIO Marta Kowalski is furious, wants a call with our VP",
    timedelta(hours=20),
    "commit kept C2 first report sent by Ivan",
    timedelta(days=1, hours=4),  # C1 missed
    'vendor heard V1 "now end of next week, it has to ride their release train" due:6d',
    'commit "the fix installed on your systems" due:8d needs:V1',
    ("update sent as drafted", "ivan-csm"),
    timedelta(days=4),
    'vendor heard V1 "QA found a regression, two more days" due:4d',
    timedelta(days=3),
    "vendor done V1 hotfix 3.8.2 delivered",
    "commit kept C3 3.8.2 deployed on all branches",
    "resolve hotfix 3.8.2 deployed, ledgers reconciled",
    timedelta(days=1),
    "reopen sync errors back at 3 branches after the nightly batch",
    timedelta(hours=5),
    "resolve config flag missed on 3 branches, fixed by Ivan",
]


async def test_story_4_the_fix_that_never_came_tells_each_slip_and_miss_in_plain_words(db: Database) -> None:
    h, texts = await story(
        db,
        "default",
        SYNC_TITLE,
        "Woodgrove Bank",
        SYNC_OPEN,
        SYNC_STEPS,
        secrets=("Proseware", "PW-4410", "Marta Kowalski", "Marta", "Ivan", "3.8.2", "QA"),
        at_least=27,
    )
    assert [b for b in posted(h, "🚨") if "the fix did not hold" in b] and len(posted(h, "🚨")) >= 5
    assert len(posted(h, "📣 INC-1: send the final customer update")) == 2


# --- 5. The provider that asked the customer's expert to do its root-cause analysis -----------------------------

CARRIER_TITLE = "Tailspin fibre cut takes Fourth Coffee's Leeds branches offline"
CARRIER_OPEN = "sev:2"
CARRIER_STEPS: list[Step] = [
    "role comms @olga-csm",
    'vendor tailspin "restore the Leeds circuits" due:4h ref:TS-5521',
    'commit "service back at every affected site" due:8h needs:V1',
    "note Olivia at Tailspin says a contractor cut the duct near Kirkstall; splicing crew ETA unknown",
    ("update told Fourth Coffee's IT the carrier is on it", "olga-csm"),
    timedelta(hours=5),  # V1 overdue, chased and escalated; C1 at risk
    'vendor heard V1 "splicing crew on site, restore by 02:00" due:"tue 02:00"',
    "sev 1 all 14 Leeds branches now offline, card payments down",
    timedelta(hours=12),
    "vendor done V1 circuits restored 01:40, Tailspin NOC confirmed",
    "rca tailspin due:5bd ref:TS-5521-RCA",
    'commit "a written report on the root cause" due:8d needs:V2',
    "resolve circuits restored, all 14 branches back online",
    timedelta(days=1),
    'rca heard "Olivia says their RCA needs router logs from the customer" due:9bd',
    'rca pushed "asked the customer\'s network lead to pull their own router logs"',
    ("update told Fourth Coffee's IT lead we will own the RCA and send it next week tells:all", "olga-csm"),
    timedelta(days=3),
]


async def test_story_5_the_provider_rca_is_told_without_the_provider_or_what_it_pushed(db: Database) -> None:
    h, texts = await story(
        db,
        "service-provider-outage",
        CARRIER_TITLE,
        "Fourth Coffee",
        CARRIER_OPEN,
        CARRIER_STEPS,
        secrets=("TS-5521", "Kirkstall", "Olivia", "splicing", "router logs", "network lead"),
        at_least=16,
    )
    assert posted(h, "🔺") and posted(h, "⚠ INC-1 · root cause")
    assert [b for b in posted(h, "🚨") if "the root-cause analysis" in b] and len(posted(h, "🚨")) >= 5


# --- the customer's language --------------------------------------------------------------------------------------

ENGLISH = ("Here is our latest update", "We want you to hear", "We will update you", "Our promise", "AM (", "PM (")
PARIS_TIME = re.compile(
    r"\b(?:lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche) \d{1,2} novembre 2026 à \d{1,2}:\d{2}"
)


async def test_a_french_playbook_drafts_in_french_with_french_dates_in_the_customers_zone(
    db: Database, tmp_path: Path
) -> None:
    books = tmp_path / "playbooks"
    shutil.copytree(PLAYBOOKS, books)
    rma = books / "hardware-rma.yaml"
    rma.write_text(rma.read_text(encoding="utf-8") + "language: fr\n", encoding="utf-8")
    steps: list[Step] = [
        "set tz:Europe/Paris",
        "role comms @tom-csm",
        "note Tom a eu Bob Ferris au téléphone, RMA-88213 ouvert chez Northwind",
        'vendor northwind "advance replacement for the dead core router" due:2d ref:RMA-88213',
        'commit "une unité de remplacement installée dans votre centre de données" due:3d needs:V1',
        timedelta(hours=4),  # the first update prompt at severity 2
        "sev 1 le lien de secours a lâché cette nuit",  # bad news
        timedelta(days=2),  # the RMA is overdue: the promise that needs it is at risk
    ]
    h, texts = await story(
        db,
        "hardware-rma",
        RMA_TITLE,
        "Acme Retail",
        RMA_OPEN,
        steps,
        secrets=("Bob Ferris", "Tom", "RMA-88213"),
        at_least=7,
        playbooks=books,
    )
    updates = [t for t in texts if t.startswith("Voici notre dernier point")]
    news = [t for t in texts if t.startswith("Nous tenons à ce que vous l’appreniez par nous.")]
    assert updates and news and len(updates) + len(news) == len(texts), texts
    # the harness opens on Monday 23 November 2026 at 14:00 UTC: 15:00 in Paris
    assert all("la perturbation chez Acme Retail depuis le lundi 23 novembre 2026." in t for t in updates)
    assert any("s’est aggravé" in t for t in news) and any("mercredi 25 novembre 2026" in t for t in news)
    for text in texts:
        assert PARIS_TIME.search(text) and "(heure de Paris)" in text, text
        assert not any(english in text for english in ENGLISH), text
    assert posted(h, "📣 INC-1: customer update due") and len(posted(h, "🚨")) == 2
