"""Cut the part of Magento's official admin REST description that the simulator serves.

The official ``admin-schema-2.4.9.yaml`` (AdobeDocs/commerce-webapi) is 1.1 MB of YAML; the
simulator ships only the operations it implements and the definitions they reach, as gzipped
JSON, so it validates every exchange without a YAML parser or the shared folder at run time.
Regenerate with::

    python -m kade.plugins.magento.simulator.extract ../shared/specs/magento-admin-rest-2.4.9.yaml

``tests/plugins/magento/test_magento_spec.py`` checks the shipped extract against the official file.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path
from typing import Any

#: (path template, method) of every operation the simulator serves
OPERATIONS: tuple[tuple[str, str], ...] = (
    ("/V1/orders", "get"),
    ("/V1/orders/{id}", "get"),
    ("/V1/orders/{id}/cancel", "post"),
    ("/V1/order/{orderId}/ship", "post"),
    ("/V1/order/{orderId}/invoice", "post"),
    ("/V1/shipments", "get"),
    ("/V1/shipment/{id}", "get"),
    ("/V1/invoices", "get"),
    ("/V1/products", "get"),
    ("/V1/products/{sku}", "get"),
    ("/V1/inventory/sources", "get"),
    ("/V1/inventory/source-items", "get"),
    ("/V1/inventory/source-items", "post"),
    ("/V1/stockItems/{productSku}", "get"),
    ("/V1/products/{productSku}/stockItems/{itemId}", "put"),
    ("/V1/store/storeConfigs", "get"),
)

EXTRACT = Path(__file__).with_name("admin-2.4.9-subset.json.gz")


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/definitions/"):
            found.add(ref.removeprefix("#/definitions/"))
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def cut(spec: dict[str, Any]) -> dict[str, Any]:
    """The served operations, verbatim, plus the closure of the definitions they reference."""
    paths: dict[str, dict[str, Any]] = {}
    for template, method in OPERATIONS:
        paths.setdefault(template, {})[method] = spec["paths"][template][method]
    wanted: set[str] = set()
    _refs(paths, wanted)
    wanted.add("error-response")
    definitions: dict[str, Any] = {}
    pending = sorted(wanted)
    while pending:
        name = pending.pop()
        if name in definitions:
            continue
        definitions[name] = spec["definitions"][name]
        more: set[str] = set()
        _refs(definitions[name], more)
        pending.extend(sorted(more - set(definitions)))
    return {
        "swagger": spec["swagger"],
        "info": {"version": spec["info"]["version"], "title": spec["info"]["title"]},
        "basePath": spec["basePath"],
        "paths": paths,
        #: every operation of the full spec, so an unimplemented one is told apart from a wrong URL
        "all_operations": sorted([m.upper(), t] for t, ms in spec["paths"].items() for m in ms),
        "definitions": dict(sorted(definitions.items())),
    }


def load_yaml(path: Path) -> dict[str, Any]:
    import yaml  # only for regenerating and for the spec check, never at run time

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open(encoding="utf-8") as handle:
        data: dict[str, Any] = yaml.load(handle, Loader=loader)
    return data


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise SystemExit("usage: python -m kade.plugins.magento.simulator.extract <admin-schema-2.4.9.yaml>")
    subset = cut(load_yaml(Path(args[0])))
    EXTRACT.write_bytes(gzip.compress(json.dumps(subset, sort_keys=True).encode(), mtime=0))
    print(f"{EXTRACT}: {sum(len(m) for m in subset['paths'].values())} operations, "
          f"{len(subset['definitions'])} definitions")


if __name__ == "__main__":
    main()
