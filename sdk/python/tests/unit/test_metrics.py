"""ThroughputReporter: the gauges docs/observability.md defines, in Prometheus'
text format, over HTTP and in a text file."""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Dict, Optional, Tuple

import pytest
from prometheus_client.parser import text_string_to_metric_families

from openshift_ai_sdk.training.metrics import (
    ThroughputReporter,
    default_address,
    job_name_from_host,
    mpi_rank,
    render,
    world_size,
)

# The series the platform's recording rules read (rules/rules.go).
GAUGES = {
    "mpijob_training_samples_per_second",
    "mpijob_training_workers",
    "mpijob_training_baseline_samples_per_second",
}


def parse(text: str) -> Dict[str, float]:
    """Parse with Prometheus' own client parser; {name: value} of mpijob="resnet" samples."""
    out: Dict[str, float] = {}
    for fam in text_string_to_metric_families(text):
        assert fam.type == "gauge", fam
        for s in fam.samples:
            assert s.labels == {"mpijob": "resnet"}, s
            out[s.name] = s.value
    return out


def test_render_is_valid_exposition_with_the_documented_names() -> None:
    text = render("resnet", 8160, 8, 1200)
    assert parse(text) == {
        "mpijob_training_samples_per_second": 8160.0,
        "mpijob_training_workers": 8.0,
        "mpijob_training_baseline_samples_per_second": 1200.0,
    }
    assert set(parse(text)) == GAUGES
    # The worked example of docs/observability.md: 8160 / (8 x 1200) = 0.85.
    v = parse(text)
    assert v["mpijob_training_samples_per_second"] / (v["mpijob_training_workers"] * v["mpijob_training_baseline_samples_per_second"]) == pytest.approx(0.85)


def test_unknown_gauges_are_left_out_and_labels_escaped() -> None:
    assert [f.name for f in text_string_to_metric_families(render("resnet", 10.5))] == ["mpijob_training_samples_per_second"]
    fams = list(text_string_to_metric_families(render('we"ird\\name', 1)))
    assert fams[0].samples[0].labels == {"mpijob": 'we"ird\\name'}


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_rate_from_records_over_the_window() -> None:
    clock = Clock()
    r = ThroughputReporter("resnet", workers=8, window_seconds=10, clock=clock, environ={})
    assert r.samples_per_second == 0.0
    r.record(512)  # the end of the first batch: its start is unknown
    assert r.samples_per_second == 0.0
    for _ in range(4):
        clock.t += 0.5
        r.record(512)
    assert r.samples_per_second == pytest.approx(1024.0)  # 4 x 512 in 2 s
    for _ in range(40):
        clock.t += 0.5
        r.record(256)
    assert r.samples_per_second == pytest.approx(512.0)  # the window holds only the slower batches
    clock.t += 5  # training stalls: the rate decays
    assert r.samples_per_second == pytest.approx(256.0)
    clock.t += 60
    assert r.samples_per_second == 0.0
    r.set_samples_per_second(99.5)
    assert r.samples_per_second == 99.5


def test_http_endpoint_serves_the_gauges_on_loopback() -> None:
    clock = Clock()
    with ThroughputReporter("resnet", workers=8, baseline_samples_per_second=1200, port=0, clock=clock, environ={}) as r:
        r.set_samples_per_second(8160)
        assert r.url is not None and r.url.startswith("http://127.0.0.1:")
        assert r.address == "127.0.0.1"
        with urllib.request.urlopen(r.url, timeout=5) as resp:
            assert resp.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
            body = resp.read().decode()
        assert parse(body)["mpijob_training_samples_per_second"] == 8160.0
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(r.url.replace("/metrics", "/other"), timeout=5)
        assert err.value.code == 404
    assert r.url is None


