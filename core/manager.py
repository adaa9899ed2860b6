"""The plugin manager: loading, validation, the platform registry and the typed facade.

Pluggy calls every implementation of a hook; Kade must call only the plugin that owns a
connection's platform (pluggy#281). ``Platform`` is a typed facade whose methods route each
call through ``PluginManager.subset_hook_caller`` to that one plugin.

Loading is lazy and defensive: a plugin that fails to import or to validate is skipped with a
warning naming it (``KADE_PLUGINS_STRICT=1`` turns that into an error, for CI).
"""

from __future__ import annotations

import importlib.metadata as md
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import httpx
import pluggy

from kade import hookspecs
from kade.errors import KadeError, PlatformConflictError, PluginLoadError, UserError
from kade.httpkit import map_transport_error
from kade.logs import get_logger
from kade.types import (
    CancelRequest,
    CancelResult,
    ConnectionContext,
    ConnectionTestResult,
    MigrationResult,
    OrderPage,
    OrderQuery,
    PlatformSpec,
    ProductPage,
    ShipmentRequest,
    ShipmentResult,
    StockPage,
    StockResult,
    StockUpdate,
    WebhookEvent,
)

ENTRY_POINT_GROUP = "kade"
#: operations that change the store (a raw timeout inside one is an unknown outcome)
WRITE_OPERATIONS = frozenset({"push_stock", "report_shipment", "cancel_order", "migrate_connection"})
OPERATIONS = (
    "import_orders",
    "read_products",
    "read_stock",
    "push_stock",
    "report_shipment",
    "check_shipment",
    "cancel_order",
    "check_connection",
    "migrate_connection",
    "verify_webhook",
    "parse_webhook",
)
#: hook → the hook a platform implementing it must also have: ``check_shipment`` is what keeps a
#: retried shipment from being reported twice
REQUIRED_WITH = {"report_shipment": ("check_shipment",)}
#: capability → the hooks a platform declaring it must implement
CAPABILITY_HOOKS = {
    "stock_read": ("read_stock",),
    "cancel_order": ("cancel_order",),
    "webhooks": ("verify_webhook", "parse_webhook"),
}
#: hook → its deprecated old name, called instead when a plugin implements only the old one
RENAMED_HOOKS = {"read_products": "import_products"}
log = get_logger(__name__)
T = TypeVar("T")


def with_renamed(present: set[str]) -> set[str]:
    """The hooks a plugin has, counting an old hook name as its new one (a plugin written
    against ``import_products`` has ``read_products`` for every check that asks)."""
    return present | {new for new, old in RENAMED_HOOKS.items() if old in present}


def missing_hooks(spec: PlatformSpec, present: set[str]) -> list[str]:
    """What a platform lacks for its contract: required hooks and the hooks of declared capabilities."""
    problems = [f"{name} (required with {hook})" for hook, needed in REQUIRED_WITH.items() if hook in present
                for name in needed if name not in present]
    for capability, hooks in CAPABILITY_HOOKS.items():
        if getattr(spec.capabilities, capability):
            problems += [f"{name} (it declares {capability}=True)" for name in hooks if name not in present]
    return problems


class PluginLoadWarning(UserWarning):
    """A plugin was skipped because it could not be loaded."""


class UnsupportedOperation(UserError):
    """The platform's plugin does not implement the operation asked for."""


class PluginContractError(KadeError):
    """A plugin returned something other than what its hook promises."""


class BatchSizeError(KadeError):
    """The core asked a plugin for more at once than the platform's declared batch size: a fault
    in the core's batching, not in the plugin (which is why it is no ``PluginContractError``)."""


@dataclass
class PluginFailure:
    name: str
    distribution: str | None
    error: str


@dataclass
class PluginInfo:
    name: str
    distribution: str | None
    version: str | None
    hooks: list[str]
    platforms: list[str] = field(default_factory=list)


