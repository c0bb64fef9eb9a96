"""Help text keeps what it says: units and defaults in brackets are not taken for markup."""

from tests.conftest import invoke


def test_help_keeps_bracketed_units_and_defaults():
    generate = invoke("generate", "--help")
    assert generate.exit_code == 0
    assert "Length [days] instead of the bundle's own." in generate.output
    assert "[default: bundles/NAME]" in generate.output
    imported = invoke("import", "--help")
    assert "[default: 0 kW]" in imported.output
