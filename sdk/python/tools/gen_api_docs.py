#!/usr/bin/env python3
"""Generate docs/reference/sdk-api.md from the SDK's docstrings.

Reads the sources with ``ast`` (nothing is imported, so it runs on a bare
python3 without the SDK's dependencies):

    python3 sdk/python/tools/gen_api_docs.py           # write the file
    python3 sdk/python/tools/gen_api_docs.py --check   # exit 1 if it is stale
"""

from __future__ import annotations

import argparse
import ast
import inspect
import re
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

HERE = Path(__file__).resolve().parent
SDK = HERE.parent
PACKAGE = SDK / "src" / "openshift_ai_sdk" / "training"
REPO = SDK.parent.parent
OUTPUT = REPO / "docs" / "reference" / "sdk-api.md"

# The reference's sections: a title and the public names, in reading order.
SECTIONS: Sequence[Tuple[str, Sequence[str]]] = (
    ("Jobs", ("MPIJob", "ResourceRequirements", "Volume", "Toleration")),
    ("Status", ("JobStatus", "Condition", "ReplicaStatus", "WorkerStatus")),
    (
        "Errors",
        (
            "TrainingError", "ValidationError", "FieldError", "QuotaExceededError", "QuotaShortfall", "JobFailedError",
            "WaitTimeoutError", "NotFoundError", "ForbiddenError", "AlreadyExistsError", "APIError",
            "ClusterUnreachableError", "LogsUnavailableError", "AdmissionWarning",
        ),
    ),
    ("Connection and retries", ("TrainingClient", "configure", "default_client", "discover", "Discovery", "RetryPolicy")),
    ("Throughput metrics", ("ThroughputReporter",)),
)

FuncDef = Union[ast.FunctionDef, ast.AsyncFunctionDef]


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def exported(init: ast.Module) -> Dict[str, str]:
    """Map each name of ``__all__`` to the module (file stem) it comes from."""
    names: List[str] = []
    origin: Dict[str, str] = {}
    for node in init.body:
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            for alias in node.names:
                origin[alias.asname or alias.name] = node.module
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            names = list(ast.literal_eval(node.value))
    return {n: origin[n] for n in names if n in origin}


_ROLE = re.compile(r":(?:class|meth|func|attr|data|mod|exc):`~?([^`]+)`")


def md_text(text: str) -> str:
    """reST inline markup to Markdown: roles and double backquotes."""

    def role(m: "re.Match[str]") -> str:
        name = m.group(1).split(".")[-1]
        return f"`{name}`"

    text = _ROLE.sub(role, text)
    return text.replace("``", "`")


_SECTION = re.compile(r"^(Args|Arguments|Attributes|Raises|Returns|Yields|Example|Examples):\s*$")


