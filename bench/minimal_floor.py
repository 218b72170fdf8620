"""The minimal write floor: the transaction of PERFORMANCE-NOTES, one statement per step.

``bench/floor.py`` replays ``apply_event``'s own statements, so it measures the product's
Python overhead and nothing else. This floor measures what the database needs for one
event, whatever the product does: lock the character with all its scores (the snapshot
is derived from all of them), insert the event, its deltas, its metadata, update the
touched scores, update the snapshot. Six statements between BEGIN and COMMIT, the world's
registry and the event type's id read once at start, the product's schema and rows as
they are (provenance columns included), so ``verify_ledger`` accepts what it writes. It
is the baseline ``apply_event`` is held to (>= 0.6 x), not product code.
"""

import hashlib
import json
import sqlite3
from datetime import UTC, datetime

import psycopg
from psycopg.types.json import Jsonb

from bench.floor import quantize


class MinimalFloor:
    """One raw connection applying events in the fewest statements the schema allows."""

    def __init__(self, *, vendor, dsn, world_id, event_type, synchronous="FULL"):
        self.vendor = vendor
        self.world_id = world_id
        self.event_type = event_type
        if vendor == "sqlite":
            self.conn = sqlite3.connect(dsn, isolation_level=None, timeout=20)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute(f"PRAGMA synchronous={synchronous}")
            self.conn.execute("PRAGMA foreign_keys=ON")
            self.p = "?"
            self.lock = ""  # BEGIN IMMEDIATE takes the database's write lock
        else:
            self.conn = psycopg.connect(dsn)
            self.p = "%s"
            self.lock = " FOR NO KEY UPDATE"
        self._load(event_type)

    def close(self):
        self.conn.close()

    def _load(self, event_type):
        """Read once what the product caches per process: the registry, the type's id."""
        p = self.p
        cursor = self.conn.cursor()
        cursor.execute(f"SELECT policy_hash FROM world WHERE world_id = {p}", [self.world_id])
        self.policy_hash = cursor.fetchone()[0]
        cursor.execute(
            f"SELECT id, name, is_active FROM axis WHERE world_id = {p}", [self.world_id]
        )
        self.axes = {axis_id: (name, active) for axis_id, name, active in cursor.fetchall()}
        self.by_name = {name: axis_id for axis_id, (name, _) in self.axes.items()}
        self.bands = {axis_id: [] for axis_id in self.axes}
        cursor.execute(
            "SELECT axis_id, value, min_score FROM axis_value "
            f"WHERE world_id = {p} ORDER BY axis_id, ordinal",
            [self.world_id],
        )
        for axis_id, value, low in cursor.fetchall():
            self.bands[axis_id].append((low, value))
        # Snapshot order: the product lists active axes by name.
        self.active = sorted(
            (name, axis_id) for axis_id, (name, active) in self.axes.items() if active
        )
        cursor.execute(
            f"SELECT id FROM event_type WHERE world_id = {p} AND name = {p}",
            [self.world_id, event_type],
        )
        self.type_id = cursor.fetchone()[0]
        if self.vendor == "postgresql":
            self.conn.commit()

    def _label(self, axis_id, score):
        label = None
        for low, value in self.bands[axis_id]:
            if low > score:
                break
            label = value
        if label is None and self.bands[axis_id]:
            label = self.bands[axis_id][0][1]
        return label

    def apply(self, character_id, deltas, metadata, *, actor_user_id, actor_name, request_id):
        """Apply one event to one character: ``deltas`` {axis name: requested change}."""
        p = self.p
        world_id = self.world_id
        now = datetime.now(UTC)
        # Django keeps SQLite datetimes as naive UTC text; PostgreSQL takes the aware value.
        stamp = now if self.vendor == "postgresql" else str(now.replace(tzinfo=None))
        cursor = self.conn.cursor()
        if self.vendor == "sqlite":
            cursor.execute("BEGIN IMMEDIATE")
        # 1. Lock the character and all its scores (the snapshot needs every one).
        cursor.execute(
            "SELECT s.id, s.axis_id, s.axis_score, c.state_seed "
            "FROM character_axis_score s JOIN characters c ON c.id = s.character_id "
            f"WHERE s.character_id = {p} ORDER BY s.id{self.lock}",
            [character_id],
        )
        rows = cursor.fetchall()
        scores = {axis_id: [score_id, score] for score_id, axis_id, score, _ in rows}
        seed = rows[0][3] + 1
        request_hash = hashlib.sha256(
            json.dumps(
                {
                    "event_type": self.event_type,
                    "deltas": {str(character_id): deltas},
                    "metadata": metadata,
                },
                sort_keys=True,
                separators=(",", ":"),
            ).encode()
        ).hexdigest()
        # 2. The event, with its provenance.
        cursor.execute(
            "INSERT INTO event (world_id, event_type_id, timestamp, idempotency_key, "
            "request_hash, occurred_at, actor_user_id, actor_name, actor_key, source, "
            "request_id, policy_hash, reverses_id) "
            f"VALUES ({p}, {p}, {p}, NULL, {p}, {p}, {p}, {p}, NULL, 'api', {p}, {p}, NULL) "
            "RETURNING id",
            [
                world_id,
                self.type_id,
                stamp,
                request_hash,
                stamp,
                actor_user_id,
                actor_name,
                request_id,
                self.policy_hash,
            ],
        )
        event_id = cursor.fetchone()[0]
        delta_values, update_values = [], []
        for name, asked in sorted(deltas.items()):
            axis_id = self.by_name[name]
            entry = scores[axis_id]
            old = entry[1]
            new = quantize(min(1.0, max(0.0, old + asked)))
            delta_values += [
                event_id,
                world_id,
                character_id,
                axis_id,
                old,
                new,
                quantize(new - old),
                asked,
            ]
            update_values += [entry[0], new]
            entry[1] = new
        # 3. Its deltas.
        cursor.execute(
            "INSERT INTO event_entity_axis_delta (event_id, world_id, character_id, axis_id, "
            "old_score, new_score, delta, requested_delta) VALUES "
            + ", ".join([f"({', '.join([p] * 8)})"] * len(deltas)),
            delta_values,
        )
        # 4. Its metadata.
        cursor.execute(
            "INSERT INTO event_metadata (event_id, world_id, key, value) VALUES "
            + ", ".join([f"({p}, {p}, {p}, {p})"] * len(metadata)),
            [
                v
                for key, value in sorted(metadata.items())
                for v in (event_id, world_id, key, value)
            ],
        )
        # 5. The touched scores, in one statement whatever their number.
        if self.vendor == "postgresql":
            pairs = ", ".join(["(%s::bigint, %s::double precision)"] * len(deltas))
            source, score_id, score = f"(VALUES {pairs}) AS v(id, score)", "v.id", "v.score"
        else:
            pairs = ", ".join(["(?, ?)"] * len(deltas))
            source, score_id, score = f"(VALUES {pairs}) AS v", "v.column1", "v.column2"
        cursor.execute(
            f"UPDATE character_axis_score SET axis_score = {score}, updated_at = {p} "
            f"FROM {source} WHERE character_axis_score.id = {score_id}",
            [stamp, *update_values],
        )
        # 6. The snapshot, re-derived from all of the character's scores.
        snapshot = {
            "world_id": world_id,
            "seed": seed,
            "policy_hash": self.policy_hash,
            "axes": {
                name: {
                    "score": scores[axis_id][1],
                    "label": self._label(axis_id, scores[axis_id][1]),
                }
                for name, axis_id in self.active
                if axis_id in scores
            },
        }
        payload = Jsonb(snapshot) if self.vendor == "postgresql" else json.dumps(snapshot)
        cursor.execute(
            f"UPDATE characters SET current_state_json = {p}, state_seed = {p}, "
            f"state_version = {p}, state_updated_at = {p} WHERE id = {p}",
            [payload, seed, self.policy_hash, stamp, character_id],
        )
        if self.vendor == "sqlite":
            cursor.execute("COMMIT")
        else:
            self.conn.commit()
        return event_id
