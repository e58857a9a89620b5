"""How fast replies come back: N vendor replies taken in from a mailbox and handled (matched, follow-up heard,
posted), on SQLite or PostgreSQL; and reading the first megabyte of a 20 MB message.

    python bench/mail_inbound.py --replies 200 [--database postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.email.local import LocalMailbox, LocalOutbox  # noqa: E402
from bot.mail.message import parse, reply_bytes  # noqa: E402
from bot.store import Database  # noqa: E402
from tests.harness import Harness  # noqa: E402


async def replies(url: str, count: int) -> tuple[float, float]:
    db = Database(url)
    await db.upgrade()
    out, box = LocalOutbox(), LocalMailbox()
    h = Harness(db, mail=out, mailbox=box)
    await h.ok('open "Router dead" sev:2 playbook:hardware-rma')
    for n in range(count):
        await h.ok(f'vendor northwind "unit {n}" due:1h')
        await h.ok(f"vendor email V{n + 1}")
    for sent in out.sent:
        box.deliver(reply_bytes(sent, sender="sam.ortiz@northwind.example", text="Ships today.", date=h.clock.now()))
    start = time.perf_counter()
    taken = await h.warroom.mail.take_in()
    while taken < count:
        taken += await h.warroom.mail.take_in()
    middle = time.perf_counter()
    handled = await h.warroom.mail.handle()
    end = time.perf_counter()
    assert handled == count, handled
    await db.dispose()
    return (middle - start) * 1000 / count, (end - middle) * 1000 / count


def large() -> float:
    msg = EmailMessage()
    msg["From"], msg["Subject"] = "sam@northwind.example", "Re: [INC-1 V1] logs"
    msg.set_content("The logs are attached.")
    msg.add_attachment(b"\x00\x01" * 10_000_000, maintype="application", subtype="octet-stream", filename="l.bin")
    raw = msg.as_bytes()
    start = time.perf_counter()
    read = parse(raw[:1_000_000], size=len(raw))
    assert read.text == "The logs are attached." and read.cut
    return (time.perf_counter() - start) * 1000


def main() -> None:
    args = argparse.ArgumentParser()
    args.add_argument("--replies", type=int, default=200)
    args.add_argument("--database", default=None)
    opts = args.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = opts.database or f"sqlite:///{Path(folder) / 'bench.db'}"
        take, handle = asyncio.run(replies(url, opts.replies))
    print(f"{url.split(':')[0]}: {opts.replies} replies — take in {take:.2f} ms each, handle {handle:.2f} ms each")
    print(f"a 20 MB message, its first 1 MB parsed: {large():.1f} ms")


if __name__ == "__main__":
    main()
