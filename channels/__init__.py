"""Créneau's edges: SMS (Twilio), Telegram, the console; the web app and the CLI."""
