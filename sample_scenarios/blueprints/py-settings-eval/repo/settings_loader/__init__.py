"""Parse ``key = value`` settings files."""

from .parser import SettingsError, load_settings, parse_settings, parse_value

__all__ = ["SettingsError", "load_settings", "parse_settings", "parse_value"]
