from tests.fakes.fixtures import fake_partner  # noqa: F401 (a fixture)
