"""`creneau telegram set-webhook|poll` and `creneau worker`.

Attached to the main group in channels/cli/__init__.py. The runtime is read from the environment
when a command runs, never at import time.
"""

from __future__ import annotations

import asyncio
import logging
import threading

import click
from telegram import Bot
from telegram.error import TelegramError
from telegram.request import HTTPXRequest

from channels.cli._common import no_channels_option, service_runtime, until_signal
from channels.cli._common import runtime as cli_runtime
from channels.runtime import Runtime, configure_logging
from channels.telegram import ALLOWED_UPDATES, WEBHOOK_PATH, handle_safely

log = logging.getLogger(__name__)
POLL_TIMEOUT = 10  # seconds Telegram holds a getUpdates call open


def _bot(runtime: Runtime, timeout: float = 10.0) -> Bot:
    """A Bot for one command (the worker builds its own in its own loop)."""
    settings = runtime.settings
    if not settings.telegram_enabled:
        raise click.ClickException("TELEGRAM_BOT_TOKEN is not set: Telegram is disabled")
    return Bot(
        settings.telegram_bot_token,
        base_url=f"{settings.telegram_api_base_url}/bot",
        request=HTTPXRequest(read_timeout=timeout),
        get_updates_request=HTTPXRequest(read_timeout=POLL_TIMEOUT + timeout),
    )


@click.group()
def telegram() -> None:
    """Telegram: register the webhook, or poll without a public URL."""


@telegram.command("set-webhook")
def set_webhook() -> None:
    """Point the bot at PUBLIC_BASE_URL + /telegram/webhook, with the secret header."""
    runtime = cli_runtime()
    settings = runtime.settings
    if not settings.public_base_url:
        raise click.ClickException("PUBLIC_BASE_URL is not set (the public https:// origin)")
    if not settings.telegram_webhook_secret:
        raise click.ClickException("TELEGRAM_WEBHOOK_SECRET is not set (16+ random characters)")
    url = settings.public_base_url + WEBHOOK_PATH
    try:
        asyncio.run(_set_webhook(_bot(runtime), url, settings.telegram_webhook_secret))
    except TelegramError as exc:
        raise click.ClickException(f"Telegram refused the webhook: {exc}") from exc
    click.echo(f"webhook set: {url}")


async def _set_webhook(bot: Bot, url: str, secret: str) -> None:
    async with bot:
        await bot.set_webhook(
            url, secret_token=secret, allowed_updates=ALLOWED_UPDATES, drop_pending_updates=False
        )


@telegram.command()
def poll() -> None:
    """Run without a public URL: long polling plus the outbox worker and the scheduler
    (summaries, reminders, the daily retention purge), until SIGTERM."""
    from channels.clock import run_clock
    from channels.worker import run_worker

    configure_logging()
    runtime = service_runtime()
    bot = _bot(runtime)
    with until_signal() as stop:
        threads = [
            threading.Thread(target=job, args=(runtime, stop), name=job.__name__)
            for job in (run_worker, run_clock)
        ]
        for thread in threads:
            thread.start()
        try:
            asyncio.run(poll_updates(runtime, bot, stop))
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=15)


async def poll_updates(
    runtime: Runtime, bot: Bot, stop: threading.Event, timeout: int = POLL_TIMEOUT
) -> int:
    """Delete the webhook, then feed getUpdates to the webhook's handling; updates handled."""
    handled, offset = 0, None
    async with bot:
        await bot.delete_webhook(drop_pending_updates=False)
        log.info("polling Telegram for updates")
        while not stop.is_set():
            try:
                updates = await bot.get_updates(
                    offset=offset, timeout=timeout, allowed_updates=ALLOWED_UPDATES
                )
            except TelegramError as exc:
                log.warning("getUpdates failed: %s", type(exc).__name__)
                await asyncio.sleep(2)
                continue
            for update in updates:
                if handle_safely(runtime, update)[1] != 200:  # database down: fetch it again
                    await asyncio.sleep(2)
                    break
                offset, handled = update.update_id + 1, handled + 1
    return handled


@click.command()
@no_channels_option
def worker(no_channels: bool) -> None:
    """The outbox worker (Procfile `worker`), with the daily retention purge, until SIGTERM."""
    from channels.clock import run_purge
    from channels.worker import run_worker

    configure_logging()
    runtime = service_runtime(no_channels=no_channels)
    with until_signal() as stop:
        purger = threading.Thread(target=run_purge, args=(runtime, stop), name="purge")
        purger.start()
        try:
            run_worker(runtime, stop)
        finally:
            stop.set()
            purger.join(timeout=15)
