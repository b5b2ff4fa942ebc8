"""Asking the W&B server once, so that no run waits for a network that is not there.

Private to :mod:`xent.tracking`. Before the first online run of a process,
:func:`online_problem` asks the server who the key belongs to, within a hard time limit
(the caller passes ``xent.tracking.PROBE_TIMEOUT``), and remembers the answer for every
later start of the process. :func:`say_offline` prints the one line that says why runs
go offline.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import ssl
import sys
import threading
import urllib.error
import urllib.request

from xent.tracking import _settings

# Base URL -> None when the server answered and knew the key, else why it cannot serve.
# Filled by the first online start of the process; later starts read it and never wait.
_servers: dict[str, str | None] = {}
_said: set[str] = set()  # the fallback lines printed so far


def _ask_server(base_url: str, key: str, timeout: float) -> str | None:
    """Why W&B at ``base_url`` cannot take runs with ``key``; None when it can.

    One GraphQL query for the key's user (``viewer``), as W&B's own login check does;
    ``timeout`` bounds each socket operation, not the whole exchange.
    """
    auth = base64.b64encode(f"api:{key}".encode()).decode()
    request = urllib.request.Request(
        base_url + "/graphql",
        data=json.dumps({"query": "query XentProbe { viewer { id } }"}).encode(),
        headers={
            "Authorization": f"Basic {auth}",
            "Content-Type": "application/json",
            "User-Agent": "xent-tracking",
        },
        method="POST",
    )
    cafile = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE")
    try:
        context = ssl.create_default_context(cafile=cafile or None)
        with urllib.request.urlopen(
            request, timeout=timeout, context=context
        ) as response:
            body = response.read(1 << 20)
    except urllib.error.HTTPError as error:
        if error.code in (401, 403):
            return f"rejected the API key (HTTP {error.code})"
        return f"answered HTTP {error.code}"
    except urllib.error.URLError as error:
        reason = error.reason
        if isinstance(reason, ConnectionRefusedError):
            return "refused the connection"
        if isinstance(reason, TimeoutError):
            return f"did not answer within {timeout:g} s"
        return f"is unreachable ({getattr(reason, 'strerror', None) or reason})"
    except TimeoutError:
        return f"did not answer within {timeout:g} s"
    except (OSError, ValueError, http.client.HTTPException) as error:
        return f"is unreachable ({error})"  # a reset connection, a garbled answer
    try:
        answer = json.loads(body)
        viewer = answer["data"]["viewer"]
    except (ValueError, KeyError, TypeError):  # a proxy's or captive portal's page
        return "did not answer as a W&B server does"
    return None if viewer else "did not recognise the API key"


def server_problem(base_url: str, key: str, timeout: float) -> str | None:
    """:func:`_ask_server` within ``timeout`` seconds in all, name lookups included."""
    answers: list[str | None] = []
    thread = threading.Thread(
        target=lambda: answers.append(_ask_server(base_url, key, timeout)),
        name="xent-wandb-probe",
        daemon=True,
    )
    thread.start()
    thread.join(timeout)
    return answers[0] if answers else f"did not answer within {timeout:g} s"


def online_problem(mode_from: str, timeout: float) -> str | None:
    """Why this process cannot log online; None when it can.

    Asks the server once per process (at most ``timeout`` seconds); ``mode_from`` names
    what asked for online (``WANDB_MODE`` or ``mode``) in the line for a missing key.
    """
    key = _settings.api_key()
    if key is None:
        return (
            f"{mode_from} is 'online' but no W&B API key was found (WANDB_API_KEY, "
            "`wandb login` or a Colab secret)"
        )
    base_url = _settings.base_url()
    if base_url not in _servers:
        problem = server_problem(base_url, key, timeout)
        _servers[base_url] = problem and f"W&B at {base_url} {problem}"
    return _servers[base_url]


def server_failed(problem: str) -> None:
    """Record that the current W&B server cannot start runs: later starts go offline
    at once."""
    _servers[_settings.base_url()] = problem


def say_offline(problem: str, folder: str) -> None:
    """One line, once per process and problem: why runs go offline, how to sync."""
    # wandb-core reports its own errors to the server, and would wait for it at exit
    os.environ.setdefault("WANDB_ERROR_REPORTING", "false")
    if problem in _said:
        return
    _said.add(problem)
    print(
        f"{problem}: logging offline, this run and later ones in this process; upload "
        f"later with `wandb sync {folder}/offline-run-*`",
        file=sys.stderr,
    )
