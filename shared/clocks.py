"""How far apart two clocks may be: one allowance for everything signed on one machine and
checked on another.

A bearer token's ``iat`` and ``nbf`` (``services.gateway.auth``) and a link's signing time
(``services.runtime.links``) may be up to :data:`CLOCK_LEEWAY` ahead of the clock that checks
them: the issuer's clock may run a little fast. Expiry gets no allowance.
"""

from __future__ import annotations

from datetime import timedelta

#: How far ahead of the checking server's clock a signer's may be.
CLOCK_LEEWAY = timedelta(seconds=60)
