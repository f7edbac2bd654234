"""Typed settings of biller-server, read once from the environment (prefix ``BILLER_``).

Installed as ``biller_server.config``; see ``config/README.md`` for every variable.
"""

from biller_server.config.settings import (
    PARTNERS,
    ChannelAuthScheme,
    ChannelSettings,
    DigiledgeAmountUnit,
    Environment,
    MissingSettingError,
    Settings,
    SettingsError,
    load_settings,
)

__all__ = [
    "PARTNERS",
    "ChannelAuthScheme",
    "ChannelSettings",
    "DigiledgeAmountUnit",
    "Environment",
    "MissingSettingError",
    "Settings",
    "SettingsError",
    "load_settings",
]
