"""Daily summaries for 1,000 practitioners, built and queued (issue: scale-out).

A practice with 1,000 practitioners, each with 8 appointments today (patients' names and
preparation answers encrypted, as in production), and a summary destination by SMS. The
scheduler's `run_due_summaries` builds every summary and queues it in the outbox. The
baseline in the same run is the scheduler's bookkeeping alone (the same claim batches and
transactions, no agenda), so the ratio says what the summaries themselves cost.

    .venv/bin/python -m bench.summaries [--practitioners 1000] [--url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from datetime import UTC, datetime, timedelta
from datetime import time as dtime

from sqlalchemy import insert

from bench.slots import database
from bot.i18n import Catalogs
from bot.practice import Practice
from bot.practice_file import bundled_example, load_practice
from store.crypto import BlindIndex, KeyRing, generate_key
from store.models import Appointment, Patient, new_id
from store.scheduler import SUMMARY_BATCH, claim_many, run_due_summaries
from store.vault import Vault

NOW = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)  # Monday 08:00 in Paris, after 07:30


def big_practice(count: int) -> Practice:
    """The example practice with `count` practitioners, each summarised by SMS at 07:30."""
    base = load_practice(bundled_example())
    model = base.practitioners[0]
    doctors = tuple(
        dataclasses.replace(
            model,
            id=f"p{i}",
            name=f"Dr Numéro {i}",
            summary_time=dtime(7, 30),
            summary_phone=f"+3361{i:07d}",
            summary_detail="full",
        )
        for i in range(count)
    )
    types = tuple(
        dataclasses.replace(t, practitioners=tuple(d.id for d in doctors))
        for t in base.consultation_types
    )
    return dataclasses.replace(base, practitioners=doctors, consultation_types=types)


def seed(db, vault: Vault, practice: Practice, per_day: int = 8) -> None:
    """A thousand patients and `per_day` appointments today for every practitioner."""
    patients = []
    for i in range(1000):
        pid = new_id()
        patients.append(
            {
                "id": pid,
                "practice_id": practice.id,
                "channel": "sms",
                "address_index": f"bench{i}",
                "lang": "fr",
                "created_at": NOW,
                "address_enc": vault.seal("patient", "address", pid, f"+3370{i:07d}"),
                "name_enc": vault.seal("patient", "name", pid, f"Patient Numéro {i}"),
                "last_contact_at": NOW,
                "opted_out": False,
                "unreachable": False,
            }
        )
    appts = []
    day_start = datetime(2026, 12, 7, 8, 30, tzinfo=UTC)
    for n, doctor in enumerate(practice.practitioners):
        for k in range(per_day):
            aid, start = new_id(), day_start + timedelta(minutes=20 * k)
            appts.append(
                {
                    "id": aid,
                    "practice_id": practice.id,
                    "practitioner_id": doctor.id,
                    "patient_id": patients[(n * per_day + k) % 1000]["id"],
                    "type_id": "ecg" if k % 4 == 0 else "consultation",
                    "start": start,
                    "end": start + timedelta(minutes=20),
                    "status": "booked",
                    "created_at": NOW,
                    "prep_enc": vault.seal("appointment", "prep", aid, "Kardegic")
                    if k % 4 == 0
                    else None,
                }
            )
    with db.write() as session:
        session.execute(insert(Patient), patients)
        for i in range(0, len(appts), 5000):
            session.execute(insert(Appointment), appts[i : i + 5000])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--practitioners", type=int, default=1000)
    parser.add_argument("--url", default=None, help="a PostgreSQL server to run on instead")
    args = parser.parse_args()
    vault = Vault(
        KeyRing.from_setting(f"b1:{generate_key()}"), BlindIndex.from_setting(generate_key())
    )
    practice = big_practice(args.practitioners)
    catalogs = Catalogs()
    with database(args.url) as db:
        seed(db, vault, practice)
        t0 = time.perf_counter()
        ids = [d.id for d in practice.practitioners]
        for i in range(0, len(ids), SUMMARY_BATCH):  # baseline: the same claims, no summary
            with db.write() as session:
                claim_many(session, practice.id, "baseline", ids[i : i + SUMMARY_BATCH], NOW)
        baseline = time.perf_counter() - t0
        t0 = time.perf_counter()
        queued = run_due_summaries(db, vault, catalogs, practice, NOW)
        elapsed = time.perf_counter() - t0
    backend = "PostgreSQL" if args.url else "SQLite"
    print(
        f"{backend}: {queued} summaries of {args.practitioners} practitioners x 8 "
        f"appointments built and queued in {elapsed:.2f} s (target <= 2 s)"
    )
    print(
        f"baseline (claims only, same run): {baseline:.2f} s; "
        f"summaries cost x{elapsed / baseline:.1f} the baseline"
    )


if __name__ == "__main__":
    main()
