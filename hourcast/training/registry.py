"""Model registry policy: new versions are challengers; a gate decides who is champion.

A new version gets the alias ``challenger``. It becomes ``champion`` only if its MAE beats
the champion's by at least ``min_improvement`` (1 %) on the same held-out window; otherwise it
stays challenger and the reason is written as a version tag. Every change of champion is
appended to the registered model's ``champion_history`` tag, so ``rollback`` can restore the
previous champion.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "MIN_IMPROVEMENT",
    "PromotionDecision",
    "RegistryError",
    "VersionRow",
    "apply_decision",
    "champion_version",
    "decide_promotion",
    "list_versions",
    "promote",
    "rollback",
]

CHAMPION = "champion"
CHALLENGER = "challenger"
MIN_IMPROVEMENT = 0.01
_HISTORY_TAG = "champion_history"


class RegistryError(RuntimeError):
    """A registry operation that cannot be done (no such model, nothing to roll back to)."""


@dataclass(frozen=True)
class PromotionDecision:
    """Whether a challenger replaces the champion, and why."""

    promote: bool
    reason: str
    challenger_mae: float
    champion_mae: float | None
    improvement: float | None

    def to_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return asdict(self)


def decide_promotion(
    challenger_mae: float, champion_mae: float | None, *, min_improvement: float = MIN_IMPROVEMENT
) -> PromotionDecision:
    """Promote when there is no champion, or the challenger's MAE is lower by ``min_improvement``.

    Both MAEs must be measured on the same held-out window.
    """
    if not math.isfinite(challenger_mae):
        return PromotionDecision(False, "challenger MAE is not finite", challenger_mae, None, None)
    if champion_mae is None:
        return PromotionDecision(True, "no champion yet", challenger_mae, None, None)
    improvement = (champion_mae - challenger_mae) / champion_mae if champion_mae else 0.0
    if improvement >= min_improvement:
        reason = (
            f"MAE {challenger_mae:.3f} beats champion {champion_mae:.3f} by "
            f"{improvement:.1%} (needs {min_improvement:.0%})"
        )
        return PromotionDecision(True, reason, challenger_mae, champion_mae, improvement)
    reason = (
        f"MAE {challenger_mae:.3f} vs champion {champion_mae:.3f}: improvement "
        f"{improvement:.1%} is below the required {min_improvement:.0%}"
    )
    return PromotionDecision(False, reason, challenger_mae, champion_mae, improvement)


def champion_version(client: MlflowClient, name: str) -> str | None:
    """The version the champion alias points at, or None."""
    try:
        return str(client.get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException:
        return None


def _history(client: MlflowClient, name: str) -> list[str]:
    tags = client.get_registered_model(name).tags
    return list(json.loads(tags.get(_HISTORY_TAG, "[]")))


def promote(client: MlflowClient, name: str, version: str, *, reason: str) -> None:
    """Point ``champion`` at ``version`` and record it in the champion history."""
    client.get_model_version(name, version)  # raises if the version does not exist
    history = _history(client, name)
    if not history or history[-1] != str(version):
        history.append(str(version))
    client.set_registered_model_alias(name, CHAMPION, version)
    client.set_registered_model_tag(name, _HISTORY_TAG, json.dumps(history))
    client.set_model_version_tag(name, version, "promotion", f"champion: {reason}")
    challenger = _alias_version(client, name, CHALLENGER)
    if challenger == str(version):
        client.delete_registered_model_alias(name, CHALLENGER)


def _alias_version(client: MlflowClient, name: str, alias: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def apply_decision(
    client: MlflowClient, name: str, version: str, decision: PromotionDecision
) -> str:
    """Make ``version`` the challenger, then promote it if the decision says so.

    Returns:
        str: The alias the version ends with (``champion`` or ``challenger``).
    """
    client.set_registered_model_alias(name, CHALLENGER, version)
    client.set_model_version_tag(name, version, "gate_challenger_mae", f"{decision.challenger_mae}")
    if decision.champion_mae is not None:
        client.set_model_version_tag(name, version, "gate_champion_mae", f"{decision.champion_mae}")
    if decision.promote:
        promote(client, name, version, reason=decision.reason)
        return CHAMPION
    client.set_model_version_tag(name, version, "promotion", f"rejected: {decision.reason}")
    return CHALLENGER


def rollback(client: MlflowClient, name: str) -> str:
    """Point ``champion`` back at the previous champion; returns that version.

    Raises:
        RegistryError: There is no earlier champion.
    """
    history = _history(client, name)
    current = champion_version(client, name)
    if current is not None and history and history[-1] == current:
        history.pop()
    if not history:
        raise RegistryError(f"{name} has no previous champion to roll back to")
    previous = history[-1]
    client.set_registered_model_alias(name, CHAMPION, previous)
    client.set_registered_model_tag(name, _HISTORY_TAG, json.dumps(history))
    if current is not None:
        client.set_model_version_tag(name, current, "promotion", f"rolled back to v{previous}")
    return previous


@dataclass(frozen=True)
class VersionRow:
    """One registered version, for listing."""

    version: str
    aliases: tuple[str, ...]
    run_id: str
    created: int
    promotion: str
    holdout_mae: float | None


def list_versions(client: MlflowClient, name: str) -> list[VersionRow]:
    """All versions of ``name``, newest first, with aliases and the holdout MAE of their run."""
    try:
        versions = client.search_model_versions(f"name = '{name}'")
    except MlflowException as exc:
        raise RegistryError(f"cannot list versions of {name}: {exc}") from exc
    rows = []
    for found in versions:
        # search results omit aliases; get_model_version has them.
        item = client.get_model_version(name, found.version)
        mae = None
        if item.run_id:
            mae = client.get_run(item.run_id).data.metrics.get("holdout_mae")
        rows.append(
            VersionRow(
                version=str(item.version),
                aliases=tuple(item.aliases or ()),
                run_id=str(item.run_id),
                created=int(item.creation_timestamp or 0),
                promotion=str((item.tags or {}).get("promotion", "")),
                holdout_mae=mae,
            )
        )
    return sorted(rows, key=lambda row: int(row.version), reverse=True)
