"""xent.tracking against real W&B faults, all on loopback (127.0.0.1).

A port that refuses connections, a server that accepts and never answers, and a small
HTTP server that rejects the key stand in for a laptop offline, a firewall and a revoked
key. Each W&B start runs in a fresh Python process (W&B keeps process-wide state), with
a fake key and ``WANDB_BASE_URL`` pointed at the fault; the Makefile's ``WANDB_MODE``
and ``WANDB_SILENT`` are removed from that process's environment. The bounds on time are
generous, but each one fails on W&B's own 90-second wait.
"""

from __future__ import annotations

import http.server
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from _wandb_reader import assert_wandb_matches_history, wandb_summary

from xent import tracking
from xent.tracking import _probe

REPO = Path(__file__).resolve().parents[1]
KEY = "f" * 40  # the shape of a W&B key; no server knows it
FIRST_START_SECONDS = 25  # the first start that falls back (W&B alone waits 90 s)
LATER_START_SECONDS = 5  # a later start, which must not ask the server again
needs_wandb = pytest.mark.skipif(
    importlib.util.find_spec("wandb") is None, reason="wandb is not installed"
)


# --------------------------------------------------------------------------------------
# Faults, on loopback
# --------------------------------------------------------------------------------------


class Fault:
    """A W&B server that does not work: its URL, and how many requests reached it."""

    def __init__(self, url: str, counter: list[int] | None = None) -> None:
        self.url = url
        self._counter = counter

    @property
    def requests(self) -> int | None:
        return None if self._counter is None else self._counter[0]


def _refusing() -> Fault:
    with socket.socket() as s:  # a port that was free a moment ago and is closed now
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return Fault(f"http://127.0.0.1:{port}")


def _silent(stop: threading.Event) -> Fault:
    """Accepts every connection and never answers (a firewall that drops replies)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    counter, held = [0], []

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            counter[0] += 1
            held.append(connection)
        for connection in held:
            connection.close()
        server.close()

    threading.Thread(target=serve, daemon=True).start()
    return Fault(f"http://127.0.0.1:{server.getsockname()[1]}", counter)


def _answering(stop: threading.Event, status: int, body: bytes = b"") -> Fault:
    """An HTTP server that answers every request with ``status`` and ``body``."""
    counter = [0]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            counter[0] += 1
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_PUT = do_POST

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    threading.Thread(
        target=lambda: (stop.wait(), server.shutdown(), server.server_close()),
        daemon=True,
    ).start()
    return Fault(f"http://127.0.0.1:{server.server_port}", counter)


@pytest.fixture
def stop():
    event = threading.Event()
    yield event
    event.set()


VIEWER = json.dumps({"data": {"viewer": {"id": "VXNlcjox"}}}).encode()


# --------------------------------------------------------------------------------------
# W&B in a fresh process
# --------------------------------------------------------------------------------------


def child(
    script: str, tmp_path: Path, *, release: threading.Event | None = None, **env: str
) -> subprocess.CompletedProcess:
    """Run ``script`` with ``xent`` importable, no WANDB_* but ``env``, and no stdin.

    ``release`` is set when the script prints its result, so that a server holding
    W&B's requests lets them go before the process exits. Killed after a minute.
    """
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("WANDB_") and k != "NETRC"
    }
    environment.update(
        HOME=str(home),
        WANDB_DIR=str(tmp_path / "runs"),
        PYTHONPATH=str(REPO),
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        **env,
    )
    args = [sys.executable, "-c", textwrap.dedent(script)]
    with (tmp_path / "stderr.txt").open("w+") as stderr:
        process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,  # a prompt would read EOF and fail, not wait
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=environment,
            cwd=tmp_path,
        )
        watchdog = threading.Timer(60, process.kill)
        watchdog.start()
        lines = []
        for line in process.stdout:
            lines.append(line)
            if release is not None and line.startswith("RESULT "):
                release.set()
        process.wait()
        watchdog.cancel()
        stderr.seek(0)
        return subprocess.CompletedProcess(
            args, process.returncode, "".join(lines), stderr.read()
        )


def result_of(done: subprocess.CompletedProcess) -> list[dict]:
    assert done.returncode == 0, done.stderr
    (line,) = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
    return json.loads(line.removeprefix("RESULT "))


TWO_RUNS = """
    import json, time
    from xent import tracking
    out = []
    for n in range(2):
        start = time.perf_counter()
        run = tracking.start_run("fault", {"lr": 0.1}, name=f"run{n}")
        seconds = time.perf_counter() - start
        with run:
            for epoch in range(3):
                run.log({"epoch": epoch, "train_loss": 1.0 / (epoch + 1)})
        out.append({"seconds": seconds, "mode": run.mode, "dir": str(run.dir)})
    print("RESULT " + json.dumps(out))
