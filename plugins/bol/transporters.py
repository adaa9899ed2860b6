"""Carrier names → Bol transporter codes.

The current v10 spec types ``transporterCode`` as a free string, but bol only accepts the codes of its
own transporter list (the last spec that published it as an enum, v10 of 2024-01, is the source of
``TRANSPORTER_CODES``). Warehouses name carriers freely ("PostNL", "DHL Parcel", "dpd"), so the plugin
maps names here and refuses unknown ones before anything is sent: a wrong code would only fail later,
asynchronously, after the parcel left.
"""

from __future__ import annotations

import re

#: bol's transporter codes (ChangeTransportRequest.transporterCode enum, Retailer API v10, 2024-01)
TRANSPORTER_CODES: frozenset[str] = frozenset(
    {
        "AMPERE",
        "BPOST_BE",
        "BPOST_BRIEF",
        "BRIEFPOST",
        "BUDBEE",
        "COURIER",
        "CYCLOON",
        "DHL",
        "DHL-GLOBAL-MAIL",
        "DHL-SD",
        "DHLFORYOU",
        "DHL_DE",
        "DPD-BE",
        "DPD-NL",
        "DYL",
        "FEDEX_BE",
        "FEDEX_NL",
        "GLS",
        "OTHER",
        "PACKS",
        "PARCEL-NL",
        "PES",
        "TNT",
        "TNT-EXPRESS",
        "TNT-EXTRA",
        "TNT_BRIEF",
        "TRANSMISSION",
        "TRUNKRS",
        "TSN",
        "UPS",
    }
)

# Common carrier names as warehouses write them. Keys are normalised with ``_normalise``.
# TNT is PostNL at bol (PostNL bought TNT's Dutch parcel business; the code stayed).
_ALIASES: dict[str, str] = {
    "postnl": "TNT",
    "postnlparcel": "TNT",
    "postnlpakket": "TNT",
    "postnlbrievenbus": "TNT_BRIEF",
    "postnlbrievenbuspakje": "TNT_BRIEF",
    "postnlletterbox": "TNT_BRIEF",
    "postnlbrief": "TNT_BRIEF",
    "postnlextra": "TNT-EXTRA",
    "postnlextraathome": "TNT-EXTRA",
    "postnlexpress": "TNT-EXPRESS",
    "dhlparcel": "DHL",
    "dhlparcelnl": "DHL",
    "dhlforyou": "DHLFORYOU",
    "dhlgermany": "DHL_DE",
    "dhlde": "DHL_DE",
    "dhlpaket": "DHL_DE",
    "dhlsameday": "DHL-SD",
    "dhlglobalmail": "DHL-GLOBAL-MAIL",
    "dhlecommerce": "DHL-GLOBAL-MAIL",
    "dpd": "DPD-NL",
    "dpdnl": "DPD-NL",
    "dpdnederland": "DPD-NL",
    "dpdbe": "DPD-BE",
    "dpdbelgium": "DPD-BE",
    "dpdbelgie": "DPD-BE",
    "bpost": "BPOST_BE",
    "bpostbe": "BPOST_BE",
    "bpostbrief": "BPOST_BRIEF",
    "bpostletter": "BPOST_BRIEF",
    "fedex": "FEDEX_NL",
    "fedexnl": "FEDEX_NL",
    "fedexbe": "FEDEX_BE",
    "parcelnl": "PARCEL-NL",
    "unitedparcelservice": "UPS",
    "trunkrs": "TRUNKRS",
    "budbee": "BUDBEE",
    "cycloon": "CYCLOON",
    "koerier": "COURIER",
    "overig": "OTHER",
    "anders": "OTHER",
}


class UnknownCarrierError(ValueError):
    """The carrier has no bol transporter code (and no fallback was configured)."""

    def __init__(self, carrier: str) -> None:
        super().__init__(
            f"carrier {carrier!r} has no bol transporter code; use one of "
            f"{', '.join(sorted(TRANSPORTER_CODES))}, or set the connection's fallback_transporter_code"
        )
        self.carrier = carrier


def _normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


_BY_NORMALISED_CODE = {_normalise(code): code for code in TRANSPORTER_CODES}


def transporter_code(carrier: str, fallback: str | None = None) -> str:
    """Return bol's transporter code for a carrier name or code.

    :param fallback: a transporter code to use for carriers bol does not know (e.g. ``OTHER``);
        None (the default) refuses them, because bol cannot show tracking for a wrong carrier.
    :raises UnknownCarrierError: the carrier is unknown and there is no fallback.
    """
    key = _normalise(carrier)
    code = _BY_NORMALISED_CODE.get(key) or _ALIASES.get(key)
    if code is not None:
        return code
    if fallback:
        fallback_code = _BY_NORMALISED_CODE.get(_normalise(fallback))
        if fallback_code is None:
            raise ValueError(f"fallback transporter code {fallback!r} is not a bol transporter code")
        return fallback_code
    raise UnknownCarrierError(carrier)
