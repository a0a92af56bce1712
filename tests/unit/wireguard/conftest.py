"""Shared helpers for the WireGuard unit tests."""
from __future__ import annotations

import json
from typing import Any

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.fedmesh.cluster.plugins.module_utils.wireguard import keys


def run_module(main: Any, args: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """Run a module's main() with *args*; return its JSON result (``failed`` set on fail_json)."""
    capsys.readouterr()
    with patch_module_args(args), pytest.raises(SystemExit):
        main()
    out = capsys.readouterr().out
    return json.loads(out)


@pytest.fixture
def keypair() -> Any:
    def make() -> tuple[str, str]:
        priv = keys.generate_private_key()
        return priv, keys.public_key(priv)

    return make
