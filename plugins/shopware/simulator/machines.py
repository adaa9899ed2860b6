"""The default state machines, transition tables as shopware/docs draws them.

Source: shopware/docs ``concepts/commerce/checkout-concept/orders.md``. Note there is no
``ship_partially`` out of ``shipped_partially``: a second partial shipment changes no state.
"""

from __future__ import annotations

from dataclasses import dataclass

from kade.plugins.shopware.simulator.errors import ShopwareError


@dataclass(frozen=True)
class Machine:
    technical_name: str
    states: tuple[str, ...]
    #: state → transition → next state
    transitions: dict[str, dict[str, str]]

    def possible(self, state: str) -> list[str]:
        return sorted(self.transitions.get(state, {}))

    def apply(self, state: str, transition: str, state_id: str) -> str:
        """The next state, or Shopware's 400 ``SYSTEM__ILLEGAL_STATE_TRANSITION`` (no side effect)."""
        target = self.transitions.get(state, {}).get(transition)
        if target is None:
            possible = self.possible(state)
            text = ", ".join(possible)
            raise ShopwareError(
                400, "SYSTEM__ILLEGAL_STATE_TRANSITION",
                f'Illegal transition "{transition}" from state "{state_id}". Possible transitions are: {text}',
                meta={"parameters": {"transition": transition, "currentState": state_id,
                                     "possibleTransitionsString": text, "possibleTransitions": possible}})
        return target


ORDER = Machine("order.state", ("open", "in_progress", "completed", "cancelled"), {
    "open": {"process": "in_progress", "cancel": "cancelled"},
    "in_progress": {"cancel": "cancelled", "complete": "completed"},
    "cancelled": {"reopen": "open"},
    "completed": {"reopen": "open"},
})

DELIVERY = Machine(
    "order_delivery.state",
    ("open", "shipped", "shipped_partially", "returned", "returned_partially", "cancelled"),
    {
        "open": {"ship": "shipped", "ship_partially": "shipped_partially", "cancel": "cancelled"},
        "shipped": {"retour": "returned", "retour_partially": "returned_partially", "cancel": "cancelled",
                    "reopen": "open"},
        "shipped_partially": {"ship": "shipped", "retour": "returned", "retour_partially": "returned_partially",
                              "cancel": "cancelled", "reopen": "open"},
        "returned": {"reopen": "open"},
        "returned_partially": {"retour": "returned", "reopen": "open"},
        "cancelled": {"reopen": "open"},
    },
)

TRANSACTION = Machine(
    "order_transaction.state",
    ("open", "in_progress", "paid", "paid_partially", "authorized", "failed", "cancelled", "reminded", "refunded",
     "refunded_partially", "chargeback", "unconfirmed"),
    {
        "open": {"pay": "paid", "paid": "paid", "pay_partially": "paid_partially", "paid_partially": "paid_partially",
                 "do_pay": "in_progress", "authorize": "authorized", "fail": "failed", "cancel": "cancelled",
                 "remind": "reminded", "process_unconfirmed": "unconfirmed"},
        "in_progress": {"pay": "paid", "paid": "paid", "fail": "failed", "cancel": "cancelled"},
        "paid": {"refund": "refunded", "refund_partially": "refunded_partially", "cancel": "cancelled",
                 "chargeback": "chargeback", "reopen": "open"},
        "cancelled": {"reopen": "open"},
        "failed": {"reopen": "open", "pay": "paid"},
    },
)

MACHINES = {m.technical_name: m for m in (ORDER, DELIVERY, TRANSACTION)}