"""


def check_offline_runs(runs: list[dict], tmp_path: Path) -> None:
    """Every run went offline, kept its three rows, and left a finished W&B file."""
    for run in runs:
        run_dir = Path(run["dir"])
        assert run["mode"] == "offline"
        assert run_dir.parent == tmp_path / "runs" / "wandb"
        assert list(run_dir.glob("run-*.wandb")), "W&B wrote no offline file"
        assert tracking.read_history(run_dir) == [
            {"_step": e, "epoch": e, "train_loss": 1.0 / (e + 1)} for e in range(3)
        ]
        assert json.loads((run_dir / "run.json").read_text())["state"] == "finished"


def check_messages(done: subprocess.CompletedProcess, reason: str, tmp_path: Path):
    """One line says why and how to sync; each run says its name and mode, no paths."""
    said = [line for line in done.stderr.splitlines() if "logging offline" in line]
    assert len(said) == 1, done.stderr
    assert reason in said[0]
    assert "wandb sync $WANDB_DIR/wandb/offline-run-*" in said[0]
    assert [line for line in done.stdout.splitlines() if line.startswith("Run ")] == [
        f"Run fault/run{n}: W&B offline, kept in $WANDB_DIR/wandb" for n in range(2)
    ]
    printed = [x for x in done.stdout.splitlines() if not x.startswith("RESULT ")]
    assert str(tmp_path) not in "\n".join(printed) + done.stderr
    assert "Traceback" not in done.stderr


@needs_wandb
@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("refused", "refused the connection"),
        ("silent", f"did not answer within {tracking.PROBE_TIMEOUT:g} s"),
        ("401", "rejected the API key (HTTP 401)"),
    ],
)
def test_unreachable_server_falls_back_fast_once_and_for_later_runs(
    tmp_path, stop, fault, reason
):
    server = {
        "refused": _refusing,
        "silent": lambda: _silent(stop),
        "401": lambda: _answering(stop, 401, b'{"error": "unauthorized"}'),
    }[fault]()
    done = child(TWO_RUNS, tmp_path, WANDB_API_KEY=KEY, WANDB_BASE_URL=server.url)
    first, later = result_of(done)
    assert first["seconds"] < FIRST_START_SECONDS, first
    assert later["seconds"] < LATER_START_SECONDS, later
    check_messages(done, f"W&B at {server.url} {reason}", tmp_path)
    check_offline_runs([first, later], tmp_path)
    if server.requests is not None:  # asked once, by the first start, never again
        assert server.requests == 1
    if fault == "refused":  # what W&B itself stored, read with W&B's reader
        run_dir = Path(later["dir"])
        summary = assert_wandb_matches_history(run_dir)
        # the reader the tests call directly is the one behind `wandb leet inspect`
        assert wandb_summary(run_dir, cli=True) == summary


@needs_wandb
def test_explicit_online_mode_without_a_key_falls_back_and_says_so(tmp_path):
    done = child(TWO_RUNS, tmp_path, WANDB_MODE="online")
    runs = result_of(done)
    check_messages(done, "WANDB_MODE is 'online' but no W&B API key", tmp_path)
    check_offline_runs(runs, tmp_path)


def _probe_only(stop: threading.Event) -> Fault:
    """Answers the probe's question and then nothing: W&B's own start stalls."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if b"XentProbe" not in body:
                stop.wait(60)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(VIEWER)))
            self.end_headers()
            self.wfile.write(VIEWER)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    threading.Thread(
        target=lambda: (stop.wait(), server.shutdown(), server.server_close()),
        daemon=True,
    ).start()
    return Fault(f"http://127.0.0.1:{server.server_port}")


