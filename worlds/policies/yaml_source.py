"""Read and parse one policy file, indexing the YAML line of every key path."""

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from worlds.policies.results import PolicyIssue

# Errors: files and YAML.
POLICY_FILE_MISSING = "file not found"
POLICY_FILE_UNREADABLE = "cannot read file: {error}"
POLICY_MALFORMED_YAML = "malformed YAML: {problem}"
POLICY_YAML_TOO_DEEP = "malformed YAML: nesting is too deep to load"
POLICY_RECURSIVE_ALIAS = "an alias refers to a node that contains it"
POLICY_EMPTY_FILE = "file is empty"
POLICY_DUPLICATE_KEY = "duplicate key {key!r}"


@dataclass
class _Source:
    """One policy file: its parsed data and the 1-based line of every key path."""

    file: str
    data: object = None
    parsed: bool = False
    lines: dict[tuple[str, ...], int] = field(default_factory=dict)

    def issue(self, path: tuple[str, ...], message: str) -> PolicyIssue:
        """Return an issue at ``path``, on the line of its nearest key that exists."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                break
        return PolicyIssue(self.file, ".".join(path), message, line)


@dataclass
class _Collector:
    """The errors, warnings and missing components found so far."""

    errors: list[PolicyIssue] = field(default_factory=list)
    warnings: list[PolicyIssue] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def error(self, source: _Source, path: tuple[str, ...], message: str) -> None:
        self.errors.append(source.issue(path, message))

    def warn(self, source: _Source, path: tuple[str, ...], message: str) -> None:
        self.warnings.append(source.issue(path, message))


def _read_bytes(path: Path) -> bytes | OSError:
    """Return the content of a policy file, or the error that kept it from being read."""
    try:
        return path.read_bytes()
    except OSError as exc:
        return exc


def _read_source(path: Path, content: bytes | OSError, collector: _Collector) -> _Source:
    """Parse one policy file's ``content`` (from ``_read_bytes``), reporting why it is unusable."""
    source = _Source(file=str(path))
    try:
        if isinstance(content, OSError):
            raise content
        text = content.decode("utf-8")
    except FileNotFoundError:
        collector.error(source, (), POLICY_FILE_MISSING)
        collector.missing.append(path.name)
        return source
    except (OSError, UnicodeDecodeError) as exc:
        collector.error(source, (), POLICY_FILE_UNREADABLE.format(error=exc))
        collector.missing.append(path.name)
        return source
    try:
        # The reader checks characters as soon as it is built, so it belongs in the try.
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            # Index before constructing: construction flattens merge keys into the node
            # tree, which would make every overridden merged key look like a duplicate.
            if node is not None and not _index_node(node, (), source, collector, set()):
                return source
            source.data = None if node is None else loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        message = POLICY_MALFORMED_YAML.format(problem=problem)
        line = None if mark is None else mark.line + 1
        collector.errors.append(PolicyIssue(source.file, "", message, line))
        return source
    except RecursionError:
        # PyYAML composes nodes recursively, so absurd nesting exhausts the stack.
        collector.error(source, (), POLICY_YAML_TOO_DEEP)
        return source
    source.parsed = True
    if node is None:
        collector.error(source, (), POLICY_EMPTY_FILE)
    return source


def _index_node(
    node: yaml.Node,
    path: tuple[str, ...],
    source: _Source,
    collector: _Collector,
    active: set[int],
) -> bool:
    """Record the line of every key under ``node`` and report duplicate keys.

    Return False if an alias refers to a node that contains it: such a document
    constructs to a self-referencing structure that cannot be hashed.
    """
    if id(node) in active:
        collector.error(source, path, POLICY_RECURSIVE_ALIAS)
        return False
    if isinstance(node, yaml.ScalarNode):
        return True
    active.add(id(node))
    ok = True
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for key_node, value_node in node.value:
            # A complex key (a mapping or list) has no dotted path; its problems are
            # located at the enclosing mapping.
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            child = (*path, key_node.value)
            if (key_node.tag, key_node.value) in seen:
                collector.errors.append(
                    PolicyIssue(
                        source.file,
                        ".".join(child),
                        POLICY_DUPLICATE_KEY.format(key=key_node.value),
                        key_node.start_mark.line + 1,
                    )
                )
            seen.add((key_node.tag, key_node.value))
            source.lines[child] = key_node.start_mark.line + 1
            ok = _index_node(value_node, child, source, collector, active) and ok
    else:
        for index, item in enumerate(node.value):
            child = (*path, str(index))
            source.lines[child] = item.start_mark.line + 1
            ok = _index_node(item, child, source, collector, active) and ok
    active.discard(id(node))
    if not path:
        source.lines[()] = node.start_mark.line + 1
    return ok
