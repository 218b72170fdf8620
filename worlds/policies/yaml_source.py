"""Read and parse one policy file, indexing the YAML line of every key path."""

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from worlds.policies.results import PolicyIssue

# A policy file is a few kilobytes. A larger one is refused before it is parsed, and no
# more of it than this is ever read into memory.
MAX_POLICY_FILE_BYTES = 1_000_000

# Errors: files and YAML.
POLICY_FILE_MISSING = "file not found"
POLICY_FILE_UNREADABLE = "cannot read file: {error}"
POLICY_FILE_TOO_LARGE = "file is larger than the limit of {limit} bytes"
POLICY_MALFORMED_YAML = "malformed YAML: {problem}"
POLICY_YAML_TOO_DEEP = "malformed YAML: nesting is too deep to load"
POLICY_YAML_ANCHOR = "YAML anchors and aliases are not allowed, found {token}"
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


class _AnchorRefused(Exception):
    """The first anchor or alias of a policy file, where ``_PolicyLoader`` met it."""

    def __init__(self, path: tuple[str, ...], token: str, line: int):
        super().__init__(token)
        self.path = path
        self.token = token
        self.line = line


class _PolicyLoader(yaml.SafeLoader):
    """A SafeLoader that refuses the first anchor (``&name``) or alias (``*name``).

    Policy files have no use for them, and aliases let a file of a few hundred bytes
    (the "billion laughs") expand to millions of values: one of 499 bytes took 17.5 s
    and 1.2 GB to load. Refusing while composing, before any alias is followed, keeps
    the cost of every file linear in its size. The loader tracks the key path of the
    node it composes, so that the refusal names it.
    """

    def __init__(self, stream: str):
        super().__init__(stream)
        self._path: list[str] = []

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:
        # ``index`` is the key node of a mapping's value, the position of a list's item,
        # and None for a mapping's key and the document itself. A complex key (a
        # mapping or list) has no dotted path, as in ``_index_node``.
        segment = index.value if isinstance(index, yaml.ScalarNode) else index
        named = isinstance(segment, str | int)
        if named:
            self._path.append(str(segment))
        # Every event composed into a node carries an anchor: the alias's, or the
        # scalar's, list's or mapping's own (None when it has none).
        event = self.peek_event()
        if event.anchor is not None:
            token = ("*" if isinstance(event, yaml.AliasEvent) else "&") + event.anchor
            raise _AnchorRefused(tuple(self._path), token, event.start_mark.line + 1)
        node = super().compose_node(parent, index)
        if named:
            self._path.pop()
        return node


def _read_bytes(path: Path) -> bytes | OSError:
    """Return the content of a policy file, or the error that kept it from being read.

    At most one byte past ``MAX_POLICY_FILE_BYTES`` is read: enough to tell that a file
    is too large, without reading a huge one into memory.
    """
    try:
        with path.open("rb") as file:
            return file.read(MAX_POLICY_FILE_BYTES + 1)
    except OSError as exc:
        return exc


def _read_source(path: Path, content: bytes | OSError, collector: _Collector) -> _Source:
    """Parse one policy file's ``content`` (from ``_read_bytes``), reporting why it is unusable."""
    source = _Source(file=str(path))
    if isinstance(content, bytes) and len(content) > MAX_POLICY_FILE_BYTES:
        collector.error(source, (), POLICY_FILE_TOO_LARGE.format(limit=MAX_POLICY_FILE_BYTES))
        return source
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
        loader = _PolicyLoader(text)
        try:
            node = loader.get_single_node()
            # Index before constructing: construction flattens merge keys into the node
            # tree, which would make every overridden merged key look like a duplicate.
            if node is not None:
                _index_node(node, (), source, collector)
            source.data = None if node is None else loader.construct_document(node)
        finally:
            loader.dispose()
    except _AnchorRefused as exc:
        message = POLICY_YAML_ANCHOR.format(token=exc.token)
        collector.errors.append(PolicyIssue(source.file, ".".join(exc.path), message, exc.line))
        return source
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
    node: yaml.Node, path: tuple[str, ...], source: _Source, collector: _Collector
) -> None:
    """Record the line of every key under ``node`` and report duplicate keys.

    The nodes form a tree (``_PolicyLoader`` refuses aliases), so each is visited once.
    """
    if isinstance(node, yaml.ScalarNode):
        return
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
            _index_node(value_node, child, source, collector)
    else:
        for index, item in enumerate(node.value):
            child = (*path, str(index))
            source.lines[child] = item.start_mark.line + 1
            _index_node(item, child, source, collector)
    if not path:
        source.lines[()] = node.start_mark.line + 1
