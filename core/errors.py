"""Typed errors.

Plugins raise the ``PlatformError`` family so the core can decide what to do (retry, back off,
mark a connection ``needs_reauth``, notify) without parsing messages. ``UserError`` is what the
CLI turns into one line on stderr with exit code 2.
"""

from __future__ import annotations


class KadeError(Exception):
    """Base of every error Kade raises on purpose."""


class UserError(KadeError):
    """Something the operator asked for cannot be done; the message says what and why."""


class ConfigError(UserError):
    """Settings, keys or the database are not in a usable state."""


class SecretKeyError(ConfigError):
    """Stored credentials cannot be decrypted with the configured key."""


class OriginError(KadeError):
    """A shipment or cancellation was aimed at a connection the order did not come from (rule R1)."""


class PluginLoadError(KadeError):
    """A plugin could not be loaded or registered."""


class PlatformConflictError(PluginLoadError):
    """Two plugins claim the same platform name."""


class PlatformError(KadeError):
    """An error reported by (or on the way to) a store. Raised by plugins, handled by the core."""

    #: short machine-readable kind, stored on actions and events
    kind: str = "platform"

    def __init__(self, message: str, *, status_code: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code


class AuthRejected(PlatformError):
    """The store refused our credentials. The connection needs re-authorisation; retrying won't help."""

    kind = "auth"


class RateLimited(PlatformError):
    """The store asked us to slow down. ``retry_after`` is in seconds."""

    kind = "rate_limited"

    def __init__(
        self,
        message: str = "rate limited by the store",
        *,
        retry_after: float = 1.0,
        status_code: int | None = 429,
        code: str | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, code=code)
        self.retry_after = retry_after


class TransientError(PlatformError):
    """A failure that may go away on its own: 5xx, timeouts, connection resets."""

    kind = "transient"


class OutcomeUnknown(TransientError):
    """The request may or may not have reached the store (e.g. a timeout after sending).

    The core must ask the store for the current state before sending again.
    """

    kind = "unknown_outcome"


class RejectedByStore(PlatformError):
    """A permanent, business-level refusal; ``code`` and the message carry the store's reason."""

    kind = "rejected"


class NotFound(PlatformError):
    """The remote object does not exist (any more)."""

    kind = "not_found"


class WebhookRejected(KadeError):
    """A webhook delivery failed verification (bad or missing signature)."""


class NotFoundError(UserError):
    """The object asked for does not exist — or belongs to another tenant, which looks the same."""


class ConflictError(UserError):
    """The request contradicts one made before (an idempotency key reused with another body)."""
