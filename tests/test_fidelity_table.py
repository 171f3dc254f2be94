"""The README's fidelity table is exactly what the ``@fidelity`` tests prove (python -m tests.fidelity)."""

from pathlib import Path

from tests import fidelity

README = Path(__file__).parent.parent / "README.md"


def test_readme_table_matches_the_tests() -> None:
    cells = fidelity.load_all_tests()
    assert cells, "no test declares a fidelity cell"
    expected = fidelity.render(cells)
    assert fidelity.readme_section(README.read_text()) == expected, (
        "README's fidelity table is stale: run python -m tests.fidelity"
    )


def test_every_path_and_broker_is_known() -> None:
    for cell in fidelity.load_all_tests():
        assert cell.path in fidelity.PATHS
        assert cell.broker in ("SQS", "SNS", "ActiveMQ")
