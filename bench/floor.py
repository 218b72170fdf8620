"""The write floor: apply_event's exact transaction, hand-written in SQL, without Django.

Same statements in the same order (read the world, lock the characters and their scores
in id order, look up the event type, insert the event, its deltas and metadata, update
the scores, rewrite the snapshots), same locking and the same rows, so `verify_ledger`
accepts what it writes. It is the baseline the product is measured against, not product
code.
"""

import hashlib
import json
import sqlite3
from bisect import bisect_right
from datetime import UTC, datetime

import psycopg
from psycopg.types.json import Jsonb


def quantize(value):
    return round(value, 6) + 0.0


class Floor:
    """One raw connection applying events like apply_event does."""

    def __init__(self, *, vendor, dsn, synchronous="FULL"):
        self.vendor = vendor
        if vendor == "sqlite":
            self.conn = sqlite3.connect(dsn, isolation_level=None, timeout=20)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute(f"PRAGMA synchronous={synchronous}")
            self.conn.execute("PRAGMA foreign_keys=ON")
            self.p = "?"
        else:
            self.conn = psycopg.connect(dsn)
            self.p = "%s"
        self._load_registry()

    def close(self):
        self.conn.close()

    def _rows(self, sql, params=()):
        cursor = self.conn.cursor()
        cursor.execute(sql.replace("%s", self.p), params)
        return cursor.fetchall()

    def _load_registry(self):
        self.axes = {}
        for axis_id, world_id, name, active in self._rows(
            "SELECT id, world_id, name, is_active FROM axis"
        ):
            self.axes[axis_id] = {"world": world_id, "name": name, "active": active, "bands": []}
        for axis_id, value, low in self._rows(
            "SELECT axis_id, value, min_score FROM axis_value ORDER BY axis_id, ordinal"
        ):
            self.axes[axis_id]["bands"].append((low, value))
        self.by_name = {(a["world"], a["name"]): i for i, a in self.axes.items()}
        if self.vendor == "postgresql":
            self.conn.commit()

    def label(self, axis_id, score):
        bands = self.axes[axis_id]["bands"]
        if not bands:
            return None
        return bands[max(bisect_right([low for low, _ in bands], score) - 1, 0)][1]

    def apply(self, world_id, event_type, deltas, metadata):
        """Apply one event: deltas {character id: {axis name: delta}}."""
        p = self.p
        lock = " FOR NO KEY UPDATE" if self.vendor == "postgresql" else ""
        cursor = self.conn.cursor()
        now = datetime.now(UTC)
        # Django keeps SQLite datetimes as naive UTC text; PostgreSQL takes the aware value.
        stamp = now if self.vendor == "postgresql" else str(now.replace(tzinfo=None))
        if self.vendor == "sqlite":
            cursor.execute("BEGIN IMMEDIATE")
        cursor.execute(
            f"SELECT world_id, policy_hash, synced_at FROM world WHERE world_id = {p}", [world_id]
        )
        (_, policy_hash, _) = cursor.fetchone()
        ids = sorted(deltas)
        marks = ", ".join([p] * len(ids))
        cursor.execute(
            "SELECT id, world_id, state_seed FROM characters "
            f"WHERE id IN ({marks}) ORDER BY id{lock}",
            ids,
        )
        seeds = {row[0]: row[2] for row in cursor.fetchall()}
        cursor.execute(
            "SELECT id, character_id, axis_id, axis_score FROM character_axis_score "
            f"WHERE world_id = {p} AND character_id IN ({marks}) ORDER BY id{lock}",
            [world_id, *ids],
        )
        scores = {(c, a): [pk, score] for pk, c, a, score in cursor.fetchall()}
        cursor.execute(
            f"SELECT id FROM event_type WHERE world_id = {p} AND name = {p} LIMIT 1",
            [world_id, event_type],
        )
        type_id = cursor.fetchone()[0]
        request_hash = hashlib.sha256(
            json.dumps(
                {
                    "event_type": event_type,
                    "deltas": {str(k): v for k, v in deltas.items()},
                    "metadata": metadata,
                },
                sort_keys=True,
                separators=(",", ":"),
            ).encode()
        ).hexdigest()
        cursor.execute(
            "INSERT INTO event (world_id, event_type_id, timestamp, idempotency_key, request_hash) "
            f"VALUES ({p}, {p}, {p}, NULL, {p}) RETURNING id",
            [world_id, type_id, stamp, request_hash],
        )
        event_id = cursor.fetchone()[0]
        delta_rows, updates = [], []
        for cid in ids:
            for name, asked in sorted(deltas[cid].items()):
                axis_id = self.by_name[(world_id, name)]
                entry = scores[(cid, axis_id)]
                old = entry[1]
                new = quantize(min(1.0, max(0.0, old + asked)))
                delta_rows += [
                    event_id,
                    world_id,
                    cid,
                    axis_id,
                    old,
                    new,
                    quantize(new - old),
                    asked,
                ]
                entry[1] = new
                updates.append((new, stamp, entry[0]))
        values = ", ".join([f"({', '.join([p] * 8)})"] * (len(delta_rows) // 8))
        cursor.execute(
            "INSERT INTO event_entity_axis_delta (event_id, world_id, character_id, axis_id, "
            f"old_score, new_score, delta, requested_delta) VALUES {values}",
            delta_rows,
        )
        meta_rows = [
            v for key, value in sorted(metadata.items()) for v in (event_id, world_id, key, value)
        ]
        values = ", ".join([f"({p}, {p}, {p}, {p})"] * len(metadata))
        cursor.execute(
            f"INSERT INTO event_metadata (event_id, world_id, key, value) VALUES {values}",
            meta_rows,
        )
        cursor.executemany(
            f"UPDATE character_axis_score SET axis_score = {p}, updated_at = {p} WHERE id = {p}",
            updates,
        )
        snapshots = []
        for cid in ids:
            axes = {}
            for (c, axis_id), (_, score) in sorted(
                scores.items(), key=lambda kv: self.axes[kv[0][1]]["name"]
            ):
                if c == cid and self.axes[axis_id]["active"]:
                    axes[self.axes[axis_id]["name"]] = {
                        "score": score,
                        "label": self.label(axis_id, score),
                    }
            seed = seeds[cid] + 1
            snapshot = {
                "world_id": world_id,
                "seed": seed,
                "policy_hash": policy_hash,
                "axes": axes,
            }
            payload = Jsonb(snapshot) if self.vendor == "postgresql" else json.dumps(snapshot)
            snapshots.append((payload, seed, policy_hash, stamp, cid))
        cursor.executemany(
            f"UPDATE characters SET current_state_json = {p}, state_seed = {p}, "
            f"state_version = {p}, state_updated_at = {p} WHERE id = {p}",
            snapshots,
        )
        if self.vendor == "sqlite":
            cursor.execute("COMMIT")
        else:
            self.conn.commit()
        return event_id
