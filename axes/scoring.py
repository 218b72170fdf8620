"""Score arithmetic shared by the ledger, its verification and its tests.

Scores are floats kept at a fixed precision of 1e-6: each new score is rounded to six
decimals, so eight +0.1 deltas from 0.0 give exactly 0.8 (label ``decadent``), never
0.7999999999999999, and replaying the ledger reproduces every score bit for bit.
"""

SCORE_DECIMALS = 6
MIN_SCORE = 0.0
MAX_SCORE = 1.0


def quantize_score(value: float) -> float:
    """Round to the stored precision (and turn -0.0 into 0.0)."""
    return round(value, SCORE_DECIMALS) + 0.0


def apply_delta(old_score: float, requested_delta: float) -> tuple[float, float]:
    """Return ``(new_score, applied_delta)`` for a requested change, clamped to [0, 1]."""
    new_score = quantize_score(min(MAX_SCORE, max(MIN_SCORE, old_score + requested_delta)))
    return new_score, quantize_score(new_score - old_score)


def was_clamped(*, new_score: float, delta: float, requested_delta: float) -> bool:
    """Return whether a delta was cut at 0 or 1: the score sits at a bound the request passed.

    Not ``delta != requested_delta``: the request is stored as asked, so a request finer
    than the stored precision (+1/3) differs from the applied delta without any clamp.
    """
    return (new_score >= MAX_SCORE and requested_delta > delta) or (
        new_score <= MIN_SCORE and requested_delta < delta
    )
