"""Log splitting, following and stream closing, against fakes and a local HTTP server."""

from __future__ import annotations

import http.server
import socketserver
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional

import pytest

from openshift_ai_sdk.training.client import HTTPTransport
from openshift_ai_sdk.training.logs import LogStream, ResponseStream, follow_logs, lines


def pod(name: str, phase: str = "Running") -> Dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "uid": "uid-" + name}, "status": {"phase": phase}}


class EndlessStream:
    """A followed log as kwok serves it: its lines, then nothing, never the end,
    until it is closed (from another thread)."""

    def __init__(self, chunks: List[bytes]) -> None:
        self.chunks = chunks
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks
        self.closed.wait()
        raise ConnectionError("closed while reading")

    def close(self) -> None:
        self.closed.set()


class FiniteStream:
    def __init__(self, chunks: List[bytes]) -> None:
        self.chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks

    def close(self) -> None:
        pass


class Source:
    """A LogSource whose pods, follow streams and job state tests script."""

    def __init__(self, pods: Callable[[], List[Dict[str, Any]]], finished: Callable[[], bool], text: Dict[str, List[bytes]]) -> None:
        self._pods = pods
        self._finished = finished
        self.text = text
        self.opened: List[tuple[str, bool]] = []
        self.streams: List[EndlessStream] = []

    def pods(self) -> List[Dict[str, Any]]:
        return self._pods()

    def open(self, p: Mapping[str, Any], follow: bool) -> LogStream:
        name = str(p["metadata"]["name"])
        self.opened.append((name, follow))
        if not follow:
            return FiniteStream(self.text[name])
        s = EndlessStream(self.text[name])
        self.streams.append(s)
        return s

    def finished(self) -> bool:
        return self._finished()


def collect(it: Iterator[str], timeout: float = 10.0, until: Optional[Callable[[List[str]], bool]] = None) -> List[str]:
    """Iterate in a thread, so that a follow that never ends fails the test
    instead of hanging it."""
    got: List[str] = []
    failure: List[BaseException] = []

    def run() -> None:
        try:
            for line in it:
                got.append(line)
                if until is not None and until(got):
                    break
        except BaseException as err:  # noqa: BLE001 - re-raised below
            failure.append(err)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        pytest.fail(f"the log iterator did not end within {timeout} s; read so far: {got}")
    if failure:
        raise failure[0]
    return got


def test_lines_split_across_chunks_and_keep_multibyte_characters_whole() -> None:
    snowman = "☃".encode()
    chunks = [b"a", b"b\nc\r\n", snowman[:1], snowman[1:] + b"\n", b"", b"\n\nlast"]
    assert list(lines(chunks)) == ["ab", "c", "☃", "", "", "last"]
    assert list(lines([b"bad \xff byte\n"])) == ["bad \ufffd byte"]
    assert list(lines([b"x" * 100_000 + b"\n" + b"y\n" * 1000])) == ["x" * 100_000] + ["y"] * 1000


def test_follow_reads_pods_that_ended_once_and_ends() -> None:
    """A finished job's pods have ended: their logs are read, not followed, so
    following ends even where a kubelet never ends a followed stream."""
    pods = [pod("pi-launcher", "Succeeded"), pod("pi-worker-0", "Failed")]
    src = Source(lambda: pods, lambda: True, {"pi-launcher": [b"L1\nL2\n"], "pi-worker-0": [b"W\n"]})
    got = collect(follow_logs(src, prefix=True, poll_interval=0.01))
    assert sorted(got) == ["[pi-launcher] L1", "[pi-launcher] L2", "[pi-worker-0] W"]
    assert sorted(src.opened) == [("pi-launcher", False), ("pi-worker-0", False)]


def test_follow_ends_quiet_logs_of_pods_that_ended_or_went_away() -> None:
    """Running when opened (so followed), then the launcher ends and the worker
    is deleted: their streams, which never end by themselves, are closed once
    quiet, and the follow ends with every line and no error."""
    state = {"t": 0}
    launcher, worker = pod("pi-launcher"), pod("pi-worker-0")

    def pods() -> List[Dict[str, Any]]:
        state["t"] += 1
        if state["t"] < 5:
            return [launcher, worker]
        return [pod("pi-launcher", "Succeeded")]

    src = Source(pods, lambda: state["t"] >= 5, {"pi-launcher": [b"a\n", b"b\n"], "pi-worker-0": [b"w\n"]})
    got = collect(follow_logs(src, prefix=True, poll_interval=0.01, end_grace=0.2))
    assert sorted(got) == ["[pi-launcher] a", "[pi-launcher] b", "[pi-worker-0] w"]
    assert sorted(src.opened) == [("pi-launcher", True), ("pi-worker-0", True)]
    assert all(s.closed.is_set() for s in src.streams)


