"""Every BATCHMILL_* variable the deployment files set (Dockerfile, compose.yaml, the Helm
chart) is one the application reads: a misspelt name would be silently ignored."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NAME = re.compile(r"\bBATCHMILL_[A-Z0-9_]*[A-Z0-9]\b")
DEPLOY_FILES = [ROOT / "Dockerfile", ROOT / "compose.yaml",
                *sorted((ROOT / "helm" / "batchmill" / "templates").glob("*"))]
# Set by the deployment files for their own use, not read by the application.
NOT_APP_SETTINGS = {
    "BATCHMILL_IMAGE", "BATCHMILL_API_PORT", "BATCHMILL_WORKER_STOP_GRACE",
    "BATCHMILL_SIMULATOR_PUBLISH_PORT",
}


def app_names() -> set[str]:
    return {name for path in (ROOT / "app").rglob("*.py") for name in NAME.findall(path.read_text())}


@pytest.mark.parametrize("path", DEPLOY_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_deployment_sets_only_variables_the_app_reads(path: Path) -> None:
    unknown = set(NAME.findall(path.read_text())) - app_names() - NOT_APP_SETTINGS
    assert not unknown, f"{path.name} sets variables the application never reads: {unknown}"
