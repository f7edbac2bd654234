"""The list of channels the app registers: each with its package, its settings and its own paths."""

from biller_server.config import Settings, load_settings

from biller_server.channels import CHANNELS


def test_every_listed_channel_has_its_settings_and_every_channels_settings_a_package():
    assert list(CHANNELS) == list(Settings.channel_names())


def test_each_channel_names_itself_as_listed_and_serves_its_own_paths():
    settings = load_settings(env="test")
    specs = {name: channel.channel_spec(settings) for name, channel in CHANNELS.items()}
    assert {name: spec.name for name, spec in specs.items()} == {name: name for name in CHANNELS}
    prefixes = [prefix for spec in specs.values() for prefix in spec.path_prefixes]
    assert len(prefixes) == len(set(prefixes))


def test_the_app_serves_every_listed_channel(app):
    registered = {rule.endpoint.partition(".")[0] for rule in app.url_map.iter_rules()}
    assert {spec.blueprint.name for spec in app.extensions["biller_server.channels"].channels} == set(CHANNELS)
    assert set(CHANNELS) <= registered
