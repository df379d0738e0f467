"""What unbundling may do: whom it trusts, and which environment it may replace."""

from __future__ import annotations

import os

from . import _compat, settings
from .exceptions import FrozenEnvironmentError
from .signing import Trust


def trust(
    allowed_signers: str | None = None,
    require_signature: bool | None = None,
    signature: str | None = None,
) -> Trust:
    """Whom unbundling trusts: the arguments, and for each one that is None the setting
    (``unbundle_allowed_signers``, ``unbundle_require_signature``)."""
    allowed = settings.value("unbundle_allowed_signers", allowed_signers) or None
    required = settings.value("unbundle_require_signature", require_signature)
    if allowed is not None:
        allowed = os.path.expanduser(allowed)
    return Trust(allowed_signers=allowed, require=bool(required), signature=signature)


def replaces(prefix: str, force: bool, override_frozen: bool = False) -> bool:
    """True when unbundling to ``prefix`` replaces the environment there (``force``).

    An environment marked frozen (CEP 22: ``conda-meta/frozen``) is refused, as conda
    refuses to change one, unless ``override_frozen``.
    """
    if not _compat.is_conda_environment(prefix):
        return False
    frozen = _compat.frozen_reason(prefix)
    if frozen is not None and not override_frozen:
        reason = f" Reason: {frozen.strip().rstrip('.')}." if frozen.strip() else ""
        raise FrozenEnvironmentError(
            f"{prefix} is an environment marked as frozen (conda-meta/frozen).{reason} "
            "conda unbundle replaces it only with --force and --override-frozen, at your "
            "own risk."
        )
    return force
