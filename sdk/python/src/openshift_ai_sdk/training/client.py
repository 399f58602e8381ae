"""The connection to the cluster: credentials, namespace, requests and retries.

Credentials and the namespace are found the way users expect:

1. an explicit ``kubeconfig=`` (and ``context=``) argument, or the ``KUBECONFIG``
   environment variable: that kubeconfig, its (current) context and the
   context's namespace;
2. inside a pod (a notebook in OpenShift AI): the pod's service account, and
   the namespace in ``/var/run/secrets/kubernetes.io/serviceaccount/namespace``;
3. else ``~/.kube/config`` and its current context's namespace;
4. a context without a namespace means ``default``.

The official ``kubernetes`` client parses kubeconfigs, runs exec credential
plugins and refreshes service-account tokens; requests go over its urllib3
with JSON in and out, so the SDK works the same with every client version
from its lower bound on.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, TypeVar
from urllib.parse import quote, urlencode

from .errors import (
    ClusterUnreachableError,
    TrainingError,
    error_from_status,
    split_warning_header,
)
from .retry import RetryPolicy

T = TypeVar("T")

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
USER_AGENT = "openshift-ai-sdk/0.1.0"

# Request timeouts in seconds: (connect, read). Log streams that follow have
# no read timeout: a quiet training job is not a dead connection.
DEFAULT_TIMEOUT: Tuple[float, float] = (10.0, 60.0)


class HTTPStatusError(Exception):
    """A non-2xx answer of the API server (before it becomes an SDK error)."""

    def __init__(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        super().__init__(f"HTTP {status}: {body[:200]!r}")
        self.status = status
        self.body = body
        self.headers = headers


@dataclass
class Response:
    """An answer of the API server.

    Attributes:
        status: the HTTP status.
        headers: the response headers.
        data: the body (empty for a stream).
        stream: for ``stream=True`` requests, the open urllib3 response to read
            and close.
    """

    status: int
    headers: Mapping[str, str]
    data: bytes = b""
    stream: Any = None

    def json(self) -> Dict[str, Any]:
        """The body as a JSON object."""
        obj = json.loads(self.data.decode("utf-8")) if self.data else {}
        if not isinstance(obj, dict):
            raise TrainingError(f"the API server answered {type(obj).__name__}, not an object")
        return obj

    def warnings(self) -> Tuple[str, ...]:
        """The texts of the response's ``Warning`` headers."""
        value = self.headers.get("Warning") or self.headers.get("warning") or ""
        return split_warning_header(value)


class Transport:
    """Sends requests to the API server. Tests replace it with a fake that has
    the same ``request`` method."""

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Optional[Mapping[str, Any]] = None,
        body: Any = None,
        stream: bool = False,
        timeout: Optional[Tuple[float, Optional[float]]] = None,
    ) -> Response:
        """Send one request; raise :class:`HTTPStatusError` for a non-2xx answer
        and urllib3's exceptions for network failures."""
        raise NotImplementedError


class HTTPTransport(Transport):
    """A :class:`Transport` over urllib3, configured from a
    ``kubernetes.client.Configuration`` (server, TLS, token, proxy)."""

    def __init__(self, configuration: Any) -> None:
        import urllib3

        self._cfg = configuration
        self._host = str(configuration.host).rstrip("/")
        kw: Dict[str, Any] = {"num_pools": 4, "maxsize": 16, "retries": False}
        if configuration.verify_ssl:
            kw["cert_reqs"] = "CERT_REQUIRED"
            ca = configuration.ssl_ca_cert
            if ca:
                kw["ca_certs"] = ca
            else:
                try:
                    import certifi

                    kw["ca_certs"] = certifi.where()
                except ImportError:  # pragma: no cover - the system store is used
                    pass
        else:
            kw["cert_reqs"] = "CERT_NONE"
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        if configuration.cert_file:
            kw["cert_file"] = configuration.cert_file
        if configuration.key_file:
            kw["key_file"] = configuration.key_file
        if getattr(configuration, "assert_hostname", None) is not None:
            kw["assert_hostname"] = configuration.assert_hostname
        if getattr(configuration, "tls_server_name", None):
            kw["server_hostname"] = configuration.tls_server_name
        proxy = getattr(configuration, "proxy", None)
        self._pool: Any
        if proxy:
            self._pool = urllib3.ProxyManager(proxy, proxy_headers=getattr(configuration, "proxy_headers", None), **kw)
        else:
            self._pool = urllib3.PoolManager(**kw)

    def _headers(self, body: Any) -> Dict[str, str]:
        h = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if body is not None:
            h["Content-Type"] = "application/json"
        for auth in (self._cfg.auth_settings() or {}).values():
            if auth.get("in") == "header" and auth.get("value"):
                h[str(auth["key"])] = str(auth["value"])
        return h

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Optional[Mapping[str, Any]] = None,
        body: Any = None,
        stream: bool = False,
        timeout: Optional[Tuple[float, Optional[float]]] = None,
    ) -> Response:
        import urllib3

        url = self._host + path
        if query:
            url += "?" + urlencode({k: v for k, v in query.items() if v is not None})
        connect, read = timeout or DEFAULT_TIMEOUT
        r = self._pool.request(
            method,
            url,
            body=json.dumps(body).encode("utf-8") if body is not None else None,
            headers=self._headers(body),
            timeout=urllib3.Timeout(connect=connect, read=read),
            preload_content=not stream,
            retries=False,
        )
        headers = {str(k): str(v) for k, v in r.headers.items()}
        if not 200 <= r.status <= 299:
            data = r.data if not stream else r.read()
            if stream:
                r.release_conn()
            raise HTTPStatusError(r.status, data or b"", headers)
        if stream:
            return Response(r.status, headers, b"", r)
        return Response(r.status, headers, r.data or b"")


