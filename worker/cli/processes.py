"""``confrec`` commands that run a part of the system until stopped: the simulator, the
HTTP service, Flower, and the demo (which runs them all). Registered on the ``confrec``
app by ``confrec.worker.cli.commands``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from confrec.worker.cli.output import (
    FLOWER_HELP,
    check_port,
    err,
    fail,
    help_if_asked,
    load_settings,
    out,
)


def simulate(
    port: Annotated[int, typer.Option(help="0 picks a free port.")] = 8099,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    latency_ms: Annotated[float, typer.Option(min=0, help="Added to every answer.")] = 0.0,
    limit_rps: Annotated[
        float | None, typer.Option(help="Answer 429 above this many requests/s.")
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(envvar="TELNYX_API_KEY", show_envvar=False, help="Bearer to accept."),
    ] = None,
    webhook_url: Annotated[
        str | None,
        typer.Option(help="POST a signed conference.recording.saved here per recording."),
    ] = None,
    recording_seconds: Annotated[
        float, typer.Option(min=0, help="A recording is saved this long after it started.")
    ] = 1.0,
    signing_key: Annotated[
        str | None,
        typer.Option(
            envvar="CONFREC_SIM_SIGNING_KEY",
            help="Base64 32-byte Ed25519 seed to sign webhooks (default: random); better "
            "given by env CONFREC_SIM_SIGNING_KEY, which other users cannot read.",
        ),
    ] = None,
    conference_seconds: Annotated[
        float, typer.Option(min=0.001, help="A conference's lifetime, then conference.ended.")
    ] = 3600.0,
    start_lag_ms: Annotated[
        float, typer.Option(min=0, help="recording_started_at = the request's arrival + this.")
    ] = 0.0,
    clock_skew_s: Annotated[
        float, typer.Option(help="Telnyx's clock minus ours in every time reported (may be < 0).")
    ] = 0.0,
    public_url: Annotated[
        str | None, typer.Option(help="Root of the file links (default: http://HOST:PORT).")
    ] = None,
    link_expires_s: Annotated[
        int, typer.Option(min=1, max=604800, help="File links expire this long after made.")
    ] = 600,
    recording_bytes: Annotated[
        int, typer.Option(min=0, max=1 << 30, help="Size of each recording file served.")
    ] = 64 * 1024,
) -> None:
    """A local stand-in for the Telnyx API (faults by conference-id prefix: docs/simulator.md)."""
    from confrec.simulator import SimOptions, check_webhook_url, parse_signing_key, run

    try:
        if signing_key is not None:
            parse_signing_key(signing_key)
    except ValueError as exc:
        fail(f"--signing-key: {exc}")
    try:
        if webhook_url is not None:
            check_webhook_url(webhook_url)
    except ValueError as exc:
        fail(f"--webhook-url: {exc}")
    options = SimOptions(
        api_key=api_key,
        latency_ms=latency_ms,
        limit_rps=limit_rps,
        webhook_url=webhook_url,
        recording_seconds=recording_seconds,
        signing_key=signing_key,
        conference_seconds=conference_seconds,
        start_lag_ms=start_lag_ms,
        clock_skew_s=clock_skew_s,
        public_url=public_url,
        link_expires_s=link_expires_s,
        recording_bytes=recording_bytes,
    )
    if port:
        check_port(host, port, "--port")
    run(options, host=host, port=port)


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
) -> None:
    """The HTTP service: enqueue from any language, job status, Telnyx's webhooks."""
    settings = load_settings()
    from confrec.worker.serve import ServeConfigError, run_serve

    check_port(host, port, "--port")
    try:
        run_serve(settings, host, port)
    except ServeConfigError as exc:
        fail(str(exc))


def demo(
    jobs: Annotated[
        int, typer.Option(min=1, max=10_000, help="How many conferences (one HTTP bulk).")
    ] = 200,
    workers: Annotated[int, typer.Option(min=1, help="How many worker processes.")] = 2,
) -> None:
    """The whole system locally: Redis, simulator, workers, a bulk of jobs, a summary."""
    settings = load_settings()
    from confrec.worker.local.demo import run_demo

    raise typer.Exit(run_demo(settings, jobs=jobs, workers=workers, out=out, err=err))


def flower(ctx: typer.Context) -> None:
    """Start Flower (needs FLOWER_BASIC_AUTH=user:password); options go to Flower."""
    from confrec.worker import flower as web

    help_if_asked(ctx.args, lambda: FLOWER_HELP + "\n" + web.options_help())  # needs no settings
    problem = web.secret_on_argv(ctx.args) or web.load_auth_file() or web.auth_problem(ctx.args)
    if problem:
        fail(problem)
    settings = load_settings()
    check_port(*web.listen_address(ctx.args), "--port or FLOWER_PORT, default 5555")
    raise typer.Exit(web.run_flower(settings, ctx.args))
