from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    # Scenario events are backdated, but the accounts a test signs in with emit
    # events stamped "now": without this they would hold the rollups back.
    return {"METRICS_SETTLE_SECONDS": 0}