def test_follow_ends_quiet_logs_of_running_pods_once_the_job_finished() -> None:
    """clean_pod_policy None keeps workers running after the job succeeded:
    following ends once their logs are quiet."""
    finished = {"v": False}
    pods = [pod("pi-launcher", "Succeeded"), pod("pi-worker-0")]
    src = Source(lambda: pods, lambda: finished["v"], {"pi-launcher": [b"L\n"], "pi-worker-0": [b"W\n"]})

    def finish_after_the_worker_line(got: List[str]) -> bool:
        if "[pi-worker-0] W" in got:
            finished["v"] = True
        return False

    got = collect(follow_logs(src, prefix=True, poll_interval=0.01, end_grace=0.1), until=finish_after_the_worker_line)
    assert sorted(got) == ["[pi-launcher] L", "[pi-worker-0] W"]


def test_follow_keeps_a_running_pods_quiet_log_while_the_job_runs() -> None:
    finished = {"v": False}
    src = Source(lambda: [pod("pi-launcher")], lambda: finished["v"], {"pi-launcher": [b"L\n"]})
    got: List[str] = []
    t = threading.Thread(target=lambda: got.extend(follow_logs(src, prefix=False, poll_interval=0.01, end_grace=0.05)), daemon=True)
    t.start()
    time.sleep(0.5)
    assert got == ["L"] and t.is_alive() and not src.streams[0].closed.is_set()
    finished["v"] = True
    t.join(10)
    assert not t.is_alive() and src.streams[0].closed.is_set()


def test_stopping_early_closes_every_open_log() -> None:
    src = Source(lambda: [pod("pi-launcher"), pod("pi-worker-0")], lambda: False, {"pi-launcher": [b"L\n"], "pi-worker-0": [b"W\n"]})
    got = collect(follow_logs(src, prefix=True, poll_interval=0.01), until=lambda g: len(g) == 2)
    assert sorted(got) == ["[pi-launcher] L", "[pi-worker-0] W"]
    assert len(src.streams) == 2 and all(s.closed.is_set() for s in src.streams)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    release = threading.Event()

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for data in (b"one\n", b"two\n"):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        if self.path.startswith("/follow"):
            # A followed log that says nothing more and never ends.
            self.release.wait(30)
        try:
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass

    def log_message(self, *args: Any) -> None:
        pass


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


class _Config:
    verify_ssl = False
    ssl_ca_cert = None
    cert_file = None
    key_file = None

    def __init__(self, host: str) -> None:
        self.host = host

    def auth_settings(self) -> Dict[str, Any]:
        return {}


@pytest.fixture
def server() -> Iterator[str]:
    srv = _Server(("127.0.0.1", 0), _Handler)
    _Handler.release.clear()
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_port}"
    _Handler.release.set()
    srv.shutdown()
    srv.server_close()


class _WithoutShutdown:
    """A urllib3 response as urllib3 < 2.3 has it: no shutdown()."""

    def __init__(self, r: Any) -> None:
        self._r = r

    def __getattr__(self, name: str) -> Any:
        if name == "shutdown":
            raise AttributeError(name)
        return getattr(self._r, name)


@pytest.mark.parametrize("old_urllib3", [False, True])
def test_closing_a_followed_stream_wakes_its_reader_and_spares_the_pool(server: str, old_urllib3: bool) -> None:
    """close() from another thread returns at once and ends the blocked read;
    the connection, with the log still streaming on it, is not reused: the
    next request gets its own answer."""
    t = HTTPTransport(_Config(server))
    r = t.request("GET", "/follow", stream=True, timeout=(5.0, None)).stream
    s = ResponseStream(_WithoutShutdown(r) if old_urllib3 else r)
    got: List[str] = []
    done = threading.Event()

    def read() -> None:
        try:
            for line in lines(s):
                got.append(line)
        except Exception:  # noqa: BLE001 - a closed stream may raise
            pass
        done.set()

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + 5
    while len(got) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert got == ["one", "two"]
    started = time.monotonic()
    s.close()
    assert time.monotonic() - started < 10, "close() waited for the server (which ends the log after 30 s)"
    assert done.wait(2), "the reader stayed blocked after close()"
    r = t.request("GET", "/once", timeout=(5.0, 5.0))
    assert r.data == b"one\ntwo\n"


def test_closing_a_stream_read_to_its_end(server: str) -> None:
    t = HTTPTransport(_Config(server))
    s = ResponseStream(t.request("GET", "/once", stream=True, timeout=(5.0, 5.0)).stream)
    assert list(lines(s)) == ["one", "two"]
    s.close()
    assert t.request("GET", "/once", timeout=(5.0, 5.0)).data == b"one\ntwo\n"
