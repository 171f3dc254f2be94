"""docs/cli.md is the CLI's own --help; regenerate it when this fails:
python -m msgctl.cli.reference > docs/cli.md"""

from pathlib import Path

from msgctl.cli.reference import markdown, missing_help

ROOT = Path(__file__).resolve().parent.parent


def test_the_command_reference_is_current() -> None:
    assert (ROOT / "docs" / "cli.md").read_text() == markdown()


def test_every_command_has_help() -> None:
    assert missing_help() == []


def _readme_section(heading: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(f"\n{heading}\n")
    following = text.find("\n#", start + len(heading) + 2)
    return text[start : following if following != -1 else len(text)]


def _fenced(section: str, language: str) -> str:
    return section.split(f"```{language}\n", 1)[1].split("```", 1)[0]


def test_the_readme_documents_the_chain_file_format(tmp_path) -> None:
    from msgctl.core.chain_file import CHAIN_KEYS, QUEUE_KEYS, load_chain_file

    section = _readme_section("### Chain files")
    toml_example, yaml_example = _fenced(section, "toml"), _fenced(section, "yaml")
    (tmp_path / "chains.toml").write_text(toml_example)
    (tmp_path / "chains.yaml").write_text(yaml_example)
    chains = load_chain_file(tmp_path / "chains.toml")
    assert [str(c.topic) for c in chains] == ["sns:orders", "sns:payments.fifo"]
    assert [str(q.channel) for q in load_chain_file(tmp_path / "chains.yaml")[0].queues] == [
        "sqs:orders-billing",
        "sqs:orders-audit",
    ]
    for key in CHAIN_KEYS | QUEUE_KEYS:
        assert f"{key} = " in toml_example, f"the TOML example shows {key}"
        assert f"| `{key}` |" in section, f"the table explains {key}"
