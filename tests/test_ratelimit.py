"""The per-sender rate limit, counted inside the turn's own transaction."""

from __future__ import annotations

from datetime import timedelta

from bot.messages import Inbound
from store.ratelimit import RateLimiter


def send(runtime, sender: str, text: str, mid: str, limiter: RateLimiter, channel: str = "sms"):
    a = runtime.assistant
    return a.handle(Inbound(channel, sender, text, a.clock(), message_id=mid), limiter=limiter)


def test_notice_once_then_silence_and_others_unaffected(runtime, clock):
    limiter = RateLimiter(limit=3, window=timedelta(minutes=10))
    first = send(runtime, "+33612345678", "Bonjour", "m0", limiter)
    for i in (1, 2):
        assert send(runtime, "+33612345678", "aide", f"m{i}", limiter).replies
    notice = send(runtime, "+33612345678", "aide", "m3", limiter)
    assert notice.limited and "Trop de messages" in notice.replies[0].text
    assert send(runtime, "+33612345678", "aide", "m4", limiter).replies == []
    assert send(runtime, "+33687654321", "Bonjour", "x0", limiter).replies  # someone else
    again = send(runtime, "+33612345678", "Bonjour", "m0", limiter)  # a provider retry
    assert again.repeated and again.replies == first.replies
    clock.advance(minutes=11)
    assert send(runtime, "+33612345678", "aide", "m5", limiter).replies  # a new window


def test_repeats_do_not_count(runtime):
    limiter = RateLimiter(limit=2, window=timedelta(minutes=10))
    for _ in range(5):
        send(runtime, "+33612345678", "Bonjour", "same-id", limiter)
    assert not send(runtime, "+33612345678", "aide", "other", limiter).limited


def test_limited_telegram_sender_in_english(runtime):
    limiter = RateLimiter(limit=1, window=timedelta(minutes=10))
    a = runtime.assistant
    a.handle(
        Inbound("telegram", "4242", "/start", a.clock(), "u1", lang_hint="en"), limiter=limiter
    )
    over = a.handle(
        Inbound("telegram", "4242", "help", a.clock(), "u2", lang_hint="en"), limiter=limiter
    )
    assert over.limited and "Too many messages" in over.replies[0].text
