"""The canonical form of parsed policy content and its content hash."""

import hashlib
import json


def policy_content_hash(axes_data: object, thresholds_data: object) -> str:
    """Return the SHA-256 hex digest of the parsed policy content in canonical form.

    The hash covers data, not text: comments, key order, whitespace, flow or block style
    and ``0`` versus ``0.0`` do not change it, so the sync can skip unchanged worlds.

    Args:
        axes_data: The parsed content of ``axes.yaml``.
        thresholds_data: The parsed content of ``thresholds.yaml``.

    Returns:
        64 lowercase hex characters.
    """
    canonical = json.dumps(
        _canonical({"axes": axes_data, "thresholds": thresholds_data}),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _canonical(value: object) -> object:
    """Return ``value`` as plain JSON data: ints as floats, string keys, sorted sets."""
    if value is None or isinstance(value, bool | str | float):
        return value
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:
            # Too large for a float; the exact int still serialises deterministically.
            return value
    if isinstance(value, dict):
        return {str(key): _canonical(item) for key, item in value.items()}
    # SafeLoader builds tuples for !!omap and !!pairs, and sets (unordered) for !!set.
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    if isinstance(value, set):
        return sorted(str(item) for item in value)
    # Dates, timestamps and !!binary bytes.
    return str(value)
