"""Database-level guards that SQLAlchemy's portable DDL cannot express.

On PostgreSQL, an exclusion constraint makes two overlapping *booked* appointments of one
practitioner impossible, even if the application check is bypassed. `create_all` gets it
through DDL events (PostgreSQL only); the Alembic migrations run the same statements.
SQLite relies on the check and the insert sharing one `BEGIN IMMEDIATE` transaction.
"""

from __future__ import annotations

from sqlalchemy import DDL, event
from sqlmodel import SQLModel

from store.models import Appointment

NO_OVERLAP = "appointment_no_overlap"
CREATE_EXTENSION = "CREATE EXTENSION IF NOT EXISTS btree_gist"
ADD_NO_OVERLAP = (
    f"ALTER TABLE appointment ADD CONSTRAINT {NO_OVERLAP} "
    "EXCLUDE USING gist (practice_id WITH =, practitioner_id WITH =, "
    "tsrange(start, \"end\") WITH &&) WHERE (status = 'booked')"
)
DROP_NO_OVERLAP = f"ALTER TABLE appointment DROP CONSTRAINT IF EXISTS {NO_OVERLAP}"


def _install() -> None:
    """Attach the PostgreSQL-only DDL to the metadata and the appointment table (at import)."""
    table = Appointment.__table__  # type: ignore[attr-defined]
    event.listen(
        SQLModel.metadata, "before_create", DDL(CREATE_EXTENSION).execute_if(dialect="postgresql")
    )
    event.listen(table, "after_create", DDL(ADD_NO_OVERLAP).execute_if(dialect="postgresql"))


_install()