# ---------------------------------------------------------------------------
# Discovery.


@dataclass(frozen=True)
class Discovery:
    """Where credentials and the default namespace come from.

    Attributes:
        source: ``"in-cluster"`` or ``"kubeconfig"``.
        namespace: the default namespace.
        kubeconfig: the kubeconfig path(s) (``KUBECONFIG`` syntax), or ``None`` in-cluster.
        context: the kubeconfig context used, or ``None``.
    """

    source: str
    namespace: str
    kubeconfig: Optional[str] = None
    context: Optional[str] = None


def in_cluster(environ: Mapping[str, str], service_account_dir: str = SERVICE_ACCOUNT_DIR) -> bool:
    """Whether this process runs in a pod with a service account token."""
    return bool(environ.get("KUBERNETES_SERVICE_HOST")) and os.path.isfile(os.path.join(service_account_dir, "token"))


def _namespace_file(service_account_dir: str) -> Optional[str]:
    try:
        with open(os.path.join(service_account_dir, "namespace"), encoding="utf-8") as f:
            ns = f.read().strip()
    except OSError:
        return None
    return ns or None


def kubeconfig_namespace(kubeconfig: Optional[str], context: Optional[str]) -> Tuple[str, Optional[str]]:
    """The namespace of a kubeconfig's context (the current one unless named),
    ``"default"`` when the context has none, and the context's name."""
    from kubernetes import config as kconfig

    contexts, active = kconfig.list_kube_config_contexts(config_file=kubeconfig)
    chosen = active
    if context:
        chosen = next((c for c in contexts or [] if c.get("name") == context), None)
        if chosen is None:
            names = ", ".join(sorted(str(c.get("name")) for c in contexts or []))
            raise ClusterUnreachableError(f"kubeconfig context {context!r} does not exist; the kubeconfig has: {names or 'none'}")
    if not chosen:
        raise ClusterUnreachableError("the kubeconfig has no current context: run `kubectl config use-context NAME` or pass context=")
    ns = ((chosen.get("context") or {}).get("namespace")) or "default"
    return str(ns), str(chosen.get("name") or "") or None


def discover(
    kubeconfig: Optional[str] = None,
    context: Optional[str] = None,
    *,
    environ: Optional[Mapping[str, str]] = None,
    service_account_dir: str = SERVICE_ACCOUNT_DIR,
    home: Optional[str] = None,
) -> Discovery:
    """Decide where credentials and the default namespace come from (see the
    module's docstring for the order). Reads files; makes no request."""
    env = os.environ if environ is None else environ
    explicit = kubeconfig or env.get("KUBECONFIG") or None
    if not explicit and not context and in_cluster(env, service_account_dir):
        return Discovery("in-cluster", _namespace_file(service_account_dir) or "default")
    path = explicit
    if not path:
        default = os.path.join(home or os.path.expanduser("~"), ".kube", "config")
        if not os.path.isfile(default):
            raise ClusterUnreachableError(
                "no cluster credentials found: not in a pod with a service account, KUBECONFIG is not set and "
                f"{default} does not exist; log in (oc login / kubectl config) or pass kubeconfig="
            )
        path = default
    ns, ctx = kubeconfig_namespace(path, context)
    return Discovery("kubeconfig", ns, path, ctx)


def load_configuration(d: Discovery, *, service_account_dir: str = SERVICE_ACCOUNT_DIR) -> Any:
    """Load a ``kubernetes.client.Configuration`` for a :class:`Discovery`."""
    from kubernetes import client as kclient
    from kubernetes import config as kconfig

    cfg = kclient.Configuration()
    try:
        if d.source == "in-cluster":
            if service_account_dir == SERVICE_ACCOUNT_DIR:
                kconfig.load_incluster_config(client_configuration=cfg)
            else:  # tests point it at a fake service account folder
                from kubernetes.config.incluster_config import InClusterConfigLoader

                InClusterConfigLoader(
                    token_filename=os.path.join(service_account_dir, "token"),
                    cert_filename=os.path.join(service_account_dir, "ca.crt"),
                ).load_and_set(cfg)
        else:
            kconfig.load_kube_config(config_file=d.kubeconfig, context=d.context, client_configuration=cfg)
    except kconfig.ConfigException as err:
        raise ClusterUnreachableError(f"loading cluster credentials ({d.source}): {err}") from err
    return cfg