def md_doc(doc: Optional[str]) -> str:
    """A docstring as Markdown: Google-style sections become lists, ``::``
    blocks and doctests become fenced code."""
    if not doc:
        return ""
    lines = inspect.cleandoc(doc).splitlines()
    out: List[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        m = _SECTION.match(line)
        if m:
            out.append(f"**{m.group(1)}**")
            out.append("")
            i += 1
            while i < len(lines) and (lines[i].startswith("    ") or not lines[i].strip()):
                entry = lines[i].strip()
                i += 1
                if not entry:
                    continue
                while i < len(lines) and lines[i].startswith("        "):
                    entry += " " + lines[i].strip()
                    i += 1
                name, sep, rest = entry.partition(": ")
                if sep and m.group(1) in ("Args", "Arguments", "Attributes", "Raises") and " " not in name.replace(", ", ","):
                    out.append(f"- `{name}`: {md_text(rest)}")
                else:
                    out.append(f"- {md_text(entry)}")
            out.append("")
            continue
        if line.rstrip().endswith("::") and i + 1 < len(lines):
            text = line.rstrip()[:-1]
            out.append(md_text(text) if text.strip() != ":" else "")
            i += 1
            block: List[str] = []
            while i < len(lines) and (lines[i].startswith("    ") or not lines[i].strip()):
                block.append(lines[i][4:] if lines[i].startswith("    ") else "")
                i += 1
            while block and not block[-1].strip():
                block.pop()
            while block and not block[0].strip():
                block.pop(0)
            out += ["", "```python", *block, "```", ""]
            continue
        if line.lstrip().startswith(">>>"):
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(lines[i].strip() if lines[i].lstrip().startswith((">>>", "...")) else lines[i])
                i += 1
            out += ["```python", *block, "```"]
            continue
        out.append(md_text(line))
        i += 1
    text = "\n".join(out)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def signature(fn: FuncDef, *, drop_self: bool) -> str:
    args = fn.args
    rendered: List[str] = []
    positional = args.posonlyargs + args.args
    defaults: List[Optional[ast.expr]] = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    for idx, (a, d) in enumerate(zip(positional, defaults)):
        if drop_self and idx == 0 and a.arg in ("self", "cls"):
            continue
        rendered.append(arg(a, d))
        if args.posonlyargs and a is args.posonlyargs[-1]:
            rendered.append("/")
    if args.vararg:
        rendered.append("*" + arg(args.vararg, None))
    elif args.kwonlyargs:
        rendered.append("*")
    for a, d in zip(args.kwonlyargs, args.kw_defaults):
        rendered.append(arg(a, d))
    if args.kwarg:
        rendered.append("**" + arg(args.kwarg, None))
    ret = f" -> {ast.unparse(fn.returns)}" if fn.returns else ""
    return f"({', '.join(rendered)}){ret}"


def arg(a: ast.arg, default: Optional[ast.expr]) -> str:
    text = a.arg
    if a.annotation is not None:
        text += f": {ast.unparse(a.annotation)}"
        if default is not None:
            text += f" = {ast.unparse(default)}"
    elif default is not None:
        text += f"={ast.unparse(default)}"
    return text


def decorators(fn: FuncDef) -> List[str]:
    return [ast.unparse(d) for d in fn.decorator_list]


def is_dataclass(cls: ast.ClassDef) -> bool:
    return any(ast.unparse(d).startswith("dataclass") for d in cls.decorator_list)


def dataclass_fields(cls: ast.ClassDef) -> str:
    parts = []
    for node in cls.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            text = f"{node.target.id}: {ast.unparse(node.annotation)}"
            if node.value is not None:
                value = ast.unparse(node.value)
                if value.startswith("field(default_factory="):
                    value = value[len("field(default_factory="):-1] + "()"
                text += f" = {value}"
            parts.append(text)
    return f"({', '.join(parts)})"


def render_class(name: str, cls: ast.ClassDef) -> List[str]:
    bases = ", ".join(ast.unparse(b) for b in cls.bases)
    out = [f"### class `{name}`" + (f" ({bases})" if bases else ""), ""]
    init = next((n for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == "__init__"), None)
    if init is not None:
        sig = signature(init, drop_self=True).removesuffix(" -> None")
        out += ["```python", f"{name}{sig}", "```", ""]
    elif is_dataclass(cls):
        out += ["```python", f"{name}{dataclass_fields(cls)}", "```", ""]
    doc = md_doc(ast.get_docstring(cls))
    if doc:
        out += [doc, ""]
    for node in cls.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node.name.startswith("_"):
            continue
        decos = decorators(node)
        if "overload" in decos or "typing.overload" in decos:
            continue
        if "property" in decos:
            head = f"#### `{name}.{node.name}` (property)"
            sig = f"{node.name} -> {ast.unparse(node.returns)}" if node.returns else node.name
        else:
            kind = "classmethod " if "classmethod" in decos else "staticmethod " if "staticmethod" in decos else ""
            head = f"#### {kind}`{name}.{node.name}()`"
            sig = f"{node.name}{signature(node, drop_self=True)}"
        out += [head, "", "```python", sig, "```", ""]
        doc = md_doc(ast.get_docstring(node))
        if doc:
            out += [doc, ""]
    return out


def render_function(name: str, fn: FuncDef) -> List[str]:
    out = [f"### `{name}()`", "", "```python", f"{name}{signature(fn, drop_self=False)}", "```", ""]
    doc = md_doc(ast.get_docstring(fn))
    if doc:
        out += [doc, ""]
    return out


def find(module: ast.Module, name: str) -> Union[ast.ClassDef, FuncDef, None]:
    for node in module.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return node
    return None


def generate() -> str:
    init = parse(PACKAGE / "__init__.py")
    names = exported(init)
    modules: Dict[str, ast.Module] = {}
    documented: List[str] = []
    out = [
        "# Python SDK API reference (`openshift_ai_sdk.training`)",
        "",
        "<!-- Generated by sdk/python/tools/gen_api_docs.py from the docstrings; do not edit. -->",
        "",
        "The user guide is [../sdk.md](../sdk.md).",
        "",
        md_doc(ast.get_docstring(init)),
        "",
    ]
    for title, section in SECTIONS:
        out += [f"## {title}", ""]
        if title == "Throughput metrics":
            out += [md_doc(ast.get_docstring(parse(PACKAGE / "metrics.py"))), ""]
        for name in section:
            mod = names.get(name)
            if mod is None:
                raise SystemExit(f"gen_api_docs: {name} is not exported by openshift_ai_sdk.training")
            tree = modules.setdefault(mod, parse(PACKAGE / f"{mod}.py"))
            node = find(tree, name)
            if node is None:
                raise SystemExit(f"gen_api_docs: {name} not found in {mod}.py")
            out += render_class(name, node) if isinstance(node, ast.ClassDef) else render_function(name, node)
            documented.append(name)
    missing = sorted(set(names) - set(documented))
    if missing:
        raise SystemExit(f"gen_api_docs: exported but in no section of the reference: {', '.join(missing)} (add them to SECTIONS)")
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).rstrip() + "\n"


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description="Generate docs/reference/sdk-api.md from the SDK's docstrings.")
    p.add_argument("--check", action="store_true", help="fail if the file is not what would be generated")
    p.add_argument("--output", type=Path, default=OUTPUT, help="the file to write or check")
    args = p.parse_args(argv)
    text = generate()
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(
                f"{args.output} is stale: regenerate it with `python3 sdk/python/tools/gen_api_docs.py` (make generate)",
                file=sys.stderr,
            )
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
