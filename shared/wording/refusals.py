"""Refusal words: what each refusal's code means, as the pages say it. Part of
:mod:`shared.wording`, which re-exports every name here; import from there.

Pure: no I/O; every word is a msgid read in the current reader's language.
"""

from __future__ import annotations

from collections.abc import Mapping

from shared.domain.refusals import Reason
from shared.wording.reader import N_, Words

#: What each refusal's code means, for the pages (the API's ``message`` is English and says the
#: particulars: "only the customer may confirm now"; the page shows it after these words).
REFUSALS: Mapping[str, str] = Words(
    {
        Reason.TERMINAL_STATE: N_("The delivery is finished, so nothing more can be done."),
        Reason.NOT_A_PARTY: N_("Only the delivery's own parties can do this."),
        Reason.ROLE_NOT_ALLOWED: N_("This role cannot do this now."),
        Reason.NOT_IN_PROCESS: N_("This step is not part of this delivery's process."),
        Reason.WRONG_STATE: N_("This cannot be done at the delivery's current step."),
        Reason.DISPUTE_OPEN: N_(
            "A dispute is open: nothing else can be done until an administrator resolves it."
        ),
        Reason.DISPUTE_ALREADY_OPEN: N_("A dispute is already open on this delivery."),
        Reason.NO_OPEN_DISPUTE: N_("There is no open dispute to resolve."),
        Reason.DEADLINE_NOT_ACTIVE: N_("That deadline is no longer running."),
        Reason.UNKNOWN_ATTACHMENT: N_("A file it names was not uploaded to this delivery."),
        Reason.INVALID_CONTRACT_FILE: N_("The contract file is not one that can be accepted."),
        Reason.WARRANTY_PERIOD_REQUIRED: N_(
            "A delivery with double check needs a warranty period."
        ),
        Reason.ALREADY_OPEN: N_("This order already has a delivery."),
    }
)


def refusal_words(code: str | None, message: str | None) -> str:
    """A refusal in the reader's words: its code's sentence (:data:`REFUSALS`); for a code
    without one, the recorded ``message`` (the API's English) as it is."""
    if code in REFUSALS.msgids:  # type: ignore[attr-defined]
        return REFUSALS[code]  # type: ignore[index]
    return message or ""