class KadePluginManager(pluggy.PluginManager):
    """A pluggy manager with Kade's specs, defensive entry-point loading and a platform registry."""

    def __init__(self, *, strict: bool = False) -> None:
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        self.strict = strict
        self.failures: list[PluginFailure] = []
        self._dists: dict[str, md.Distribution] = {}
        self._platforms: dict[str, Platform] | None = None

    # -- loading ---------------------------------------------------------------------------

    def load_entrypoints(self, group: str = ENTRY_POINT_GROUP, *, disabled: Iterable[str] = ()) -> None:
        """Load every plugin of the entry-point group, isolating each plugin's failure."""
        for name in disabled:
            self.set_blocked(name)
        seen: set[str] = set()
        for ep in md.entry_points(group=group):
            if ep.name in seen or self.is_blocked(ep.name) or self.get_plugin(ep.name) is not None:
                continue
            seen.add(ep.name)
            dist = ep.dist
            try:
                plugin = ep.load()
                self.register(plugin, name=ep.name)
            except Exception as exc:
                self._fail(ep.name, dist.name if dist else None, f"{type(exc).__name__}: {exc}", exc)
                continue
            if dist is not None:
                self._dists[ep.name] = dist
        self.validate()

    def validate(self) -> None:
        """Run pluggy's ``check_pending`` and drop (or, strict, reject) plugins that fail it."""
        while True:
            try:
                self.check_pending()
                return
            except pluggy.PluginValidationError as exc:
                name = self.get_name(exc.plugin) or repr(exc.plugin)
                self._fail(name, self._dist_name(name), str(exc), exc)
                self.unregister(exc.plugin)

    def _fail(self, name: str, dist: str | None, error: str, exc: BaseException) -> None:
        where = f" (from {dist})" if dist else ""
        message = f"plugin {name!r}{where} was not loaded: {error}"
        if self.strict:
            raise PluginLoadError(message) from exc
        self.failures.append(PluginFailure(name, dist, error))
        warnings.warn(message, PluginLoadWarning, stacklevel=3)

    def register(self, plugin: object, name: str | None = None) -> str | None:
        self._platforms = None
        return super().register(plugin, name)

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any:
        self._platforms = None
        return super().unregister(plugin, name)

    def _dist_name(self, plugin_name: str) -> str | None:
        dist = self._dists.get(plugin_name)
        return dist.metadata["Name"] if dist is not None else None

    # -- the platform registry --------------------------------------------------------------

    def platforms(self) -> dict[str, Platform]:
        """Every registered platform by name; raises when two plugins claim the same name."""
        if self._platforms is not None:
            return self._platforms
        found: dict[str, Platform] = {}
        for impl in self.hook.kade_register_platforms.get_hookimpls():
            try:
                specs: list[Any] = list(cast(Iterable[Any], impl.function()))
                for spec in specs:
                    if not isinstance(spec, PlatformSpec):
                        raise PluginContractError(
                            f"kade_register_platforms returned {type(spec).__name__}, not PlatformSpec"
                        )
            except PluginContractError as exc:
                self._fail(impl.plugin_name, self._dist_name(impl.plugin_name), str(exc), exc)
                continue
            except Exception as exc:
                self._fail(impl.plugin_name, self._dist_name(impl.plugin_name), f"{type(exc).__name__}: {exc}",
                           exc)
                continue
            present = with_renamed({caller.name for caller in self.get_hookcallers(impl.plugin) or []})
            lacking = {spec.name: missing_hooks(spec, present) for spec in specs}
            if any(lacking.values()):
                text = "; ".join(f"platform {name!r} lacks {', '.join(what)}" for name, what in lacking.items() if what)
                self._fail(impl.plugin_name, self._dist_name(impl.plugin_name), text, PluginContractError(text))
                continue
            for spec in specs:
                if spec.name in found:
                    other = found[spec.name]
                    raise PlatformConflictError(
                        f"two plugins claim the platform {spec.name!r}: "
                        f"{other.plugin_name} (package {other.distribution or 'unknown'}) and "
                        f"{impl.plugin_name} (package {self._dist_name(impl.plugin_name) or 'unknown'}); "
                        "uninstall or disable one (KADE_DISABLED_PLUGINS)"
                    )
                found[spec.name] = Platform(self, spec, impl.plugin, impl.plugin_name)
        self._platforms = found
        return found

    def platform(self, name: str) -> Platform:
        platforms = self.platforms()
        try:
            return platforms[name]
        except KeyError:
            known = ", ".join(sorted(platforms)) or "none"
            raise UserError(f"unknown platform {name!r} (installed: {known})") from None

    def plugin_infos(self) -> list[PluginInfo]:
        """Installed plugins with versions, hooks and platforms (for ``kade plugins list``)."""
        by_plugin: dict[str, list[str]] = {}
        for platform in self.platforms().values():
            by_plugin.setdefault(platform.plugin_name, []).append(platform.spec.name)
        infos = []
        for name, plugin in self.list_name_plugin():
            dist = self._dists.get(name)
            hooks = sorted(caller.name for caller in self.get_hookcallers(plugin) or [])
            infos.append(
                PluginInfo(
                    name=name,
                    distribution=dist.metadata["Name"] if dist else None,
                    version=dist.version if dist else None,
                    hooks=hooks,
                    platforms=by_plugin.get(name, []),
                )
            )
        return sorted(infos, key=lambda info: info.name)


