"""Model presets: feature configuration and booster parameters per kind of series."""

from hourcast.models.presets import AIR_QUALITY, PRESETS, TRAFFIC, Preset, preset_for

__all__ = ["AIR_QUALITY", "PRESETS", "TRAFFIC", "Preset", "preset_for"]
