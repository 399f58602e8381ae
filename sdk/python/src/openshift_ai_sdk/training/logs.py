"""Reading and following the logs of an MPIJob's pods.

This mirrors ``kubectl odh mpijob logs``: one pod's log as it is now, or,
when following, every selected pod's log as it grows, waiting for pods to
start and picking up pods that appear later (a relaunched launcher, late
workers), until the job has finished and every log has ended. With more than
one pod selected, each line starts with ``[pod-name] ``.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Protocol, Set, Tuple

from .errors import LogsUnavailableError, TrainingError


class LogStream(Protocol):
    """An open log: iterate its chunks of bytes, close it to stop."""

    def __iter__(self) -> Iterator[bytes]: ...

    def close(self) -> None: ...


class LogSource(Protocol):
    """Where pods and their logs come from (the cluster, or a fake in tests)."""

    def pods(self) -> List[Dict[str, Any]]:
        """The pods whose logs are wanted, in display order."""
        ...

    def open(self, pod: Mapping[str, Any], follow: bool) -> LogStream:
        """Open one pod's log."""
        ...

    def finished(self) -> bool:
        """Whether no more pods will start (the job is over or gone)."""
        ...


def started(pod: Mapping[str, Any]) -> bool:
    """Whether a pod's containers have started, so that it has a log."""
    return str((pod.get("status") or {}).get("phase") or "") in ("Running", "Succeeded", "Failed")


def pod_name(pod: Mapping[str, Any]) -> str:
    """The pod's name."""
    return str((pod.get("metadata") or {}).get("name") or "")


def _key(pod: Mapping[str, Any]) -> str:
    meta = pod.get("metadata") or {}
    return str(meta.get("uid") or f"{meta.get('namespace')}/{meta.get('name')}")


def lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """Split a stream of byte chunks into text lines (without the newline)."""
    buf = b""
    for chunk in chunks:
        if not chunk:
            continue
        buf += chunk
        while True:
            i = buf.find(b"\n")
            if i < 0:
                break
            yield buf[:i].decode("utf-8", "replace").rstrip("\r")
            buf = buf[i + 1 :]
    if buf:
        yield buf.decode("utf-8", "replace").rstrip("\r")


def read_logs(src: LogSource, *, prefix: bool) -> str:
    """Read the logs of the source's pods as they are now.

    Raises:
        LogsUnavailableError: no pods, a pod not started yet, or a log that
            cannot be read; ``partial`` holds what was read from the others.
    """
    pods = src.pods()
    if not pods:
        raise LogsUnavailableError("no pods found for the job (a finished job's pods may have been cleaned up, or it is still queued)")
    out: List[str] = []
    errors: List[str] = []
    for p in pods:
        name = pod_name(p)
        if not started(p):
            phase = (p.get("status") or {}).get("phase") or "Pending"
            errors.append(f"pod {name} has not started yet (phase {phase}); use follow=True to wait for it")
            continue
        try:
            stream = src.open(p, False)
            try:
                for line in lines(stream):
                    out.append(f"[{name}] {line}" if prefix else line)
            finally:
                stream.close()
        except TrainingError as err:
            errors.append(f"logs of pod {name}: {err}")
    text = "".join(line + "\n" for line in out)
    if errors:
        raise LogsUnavailableError("; ".join(errors), partial=text)
    return text


def follow_logs(src: LogSource, *, prefix: bool, poll_interval: float = 1.0) -> Iterator[str]:
    """Yield the lines of the source's pods as they are written, until the job
    has finished and every log ended (or the caller stops iterating).

    Raises:
        LogsUnavailableError: after the last line, if some log could not be read.
    """
    q: "queue.Queue[Tuple[str, str]]" = queue.Queue()
    stop = threading.Event()
    open_streams: Dict[str, LogStream] = {}
    lock = threading.Lock()
    seen: Set[str] = set()
    errors: List[str] = []
    active = 0

    def pump(pod: Dict[str, Any], key: str) -> None:
        name = pod_name(pod)
        try:
            stream = src.open(pod, True)
            with lock:
                open_streams[key] = stream
            if stop.is_set():
                stream.close()
                return
            for line in lines(stream):
                if stop.is_set():
                    break
                q.put(("line", f"[{name}] {line}" if prefix else line))
        except Exception as err:  # noqa: BLE001 - reported after the last line
            if not stop.is_set():
                q.put(("error", f"logs of pod {name}: {err}"))
        finally:
            with lock:
                s = open_streams.pop(key, None)
            if s is not None:
                try:
                    s.close()
                except Exception:  # noqa: BLE001 - closing a broken stream
                    pass
            q.put(("done", key))

    def start_new(pods: List[Dict[str, Any]]) -> int:
        n = 0
        for p in pods:
            k = _key(p)
            if k in seen or not started(p):
                continue
            seen.add(k)
            n += 1
            threading.Thread(target=pump, args=(p, k), name=f"logs-{pod_name(p)}", daemon=True).start()
        return n

    try:
        next_poll = 0.0
        while True:
            now = time.monotonic()
            if now >= next_poll:
                active += start_new(src.pods())
                if active == 0 and src.finished():
                    # Pods that started since the last listing still get read.
                    more = start_new(src.pods())
                    if more == 0:
                        break
                    active += more
                next_poll = now + poll_interval
            try:
                kind, value = q.get(timeout=max(0.0, next_poll - time.monotonic()))
            except queue.Empty:
                continue
            if kind == "line":
                yield value
            elif kind == "error":
                errors.append(value)
            else:
                active -= 1
                if active == 0:
                    next_poll = 0.0
        if errors:
            raise LogsUnavailableError("; ".join(errors))
    finally:
        stop.set()
        with lock:
            streams = list(open_streams.values())
        for s in streams:
            try:
                s.close()
            except Exception:  # noqa: BLE001 - closing on the way out
                pass


class ResponseStream:
    """A :class:`LogStream` over an open urllib3 response."""

    def __init__(self, response: Any) -> None:
        self._r = response

    def __iter__(self) -> Iterator[bytes]:
        # stream() yields each chunk as the server sends it (chunked encoding),
        # so followed lines arrive as they are written.
        for chunk in self._r.stream(2**16, decode_content=True):
            yield bytes(chunk)

    def close(self) -> None:
        try:
            self._r.release_conn()
        finally:
            self._r.close()