def test_textfile_is_rewritten_on_every_update(tmp_path: Path) -> None:
    path = tmp_path / "mpijob.prom"
    r = ThroughputReporter("resnet", workers=4, serve=False, textfile=str(path), environ={}).start()
    assert parse(path.read_text()) == {"mpijob_training_samples_per_second": 0.0, "mpijob_training_workers": 4.0}
    r.set_baseline(300)
    r.set_samples_per_second(1000)
    assert parse(path.read_text())["mpijob_training_baseline_samples_per_second"] == 300.0
    assert parse(path.read_text())["mpijob_training_samples_per_second"] == 1000.0
    assert list(tmp_path.iterdir()) == [path]


def test_only_rank_zero_serves() -> None:
    other = ThroughputReporter("resnet", port=0, environ={"OMPI_COMM_WORLD_RANK": "3", "OMPI_COMM_WORLD_SIZE": "16"}).start()
    assert other.url is None and not other.active and other.workers == 16
    zero = ThroughputReporter("resnet", port=0, environ={"PMI_RANK": "0", "PMI_SIZE": "8"}).start()
    try:
        assert zero.url is not None and zero.workers == 8
    finally:
        zero.stop()


@pytest.mark.parametrize(
    ("env", "rank", "size"),
    [
        ({}, None, None),
        ({"OMPI_COMM_WORLD_RANK": "2", "OMPI_COMM_WORLD_SIZE": "4"}, 2, 4),
        ({"PMI_RANK": "1", "PMI_SIZE": "2"}, 1, 2),
        ({"RANK": "0", "WORLD_SIZE": "8"}, 0, 8),
    ],
)
def test_rank_and_world_size_from_the_environment(env: Dict[str, str], rank: Optional[int], size: Optional[int]) -> None:
    assert mpi_rank(env) == rank and world_size(env) == size


@pytest.mark.parametrize(
    ("host", "job"),
    [("bert-launcher", "bert"), ("bert-worker-12", "bert"), ("my-job-2-worker-0", "my-job-2"), ("laptop", None), ("bert-launcher-abcde", "bert")],
)
def test_job_name_from_the_pod_hostname(host: str, job: Optional[str]) -> None:
    assert job_name_from_host(host) == job


def test_the_job_name_is_needed() -> None:
    with pytest.raises(ValueError, match="mpijob"):
        ThroughputReporter(environ={}, hostname="laptop")
    assert ThroughputReporter(environ={"MPIJOB_NAME": "from-env"}, hostname="laptop").mpijob == "from-env"
    assert ThroughputReporter(environ={}, hostname="bert-worker-0").mpijob == "bert"


@pytest.mark.parametrize(
    ("env", "want"),
    [
        ({}, ("127.0.0.1", 9464)),
        ({"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, ("0.0.0.0", 9464)),
        ({"MPIJOB_METRICS_ADDRESS": "127.0.0.2:9000"}, ("127.0.0.2", 9000)),
        ({"MPIJOB_METRICS_ADDRESS": ":9100", "KUBERNETES_SERVICE_HOST": "x"}, ("0.0.0.0", 9100)),
        ({"MPIJOB_METRICS_ADDRESS": "[::1]:9200"}, ("::1", 9200)),
    ],
)
def test_default_address(env: Dict[str, str], want: Tuple[str, int]) -> None:
    assert default_address(env) == want


def test_default_address_in_an_mpijob_pod_without_the_kubernetes_environment() -> None:
    # Ranks started through SSH get sshd's environment: the pod's host name
    # still tells where they run.
    assert default_address({}, "train-worker-0") == ("0.0.0.0", 9464)
    assert default_address({}, "train-launcher") == ("0.0.0.0", 9464)
    assert default_address({}, "laptop") == ("127.0.0.1", 9464)


def test_negative_samples_are_refused() -> None:
    r = ThroughputReporter("resnet", environ={})
    with pytest.raises(ValueError):
        r.record(-1)
    with pytest.raises(ValueError):
        r.set_samples_per_second(-1)

