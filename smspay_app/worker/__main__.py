"""``python -m smspay_app.worker``: every background job (SMS dispatcher,
webhook delivery, reminders, retention) in its own process. SIGTERM or SIGINT
finishes the batch in flight (its outcomes are recorded) and exits."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal


async def _main(args: argparse.Namespace) -> None:
    from smspay_app.worker.dispatcher import Dispatcher

    dispatcher = Dispatcher(
        batch_size=args.batch_size,
        lease_seconds=args.lease_seconds,
        concurrency=args.concurrency,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if _early_stop:
        stop.set()
    if args.once:
        try:
            await dispatcher.run_once()
        finally:
            await dispatcher.aclose()
        return
    from smspay_app.worker import run_all

    await run_all(stop, dispatcher=dispatcher)


_early_stop: list[int] = []


def main(argv: list[str] | None = None) -> None:
    # A signal during start-up (imports, settings) also ends the process cleanly.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: _early_stop.append(signum))
    parser = argparse.ArgumentParser(prog="python -m smspay_app.worker", description="smspay background jobs")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--lease-seconds", type=int, default=None)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--once", action="store_true", help="run one pass and exit")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    from smspay_app.settings import ProviderSecretMissing, require_provider_secrets

    try:
        require_provider_secrets()
    except ProviderSecretMissing as exc:
        raise SystemExit(str(exc)) from None
    asyncio.run(_main(args))


if __name__ == "__main__":
    main()
