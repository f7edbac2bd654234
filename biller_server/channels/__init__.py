"""The partner channels the biller serves, one package each (``biller_server/channels/<name>/``).

Each package exposes ``channel_spec(settings)``: its blueprint, path prefixes, authentication and error shape.
Views parse, call one domain function and render. The app registers every channel listed here; each has its
settings under the same name (``Settings.<name>``, a ``ChannelSettings``).
"""

from types import ModuleType

from biller_server.channels import digiledge, kaleidofin, setu

CHANNELS: dict[str, ModuleType] = {
    "kaleidofin": kaleidofin,
    "digiledge": digiledge,
    "setu": setu,
}
