"""Settings shared by every layer (the bottom of the one-way flow: nothing here imports the others)."""

from config.settings import PROJECT_ROOT, BilingualViews, Settings, get_settings, settings_for_tests

__all__ = ["PROJECT_ROOT", "BilingualViews", "Settings", "get_settings", "settings_for_tests"]
