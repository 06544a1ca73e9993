"""The floor of an SMS turn: the least work a durable, authenticated, encrypted answer needs.

A Flask app that checks the Twilio signature against the public URL, seals the message body
with AES-GCM, inserts one row in one transaction (SQLite: WAL, synchronous=NORMAL, BEGIN
IMMEDIATE; PostgreSQL: psycopg) and answers TwiML. Créneau's turns are measured against it
in the same run (`bench/turn_cost.py`): what a turn costs beyond this is the dialog's own.

    gunicorn 'bench.floor:app()'   # FLOOR_DATABASE=sqlite:///path | postgresql://...
"""

from __future__ import annotations

import base64
import os
import sqlite3
import uuid
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import Flask, Response, request
from twilio.request_validator import RequestValidator

TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Message>'
    "Bien recu, merci.</Message></Response>"
)
SCHEMA = "CREATE TABLE IF NOT EXISTS floor (id TEXT PRIMARY KEY, sender TEXT, body {blob})"
SCHEMA_LOCK = 7_150_015  # PostgreSQL: workers starting together create the table one at a time


class Store:
    """One connection per worker process, opened on first use."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqlite = url.startswith("sqlite:///")
        self._conn: Any = None

    def connection(self) -> Any:
        if self._conn is None:
            conn: Any
            if self.sqlite:
                conn = sqlite3.connect(self.url.removeprefix("sqlite:///"), isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA busy_timeout=10000")
            else:
                import psycopg

                conn = psycopg.connect(self.url.replace("postgresql+psycopg://", "postgresql://"))
            if self.sqlite:
                conn.execute(SCHEMA.format(blob="BLOB"))
            else:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
                conn.execute(SCHEMA.format(blob="BYTEA"))
                conn.commit()
            self._conn = conn
        return self._conn

    def insert(self, row_id: str, sender: str, sealed: bytes) -> None:
        conn = self.connection()
        if self.sqlite:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO floor VALUES (?, ?, ?)", (row_id, sender, sealed))
            conn.execute("COMMIT")
        else:
            conn.execute("INSERT INTO floor VALUES (%s, %s, %s)", (row_id, sender, sealed))
            conn.commit()


def app() -> Flask:
    """The floor app, configured from FLOOR_DATABASE, TWILIO_AUTH_TOKEN, PUBLIC_BASE_URL."""
    store = Store(os.environ["FLOOR_DATABASE"])
    validator = RequestValidator(os.environ["TWILIO_AUTH_TOKEN"])
    url = os.environ["PUBLIC_BASE_URL"].rstrip("/") + "/sms/twilio"
    aead = AESGCM(base64.b64decode(os.environ["FLOOR_KEY"]))
    flask = Flask("floor")

    @flask.post("/sms/twilio")
    def sms() -> Response:
        if not validator.validate(url, request.form, request.headers.get("X-Twilio-Signature", "")):
            return Response("forbidden\n", status=403)
        row_id = uuid.uuid4().hex
        nonce = os.urandom(12)
        body = request.form.get("Body", "").encode()
        sealed = nonce + aead.encrypt(nonce, body, f"floor|body|{row_id}".encode())
        store.insert(row_id, request.form.get("From", ""), sealed)
        return Response(TWIML, mimetype="text/xml")

    @flask.get("/healthz")
    def healthz() -> str:
        return "ok"

    return flask
