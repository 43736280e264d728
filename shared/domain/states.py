"""Every state name of every process, exactly as the API, the documents and the emails show them."""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    """A delivery's state; the API, the documents and the emails use these names."""

    AWAITING_DEMAND = "awaiting_demand"
    AWAITING_CONTRACT = "awaiting_contract"
    IN_DELIVERY = "in_delivery"
    FUNCTIONAL_DESIGN = "functional_design"
    CONFIRM_FUNCTIONAL_DESIGN = "confirm_functional_design"
    UED = "ued"
    CONFIRM_UED = "confirm_ued"
    DEVELOPMENT_TESTING = "development_testing"
    INSPECTION_ACCEPTANCE = "inspection_acceptance"
    AWAITING_CONFIRMATION = "awaiting_confirmation"
    IN_WARRANTY = "in_warranty"
    COMPLETED = "completed"
    TERMINATED = "terminated"


#: States that absorb every later command.
TERMINAL_STATES = frozenset({State.COMPLETED, State.TERMINATED})


class ProcessName(StrEnum):
    """The delivery process, chosen when the delivery is opened."""

    BASIC = "basic"
    DOUBLE_CHECK = "double_check"
    CONTRACT = "contract"
    STEPWISE = "stepwise"


class DeadlineKind(StrEnum):
    """What a deadline is for; each kind fires its own event when it falls due."""

    #: The customer's window to confirm before the system confirms for them.
    CONFIRMATION_WINDOW = "confirmation_window"
    #: An email to the customer some time before the automatic confirmation.
    REMINDER = "reminder"
    #: The product's warranty period, after which the delivery completes.
    WARRANTY = "warranty"
