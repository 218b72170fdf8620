"""Demo data for `make serve`: characters with a believable event history, and logins.

Everything goes through the real services (``create_character``, ``apply_event``), so the
demo ledger is one the product itself could have written. Deterministic: the same seed
gives the same ledger. The demo logins of the two roles (``create_demo_users``) get a new
random password on every run instead.
"""

import random
import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ImproperlyConfigured

from access.roles import GAME_MASTERS, INSPECTORS
from ledger.models import Source
from ledger.provenance import Actor
from ledger.services import apply_event
from pipeworks.transactions import atomic_commit
from worlds.models import Character
from worlds.services import create_character

DEMO_CHARACTERS = {
    "pipeworks_web": ["Ada Brass", "Corin Valve", "Mira Gasket", "Tobin Flue"],
    "daily_undertaking": ["Edda Ledger", "Pell Courier", "Wren Counter"],
}

# (role, username, group): one staff login per role, for trying the roles out.
DEMO_USERS = [
    ("inspector", "inspector", INSPECTORS),
    ("game master", "gamemaster", GAME_MASTERS),
]
DEMO_ROLE_MISSING = "the group {group!r} does not exist: run `manage.py migrate` first"

# (event type, {axis: (low, high)}, metadata source values)
DEMO_EVENTS = {
    "pipeworks_web": [
        ("loot_found", {"wealth": (0.05, 0.2)}, ["treasure_chest", "bandit_camp", "sewer_cache"]),
        ("taxes_paid", {"wealth": (-0.15, -0.05)}, ["guild_collector"]),
        ("combat", {"health": (-0.35, -0.05), "reputation": (0.0, 0.08)}, ["arena", "ambush"]),
        ("rested", {"health": (0.05, 0.25)}, ["inn", "campfire"]),
        ("insulted", {"demeanor": (-0.2, -0.05)}, ["market_quarrel"]),
        ("festival", {"demeanor": (0.05, 0.2), "wealth": (-0.08, -0.02)}, ["harvest_fair"]),
        ("season_passed", {"age": (0.01, 0.04)}, ["calendar"]),
    ],
    "daily_undertaking": [
        ("shift_worked", {"wealth": (0.02, 0.08), "fatigue": (0.1, 0.3)}, ["counter", "route"]),
        ("night_slept", {"fatigue": (-0.5, -0.2)}, ["home"]),
        ("complaint", {"morale": (-0.2, -0.05), "demeanor": (-0.1, 0.0)}, ["customer"]),
        ("bonus", {"wealth": (0.05, 0.15), "morale": (0.05, 0.15)}, ["manager"]),
        ("cold_caught", {"health": (-0.3, -0.1)}, ["draughty_office"]),
        ("year_passed", {"age": (0.02, 0.06)}, ["calendar"]),
    ],
}


@atomic_commit()
def load_demo_data(
    *, events_per_character: int = 25, seed: int = 7, actor: Actor | None = None
) -> list[Character]:
    """Create the demo characters that do not exist yet, each with an event history.

    ``actor`` is recorded as who caused the history (default: ``manage.py load_demo``
    and the OS user running it).

    Returns:
        The characters created (empty when the demo data was already loaded).
    """
    rng = random.Random(seed)
    actor = actor or Actor.command("manage.py load_demo")
    created = []
    for world_id, names in DEMO_CHARACTERS.items():
        for name in names:
            if Character.objects.filter(world_id=world_id, name=name).exists():
                continue
            character = create_character(world_id=world_id, name=name)
            created.append(character)
            for _ in range(events_per_character):
                event_type, axes, sources = rng.choice(DEMO_EVENTS[world_id])
                apply_event(
                    world_id=world_id,
                    event_type=event_type,
                    deltas={
                        character.pk: {
                            axis: round(rng.uniform(low, high), 3)
                            for axis, (low, high) in axes.items()
                        }
                    },
                    metadata={"source": rng.choice(sources), "demo": "true"},
                    actor=actor,
                    source=Source.COMMAND,
                )
    return created


@atomic_commit()
def create_demo_users() -> list[tuple[str, str, str]]:
    """Create or reset one staff login per role, each with a new random password.

    Each demo user is staff, not superuser, and in exactly its role's group, whatever it
    was before: a rerun undoes any change made to it.

    Raises:
        django.core.exceptions.ImproperlyConfigured: a role's group is missing
            (``DEMO_ROLE_MISSING``); nothing is written.

    Returns:
        (role, username, password) per demo login, in ``DEMO_USERS`` order.
    """
    names = [group_name for _, _, group_name in DEMO_USERS]
    groups = {group.name: group for group in Group.objects.filter(name__in=names)}
    for name in names:
        if name not in groups:
            raise ImproperlyConfigured(DEMO_ROLE_MISSING.format(group=name))
    logins = []
    for role, username, group_name in DEMO_USERS:
        group = groups[group_name]
        password = secrets.token_urlsafe(12)
        user, _ = get_user_model().objects.get_or_create(username=username)
        user.is_staff = True
        user.is_superuser = False
        user.is_active = True
        user.set_password(password)
        user.save()
        user.groups.set([group])
        user.user_permissions.clear()
        logins.append((role, username, password))
    return logins