@needs_wandb
def test_online_start_that_stalls_after_the_probe_falls_back(tmp_path, stop):
    """A server that answers the probe and then nothing else: wandb.init gives up online
    after INIT_TIMEOUT (shortened here) and the run goes offline."""
    server = _probe_only(stop)
    script = "from xent import tracking\ntracking.INIT_TIMEOUT = 3.0\n" + (
        textwrap.dedent(TWO_RUNS)
    )
    done = child(
        script, tmp_path, release=stop, WANDB_API_KEY=KEY, WANDB_BASE_URL=server.url
    )
    first, later = result_of(done)
    assert first["seconds"] < FIRST_START_SECONDS, first
    assert later["seconds"] < LATER_START_SECONDS, later
    check_messages(done, f"W&B at {server.url} could not start a run", tmp_path)
    check_offline_runs([first, later], tmp_path)


@needs_wandb
def test_probe_timeout_set_on_the_module_bounds_the_wait(tmp_path, stop):
    """``xent.tracking.PROBE_TIMEOUT``, set by a user, is the wait of the next start."""
    server = _silent(stop)
    script = "from xent import tracking\ntracking.PROBE_TIMEOUT = 1.0\n" + (
        textwrap.dedent(TWO_RUNS)
    )
    done = child(script, tmp_path, WANDB_API_KEY=KEY, WANDB_BASE_URL=server.url)
    first, later = result_of(done)
    assert first["seconds"] < FIRST_START_SECONDS, first
    check_messages(done, f"W&B at {server.url} did not answer within 1 s", tmp_path)
    check_offline_runs([first, later], tmp_path)
    assert server.requests == 1


# --------------------------------------------------------------------------------------
# The probe itself, in this process (no W&B)
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "problem"),
    [
        (200, VIEWER, None),
        (200, b'{"data": {"viewer": null}}', "did not recognise the API key"),
        (403, b"", "rejected the API key (HTTP 403)"),
        (500, b"", "answered HTTP 500"),
        (200, b"<html>Sign in to the network</html>", "did not answer as a W&B"),
    ],
)
def test_probe_reads_the_servers_answer(stop, status, body, problem):
    server = _answering(stop, status, body)
    found = _probe.server_problem(server.url, KEY, tracking.PROBE_TIMEOUT)
    assert found == problem if problem is None else found.startswith(problem)
    assert server.requests == 1


def test_probe_gives_up_on_a_silent_server_in_time(stop):
    start = time.perf_counter()
    found = _probe.server_problem(_silent(stop).url, KEY, 0.5)
    assert found == "did not answer within 0.5 s"
    assert time.perf_counter() - start < 3.0


