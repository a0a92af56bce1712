"""fedmesh federated-learning aggregator.

Subpackages and modules:

* ``fedmesh_fl.core``    -- NumPy aggregation core (rules, model spec, round aggregators)
* ``fedmesh_fl.wire``    -- compact binary payload format for models and updates
* ``fedmesh_fl.service`` -- aiohttp aggregation service (``python3 -m fedmesh_fl.service --config FILE``)
* ``fedmesh_fl.client``  -- stdlib-only client library and CLI (``python3 -m fedmesh_fl.client``)
* ``fedmesh_fl.train``   -- tiny NumPy softmax model and the federated demo client loop
"""
from __future__ import annotations

__version__ = "0.1.0"
