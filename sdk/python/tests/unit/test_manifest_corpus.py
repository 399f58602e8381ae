"""The SDK reads the same manifests as the CLI (testdata/manifests): ok-* load, bad-* raise ValidationError."""

from __future__ import annotations

from pathlib import Path

import pytest

from openshift_ai_sdk.training import MPIJob, ValidationError

CORPUS = Path(__file__).resolve().parents[4] / "testdata" / "manifests"
FILES = sorted(CORPUS.glob("*.yaml"))


def test_corpus_is_there() -> None:
    assert len(FILES) >= 8, CORPUS


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_manifest_verdict(path: Path) -> None:
    if path.name.startswith("bad-"):
        with pytest.raises(ValidationError):
            MPIJob.from_yaml(path)
    else:
        job = MPIJob.from_yaml(path)
        assert job.to_dict()["kind"] == "MPIJob"