def test_probe_gives_up_on_a_trickling_server_in_time(stop):
    """A byte every fifth of a second never trips a socket timeout; the limit holds."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def trickle() -> None:
        connection, _ = server.accept()
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"z" * 100:
            if stop.wait(0.2):
                break
            connection.sendall(bytes([byte]))
        connection.close()
        server.close()

    threading.Thread(target=trickle, daemon=True).start()
    start = time.perf_counter()
    url = f"http://127.0.0.1:{server.getsockname()[1]}"
    assert _probe.server_problem(url, KEY, 0.5) == "did not answer within 0.5 s"
    assert time.perf_counter() - start < 2.0


def test_probe_sees_a_garbled_answer(stop):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def answer() -> None:
        connection, _ = server.accept()
        connection.sendall(b"not HTTP at all\r\n\r\n")
        connection.close()
        server.close()

    threading.Thread(target=answer, daemon=True).start()
    url = f"http://127.0.0.1:{server.getsockname()[1]}"
    found = _probe.server_problem(url, KEY, tracking.PROBE_TIMEOUT)
    assert found is not None and found.startswith("is unreachable")


def test_probe_sees_a_refused_connection():
    found = _probe.server_problem(_refusing().url, KEY, tracking.PROBE_TIMEOUT)
    assert found == "refused the connection"


# --------------------------------------------------------------------------------------
# Bad settings: a ValueError that names the variable, before any run starts
# --------------------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for name in ("WANDB_MODE", "WANDB_DIR", "WANDB_API_KEY", "WANDB_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return monkeypatch


def _file(tmp_path: Path) -> Path:
    path = tmp_path / "a-file"
    path.write_text("not a directory\n")
    return path


@pytest.mark.parametrize(
    ("where", "problem"),
    [
        (lambda tmp: _file(tmp) / "runs", "a-file is a file"),
        (lambda tmp: _file(tmp), "a-file is a file"),
        (lambda tmp: Path("/proc/self"), "is not writable"),  # not even for root
    ],
    ids=["through-a-file", "a-file", "not-writable"],
)
def test_unusable_wandb_dir_names_the_variable(clean_env, tmp_path, where, problem):
    path = where(tmp_path)
    clean_env.setenv("WANDB_DIR", str(path))
    before = set(tmp_path.rglob("*"))
    with pytest.raises(ValueError, match="WANDB_DIR must be a directory") as error:
        tracking.start_run("p", mode="offline")
    assert problem in str(error.value) and str(path) in str(error.value)
    assert set(tmp_path.rglob("*")) == before  # no run was started


def test_unusable_dir_argument_names_the_argument(clean_env, tmp_path):
    with pytest.raises(ValueError, match="^dir must be a directory"):
        tracking.start_run("p", dir=_file(tmp_path) / "runs", mode="disabled")


def test_unknown_wandb_mode_stops_start_run(clean_env, tmp_path):
    clean_env.setenv("WANDB_MODE", "sometimes")
    clean_env.setenv("WANDB_DIR", str(tmp_path / "runs"))
    with pytest.raises(ValueError, match="WANDB_MODE must be one of"):
        tracking.start_run("p")
    assert not (tmp_path / "runs").exists()


# --------------------------------------------------------------------------------------
# Interrupted runs keep what they logged
# --------------------------------------------------------------------------------------

INTERRUPTED = """
    import json
    from xent import tracking
    runs = {}
    try:
        with tracking.start_run("stop", {"lr": 0.1}, name="interrupted") as run:
            runs["interrupted"] = run
            for epoch in range(3):
                run.log({"epoch": epoch, "train_loss": 1.0 / (epoch + 1)})
            print("READY", flush=True)
            while True:  # training, between two log calls, until Ctrl-C
                sum(i * i for i in range(10_000))
    except KeyboardInterrupt:
        pass
    try:
        with tracking.start_run("stop", name="exception") as run:
            runs["exception"] = run
            for epoch in range(4):
                run.log({"epoch": epoch, "train_loss": float(epoch)})
            raise RuntimeError("the loss diverged")
    except RuntimeError:
        pass
    runs["left-open"] = run = tracking.start_run("stop", name="left-open")
    for epoch in range(2):  # a cell stopped without `with`: the next start closes it
        run.log({"epoch": epoch})
    with tracking.start_run("stop", name="next") as run:
        runs["next"] = run
        run.log({"epoch": 0})
    runs["open-at-exit"] = run = tracking.start_run("stop", name="open-at-exit")
    run.log({"epoch": 0})  # and the script ends: the exit hooks close the run
    print("RESULT " + json.dumps({k: [str(r.dir), r.state] for k, r in runs.items()}))
"""


@needs_wandb
def test_interrupted_runs_keep_every_row_and_are_closed(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("WANDB_") and k != "NETRC"
    }
    environment.update(
        HOME=str(home),
        WANDB_DIR=str(tmp_path / "runs"),
        WANDB_MODE="offline",
        PYTHONPATH=str(REPO),
    )
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(INTERRUPTED)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
    try:
        for line in process.stdout:  # the run's own line comes first
            if line.strip() == "READY":
                break
        process.send_signal(signal.SIGINT)  # what Ctrl-C or Jupyter's interrupt sends
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    (line,) = [x for x in stdout.splitlines() if x.startswith("RESULT ")]
    runs = {k: (Path(d), state) for k, (d, state) in json.loads(line[7:]).items()}
    expected = {"interrupted": 3, "exception": 4, "left-open": 2, "next": 1}
    expected["open-at-exit"] = 1
    states = {"interrupted": "failed", "exception": "failed"}
    for key, rows in expected.items():
        run_dir, state = runs[key]
        state_wanted = states.get(key, "finished")
        assert state == ("running" if key == "open-at-exit" else state_wanted), key
        assert json.loads((run_dir / "run.json").read_text())["state"] == state_wanted
        assert len(tracking.read_history(run_dir)) == rows, key
        assert_wandb_matches_history(run_dir, state=state_wanted)
