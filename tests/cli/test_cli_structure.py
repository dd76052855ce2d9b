"""The CLI package's imports run one way: command-group modules use the shared modules (framework, arguments,
names, output, errors) by their public names, never each other; every command-group module is registered."""

from __future__ import annotations

import ast
from pathlib import Path

import runwire.cli
from runwire.cli.main import COMMAND_GROUPS, build_parser

PACKAGE = Path(runwire.cli.__file__).parent
COMMANDS = "runwire.cli.commands"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) of every `from runwire.cli... import name`, and (module, "") of `import runwire.cli...`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("runwire.cli"):
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                # `from runwire.cli import framework` imports a module, not a name of one
                if (PACKAGE.parent.parent / Path(*submodule.split("."))).with_suffix(".py").exists() or (
                    PACKAGE.parent.parent / Path(*submodule.split("."))
                ).is_dir():
                    found.append((submodule, ""))
                else:
                    found.append((node.module, alias.name))
        elif isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names if alias.name.startswith("runwire.cli")]
    return found


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def test_no_module_imports_a_private_name_of_another() -> None:
    offenders = [
        f"{module} imports {name} from {source}"
        for module, path in _modules().items()
        for source, name in _imports(path)
        if name.startswith("_") and source != module
    ]
    assert offenders == []


def test_command_groups_do_not_import_each_other() -> None:
    groups = {module for module in _modules() if module.startswith(COMMANDS + ".")}
    assert groups, "no command-group modules found"
    offenders = [
        f"{module} imports {source}"
        for module in sorted(groups)
        for source, _ in _imports(_modules()[module])
        if source.startswith(COMMANDS) and source != module
    ]
    assert offenders == []


def test_shared_modules_do_not_import_command_groups() -> None:
    offenders = [
        f"{module} imports {source}"
        for module, path in _modules().items()
        if not module.startswith(COMMANDS) and module != "runwire.cli.main"
        for source, _ in _imports(path)
        if source.startswith(COMMANDS)
    ]
    assert offenders == []


def test_every_command_group_module_is_registered_once() -> None:
    on_disk = sorted(path.stem for path in (PACKAGE / "commands").glob("*.py") if path.stem != "__init__")
    assert sorted(COMMAND_GROUPS) == on_disk
    assert len(set(COMMAND_GROUPS)) == len(COMMAND_GROUPS)


def test_the_parser_lists_every_group() -> None:
    text = build_parser().format_help()
    for command in ("serve", "agents", "crews", "sessions", "messages", "run", "runs", "tools", "mcp-servers", "files", "memory",
                    "config", "admin", "batches", "secrets"):
        assert f"    {command} " in text or f"    {command}\n" in text, command
