"""docs/config.md is generated from the config classes and cannot drift from them."""

from __future__ import annotations

import re
import tomllib
import typing
from pathlib import Path
from typing import Any

import attrs
import pytest

from exsim import config, configdoc
from exsim.config import ConfigError, parse_config
from exsim.sim import Simulation
from exsim.sweep import plan

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "config.md"
HEADING = re.compile(r"^#{2,3} `\[\[?([\w.]+)\]\]?`$")
ROW = re.compile(r"^\| `(\w+)` \| (.*?) \| (.*?) \| (.*?) \| .* \|$")


def _config_fields() -> tuple[set[str], set[str]]:
    """(section paths, leaf key paths) of Config, walked here independently of configdoc."""
    sections: set[str] = set()
    leaves: set[str] = set()
    todo: list[tuple[type[Any], str]] = [(config.Config, "")]
    while todo:
        cls, prefix = todo.pop()
        hints = typing.get_type_hints(cls)
        for field in attrs.fields(cls):
            name = "class" if field.name == "cls" else field.name
            path = f"{prefix}.{name}" if prefix else name
            hint = hints[field.name]
            args = typing.get_args(hint)
            if typing.get_origin(hint) is tuple and args and attrs.has(args[0]):
                hint = args[0]
            if isinstance(hint, type) and attrs.has(hint):
                sections.add(path)
                todo.append((hint, path))
            else:
                leaves.add(path)
    return sections, leaves


def _doc_tables(text: str) -> dict[str, dict[str, tuple[str, str, str]]]:
    """Section path -> key -> (type, default, allowed) cells, read from the Markdown."""
    tables: dict[str, dict[str, tuple[str, str, str]]] = {}
    current: str | None = None
    for line in text.splitlines():
        if line.startswith("#"):
            m = HEADING.match(line)
            current = m.group(1) if m else None
            if current is not None:
                tables[current] = {}
        elif current is not None and (row := ROW.match(line)):
            tables[current][row.group(1)] = (row.group(2), row.group(3), row.group(4))
    return tables


def _valid_keys(document: dict[str, Any]) -> set[str]:
    """The keys the loader itself lists when it rejects an unknown one."""
    with pytest.raises(ConfigError) as info:
        parse_config(document)
    m = re.search(r"valid (?:keys|sections): (.*)$", str(info.value))
    assert m, str(info.value)
    return set(m.group(1).split(", "))


def test_config_md_is_the_generated_reference(tmp_path: Path) -> None:
    text = DOC.read_text()
    assert text == configdoc.render(), (
        "docs/config.md is out of date: python -m exsim.configdoc > docs/config.md")
    assert configdoc.main(["--check", str(DOC)]) == 0
    stale = tmp_path / "config.md"
    stale.write_text(text.replace("Simulated seconds to run.", "Seconds."))
    assert configdoc.main(["--check", str(stale)]) == 1


def test_every_config_field_has_a_row_or_a_heading() -> None:
    sections, leaves = _config_fields()
    tables = _doc_tables(DOC.read_text())
    assert set(tables) == sections | {"sweep"}
    documented = {f"{section}.{key}" for section, rows in tables.items() for key in rows}
    assert documented - {p for p in documented if p.startswith("sweep.")} == leaves


def test_reference_keys_are_the_ones_the_loader_accepts() -> None:
    """The loader's own lists of valid sections and keys, against the tables."""
    tables = _doc_tables(DOC.read_text())
    top = {p for p in tables if "." not in p}
    assert _valid_keys({"zzzzzz": {}}) == top
    for path, rows in tables.items():
        if path == "sweep":
            continue
        nested = {p.rsplit(".", 1)[1] for p in tables if p.startswith(path + ".")}
        document: Any = {"zzzzzz": 1}
        for part in reversed(path.split(".")):
            document = {part: [document] if part in config._ARRAYS else document}
        assert _valid_keys(document) == set(rows) | nested, path
    with pytest.raises(ConfigError) as info:  # sweep.plan lists its keys in its message
        plan({"sweep": {"zzzzzz": 1}})
    listed = re.search(r"\(([\w, ]+)\)$", str(info.value))
    assert listed, str(info.value)
    assert set(listed.group(1).split(", ")) == set(tables["sweep"])