# ---------------------------------------------------------------------------
# The client.


class TrainingClient:
    """A connection to one cluster, with a default namespace and a retry policy.

    Most code never builds one: :class:`~openshift_ai_sdk.training.MPIJob` uses
    :func:`default_client`. Build one to pick a kubeconfig, context or
    namespace, or to change retries::

        client = TrainingClient(context="prod", namespace="team-a")
        job = MPIJob("bert", image=..., command=..., client=client)

    Args:
        kubeconfig: a kubeconfig path; default: ``KUBECONFIG``, in-cluster, ``~/.kube/config``.
        context: a kubeconfig context; default: the current one.
        namespace: the default namespace; default: discovered (see the module).
        retry: how transient errors are retried.
        transport: the request sender; tests pass a fake.
    """

    def __init__(
        self,
        kubeconfig: Optional[str] = None,
        context: Optional[str] = None,
        namespace: Optional[str] = None,
        *,
        retry: Optional[RetryPolicy] = None,
        transport: Optional[Transport] = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        if transport is not None:
            self.discovery = Discovery("custom", namespace or "default")
            self.transport = transport
        else:
            self.discovery = discover(kubeconfig, context)
            self.transport = HTTPTransport(load_configuration(self.discovery))
        self.namespace = namespace or self.discovery.namespace

    def call(
        self,
        what: str,
        method: str,
        path: str,
        *,
        query: Optional[Mapping[str, Any]] = None,
        body: Any = None,
        stream: bool = False,
        timeout: Optional[Tuple[float, Optional[float]]] = None,
        on_retry: Optional[Callable[[int, BaseException, float], None]] = None,
    ) -> Response:
        """Send a request with retries; map failures to the SDK's exceptions.
        ``what`` says what the request does, for messages."""

        def once() -> Response:
            return self.transport.request(method, path, query=query, body=body, stream=stream, timeout=timeout)

        try:
            return self.retry.call(once, on_retry=on_retry)
        except HTTPStatusError as err:
            raise error_from_status(err.status, err.body, what=what, headers=err.headers) from None
        except TrainingError:
            raise
        except Exception as err:  # noqa: BLE001 - network failures
            if self.retry.is_transient(err) or _is_network_error(err):
                raise ClusterUnreachableError(
                    f"{what}: the API server could not be reached ({_short(err)}); check the network and that the cluster is up"
                ) from err
            raise

    def json(self, what: str, method: str, path: str, **kw: Any) -> Dict[str, Any]:
        """:meth:`call` and decode the JSON answer."""
        return self.call(what, method, path, **kw).json()


def _is_network_error(err: BaseException) -> bool:
    try:
        from urllib3 import exceptions as u3
    except ImportError:  # pragma: no cover
        return False
    return isinstance(err, (u3.HTTPError, OSError))


def _short(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    return text if len(text) < 300 else text[:297] + "..."


def mpijobs_path(namespace: Optional[str], name: Optional[str] = None) -> str:
    """The REST path of MPIJobs in a namespace (all namespaces for ``None``), or of one."""
    base = "/apis/kubeflow.org/v2beta1"
    path = f"{base}/namespaces/{quote(namespace, safe='')}/mpijobs" if namespace else f"{base}/mpijobs"
    return path + (f"/{quote(name, safe='')}" if name else "")


def core_path(namespace: str, resource: str, name: Optional[str] = None, sub: Optional[str] = None) -> str:
    """The REST path of a core/v1 resource in a namespace."""
    path = f"/api/v1/namespaces/{quote(namespace, safe='')}/{resource}"
    if name:
        path += f"/{quote(name, safe='')}"
    if sub:
        path += f"/{sub}"
    return path


_default: Optional[TrainingClient] = None
_default_lock = threading.Lock()


def default_client() -> TrainingClient:
    """The client jobs use unless given one: created on first use from the
    discovered credentials, then shared."""
    global _default
    with _default_lock:
        if _default is None:
            _default = TrainingClient()
        return _default


def configure(
    kubeconfig: Optional[str] = None,
    context: Optional[str] = None,
    namespace: Optional[str] = None,
    *,
    retry: Optional[RetryPolicy] = None,
) -> TrainingClient:
    """Replace the default client, e.g. to use another context or namespace for
    every job of a notebook. Returns the new client."""
    global _default
    c = TrainingClient(kubeconfig, context, namespace, retry=retry)
    with _default_lock:
        _default = c
    return c


def list_items(obj: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """The ``items`` of a list answer."""
    return [dict(i) for i in obj.get("items") or [] if isinstance(i, Mapping)]
