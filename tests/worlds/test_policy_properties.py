"""Property test of the policy loader: random mutations of a valid world never crash it."""

import json
import tempfile
from pathlib import Path

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.worlds.policy_texts import AXES, THRESHOLDS, write_world
from worlds.policies import load_world_policy

YAML_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)
)
YAML_VALUES = st.recursive(
    YAML_SCALARS,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=6,
)


def key_paths(data: object, path: tuple = ()):
    """Yield the path of every key and list item under ``data``."""
    items = (
        data.items()
        if isinstance(data, dict)
        else enumerate(data)
        if isinstance(data, list)
        else ()
    )
    for key, value in items:
        yield (*path, key)
        yield from key_paths(value, (*path, key))


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_random_mutations_never_raise_and_always_explain_invalidity(data):
    documents = {"axes": yaml.safe_load(AXES), "thresholds": yaml.safe_load(THRESHOLDS)}
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        document = documents[data.draw(st.sampled_from(["axes", "thresholds"]))]
        paths = list(key_paths(document))
        if not paths:
            continue
        *parents, key = data.draw(st.sampled_from(paths))
        container = document
        for parent in parents:
            container = container[parent]
        if data.draw(st.booleans()):
            container[key] = data.draw(YAML_VALUES)
        elif isinstance(container, dict):
            del container[key]

    with tempfile.TemporaryDirectory() as tmp:
        world = write_world(
            Path(tmp), yaml.safe_dump(documents["axes"]), yaml.safe_dump(documents["thresholds"])
        )
        report = load_world_policy(world)

    if report.is_valid:
        assert (report.policy.world_id, report.policy.policy_hash) == ("demo", report.policy_hash)
        assert report.policy.axis_names == report.axes
    else:
        assert report.policy is None
        assert all(issue.message for issue in report.errors)
    json.dumps(report.as_dict())
    assert report.format_text().splitlines()[0] == f"World: demo ({world})"