def test_types_defaults_and_rules_in_the_tables() -> None:
    tables = _doc_tables(DOC.read_text())
    _, leaves = _config_fields()
    rules = [*config._CHOICES, *config._POSITIVE, *config._NON_NEGATIVE, *config._FRACTION]
    assert set(rules) <= leaves, "a validation rule names a key that does not exist"
    for path in sorted(leaves):
        section, key = path.rsplit(".", 1)
        kind, default_cell, allowed = tables[section][key]
        cls: Any = config.Config
        for part in section.split("."):
            hint = typing.get_type_hints(cls)[part]
            cls = typing.get_args(hint)[0] if typing.get_origin(hint) is tuple else hint
        field = attrs.fields_dict(cls)["cls" if key == "class" else key]
        if field.default is attrs.NOTHING:
            assert default_cell == "**required**", path
        elif field.type == "tuple[tuple[object, object, int], ...]":
            assert default_cell.startswith(f"{len(field.default)} rows"), path
        else:
            written = tomllib.loads(f"v = {default_cell.strip('`')}")["v"]
            default = field.default
            if isinstance(default, attrs.Factory):
                default = default.factory()
            expected = list(default) if isinstance(default, tuple) else default
            assert written == expected and type(written) is type(expected), path
        assert kind == {"int": "integer", "float": "number", "str": "string", "bool": "boolean",
                        "tuple[str, ...]": "array of strings", "Mapping[str, Any]": "table",
                        }.get(str(field.type), kind), path
        for choice in config._CHOICES.get(path, ()):
            assert f'`"{choice}"`' in allowed, path
        parts = allowed.split("; ")
        assert (path in config._POSITIVE) == ("> 0" in parts), path
        assert (path in config._NON_NEGATIVE) == (">= 0" in parts), path
        assert (path in config._FRACTION) == ("0 to 1" in parts), path


def test_a_missing_or_stale_doc_entry_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    configdoc.render()  # complete now
    with monkeypatch.context() as m:
        m.delitem(configdoc.DOCS, "exchange.latency.sigma")
        with pytest.raises(configdoc.DocError, match=r"without an entry.*exchange\.latency\.sigma"):
            configdoc.render()
    with monkeypatch.context() as m:
        m.setitem(configdoc.DOCS, "oracle.retired_key", "Gone.")
        with pytest.raises(configdoc.DocError, match=r"do not exist.*oracle\.retired_key"):
            configdoc.render()
    with monkeypatch.context() as m:
        m.setitem(configdoc.RULES, "funding.retired_key", "> 0")
        with pytest.raises(configdoc.DocError, match=r"RULES.*funding\.retired_key"):
            configdoc.render()


def test_a_new_config_key_without_a_doc_entry_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    @attrs.frozen
    class Liquidation(config.LiquidationConfig):
        brand_new_key: float = 1.0

    monkeypatch.setattr(config, "LiquidationConfig", Liquidation)
    with pytest.raises(configdoc.DocError, match=r"liquidation\.brand_new_key"):
        configdoc.render()
    monkeypatch.setitem(configdoc.DOCS, "liquidation.brand_new_key", "Documented now.")
    assert "| `brand_new_key` | number | `1.0` |" in configdoc.render()


def test_every_toml_block_in_the_docs_is_a_valid_config() -> None:
    found = 0
    for page in sorted((ROOT / "docs").glob("*.md")):
        for i, block in enumerate(re.findall(r"```toml\n(.*?)```", page.read_text(), re.S)):
            cfg = parse_config(tomllib.loads(block), f"{page.name} toml block {i}")
            Simulation(cfg)  # agent classes and their params resolve, as `exsim validate`
            found += page.name == "config.md"
    assert found == 1
    assert "```python" not in DOC.read_text() and "```sh" not in DOC.read_text()