class Platform:
    """The typed facade of one platform: every call reaches only its own plugin."""

    def __init__(self, pm: KadePluginManager, spec: PlatformSpec, plugin: object, plugin_name: str) -> None:
        self._pm = pm
        self.spec = spec
        self.plugin = plugin
        self.plugin_name = plugin_name
        self.distribution = pm._dist_name(plugin_name)
        self._callers: dict[str, Any] = {}

    @property
    def name(self) -> str:
        return self.spec.name

    def supports(self, operation: str) -> bool:
        return self._hook_for(operation) is not None

    def _implements(self, hook: str) -> bool:
        caller = getattr(self._pm.hook, hook)
        return any(impl.plugin is self.plugin for impl in caller.get_hookimpls())

    def _hook_for(self, operation: str) -> str | None:
        """The hook that carries ``operation`` for this plugin: its own name, else the deprecated
        old name the plugin still implements (see ``RENAMED_HOOKS``), else None."""
        if self._implements(operation):
            return operation
        old = RENAMED_HOOKS.get(operation)
        return old if old is not None and self._implements(old) else None

    def _call(self, operation: str, **kwargs: Any) -> Any:
        hook = self._hook_for(operation)
        if hook is None:
            raise UnsupportedOperation(f"platform {self.name!r} does not support {operation}")
        caller = self._callers.get(operation)
        if caller is None:
            others = [p for p in self._pm.get_plugins() if p is not self.plugin and self._is_platform(p)]
            caller = self._pm.subset_hook_caller(hook, remove_plugins=others)
            self._callers[operation] = caller
        try:
            return caller(**kwargs)
        except httpx.HTTPError as exc:
            # A raw httpx failure a plugin let through becomes the typed error here, once, so the
            # import, stock, shipment and cancel paths all retry and record it alike. For an
            # operation that changes the store, a lost answer may hide an applied change.
            raise map_transport_error(exc, write=operation in WRITE_OPERATIONS,
                                      what=self.name) from exc

    def _is_platform(self, plugin: object) -> bool:
        return any(p.plugin is plugin for p in self._pm.platforms().values())

    def _expect(self, operation: str, value: Any, kind: type[T]) -> T:
        if not isinstance(value, kind):
            raise PluginContractError(
                f"{self.plugin_name}.{operation} returned {type(value).__name__}, expected {kind.__name__}"
            )
        return value

    # -- operations ---------------------------------------------------------------------------

    def import_orders(self, ctx: ConnectionContext, query: OrderQuery) -> OrderPage:
        return self._expect("import_orders", self._call("import_orders", ctx=ctx, query=query), OrderPage)

    def read_products(self, ctx: ConnectionContext, page_token: str | None) -> ProductPage:
        result = self._call("read_products", ctx=ctx, page_token=page_token)
        return self._expect(self._hook_for("read_products") or "read_products", result, ProductPage)

    def read_stock(self, ctx: ConnectionContext, page_token: str | None) -> StockPage:
        return self._expect("read_stock", self._call("read_stock", ctx=ctx, page_token=page_token), StockPage)

    def push_stock(self, ctx: ConnectionContext, updates: Sequence[StockUpdate]) -> list[StockResult]:
        limit = self.spec.capabilities.stock_batch_size
        if len(updates) > limit:
            raise BatchSizeError(f"{len(updates)} stock updates exceed {self.name}'s batch size {limit}")
        results = list(self._call("push_stock", ctx=ctx, updates=list(updates)) or [])
        for item in results:
            self._expect("push_stock", item, StockResult)
        return results

    def report_shipment(self, ctx: ConnectionContext, shipment: ShipmentRequest) -> ShipmentResult:
        result = self._call("report_shipment", ctx=ctx, shipment=shipment)
        return self._expect("report_shipment", result, ShipmentResult)

    def check_shipment(
        self, ctx: ConnectionContext, shipment: ShipmentRequest, remote_reference: str | None
    ) -> ShipmentResult | None:
        result = self._call("check_shipment", ctx=ctx, shipment=shipment, remote_reference=remote_reference)
        return None if result is None else self._expect("check_shipment", result, ShipmentResult)

    def cancel_order(self, ctx: ConnectionContext, request: CancelRequest) -> CancelResult:
        return self._expect("cancel_order", self._call("cancel_order", ctx=ctx, request=request), CancelResult)

    def check_connection(self, ctx: ConnectionContext) -> ConnectionTestResult:
        result = self._call("check_connection", ctx=ctx)
        return self._expect("check_connection", result, ConnectionTestResult)

    def migrate_connection(
        self, ctx: ConnectionContext, target_auth_method: str, new_credentials: Mapping[str, str]
    ) -> MigrationResult:
        if target_auth_method not in self.spec.auth_methods:
            raise UserError(
                f"platform {self.name!r} has no auth method {target_auth_method!r} "
                f"(known: {', '.join(self.spec.auth_methods)})"
            )
        result = self._call(
            "migrate_connection", ctx=ctx, target_auth_method=target_auth_method, new_credentials=new_credentials
        )
        return self._expect("migrate_connection", result, MigrationResult)

    def verify_webhook(self, ctx: ConnectionContext, headers: Mapping[str, str], body: bytes) -> bool:
        return bool(self._call("verify_webhook", ctx=ctx, headers=headers, body=body))

    def parse_webhook(self, ctx: ConnectionContext, headers: Mapping[str, str], body: bytes) -> WebhookEvent | None:
        result = self._call("parse_webhook", ctx=ctx, headers=headers, body=body)
        return None if result is None else self._expect("parse_webhook", result, WebhookEvent)


def make_plugin_manager(
    *,
    load_entrypoints: bool = True,
    strict: bool = False,
    disabled: Iterable[str] = (),
    plugins: Iterable[tuple[object, str]] = (),
    trace: bool = False,
) -> KadePluginManager:
    """Build a plugin manager (a factory, never a module global).

    :param plugins: extra ``(plugin, name)`` pairs to register, e.g. test plugins.
    :param trace: log every hook call with the plugin that answered.
    """
    pm = KadePluginManager(strict=strict)
    for plugin, name in plugins:
        pm.register(plugin, name=name)
    if load_entrypoints:
        pm.load_entrypoints(disabled=disabled)
    else:
        pm.validate()
    if trace:

        def before(hook_name: str, impls: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
            log.debug("hook_call", hook=hook_name, plugins=[impl.plugin_name for impl in impls])

        def after(outcome: Any, hook_name: str, impls: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
            log.debug("hook_done", hook=hook_name, ok=outcome.exception is None)

        pm.add_hookcall_monitoring(before, after)
    return pm
