"""The composition root: one `Node` per process, built the same way by the app factory,
the CLI and the worker.

A node's behaviour is plugged together here and nowhere else. `wiring()` fills the typed
registries from the explicit list of domains below, in that order, and freezes them; every
domain exposes one `wire(w)` function in its `wiring.py`. No module registers anything when
it is imported, so a `tongban cases act` process runs exactly the hooks, effects and
envelope handlers a `tongban serve` process runs (wave 1 learnt this the hard way: a CLI
process never loaded the federation hook, and a peer waited for ever for the event).

`build_node(settings)` adds what is per node (settings, engine, sessions) and checks at
start-up what a running node would otherwise discover at the worst time: every workflow
named by a stored case must be known.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, inspect, text
from sqlalchemy.orm import Session, sessionmaker

from tongban.config import Settings, get_settings
from tongban.node import ratelimit
from tongban.node.keyring import KeyRing, keyring
from tongban.node.ratelimit import RateLimiter
from tongban.node.registry import ConfigurationError, Registry

if TYPE_CHECKING:
    from tongban.cases.payments import PaymentAdapter
    from tongban.cases.rules import Effect
    from tongban.cases.service import TransitionHook
    from tongban.cases.workflow import Workflow
    from tongban.federation.service import Handler, Undeliverable
    from tongban.identity.service import CaseHandlerCheck
    from tongban.notify.channels import ChannelAdapter

# A periodic job of the worker: runs in its own transaction, returns how much it did.
Job = Callable[[Session, Settings], int]


@dataclass(frozen=True)
class WorkerJob:
    """A registered job and the claim it runs under (tongban.queue.service).

    - "lease" (the default): one worker at a time runs it, about every `every` seconds
      node-wide, however many workers there are;
    - "shared": every worker runs it every tick; it claims its own rows in batches
      (`queue.service.claim`), so the workers split the work;
    - "leader": only the worker holding the job's advisory lock runs it, a sequencer
      (the ledger) that another worker takes over when its leader dies.
    """

    run: Job
    every: float = 1.0
    claim: str = "lease"

    def __post_init__(self) -> None:
        if self.claim not in ("lease", "shared", "leader"):
            raise ConfigurationError(f"unknown job claim {self.claim!r}")


class JobRegistry(Registry[WorkerJob]):
    """Worker jobs; a plain function is a leased job run about once a second."""

    def add(self, name: str, item: WorkerJob | Job, *, every: float = 1.0,
            claim: str = "lease") -> WorkerJob:
        job = item if isinstance(item, WorkerJob) else WorkerJob(item, every, claim)
        return super().add(name, job)


@dataclass(frozen=True)
class Wiring:
    """Every plug-in of the node, by kind; filled once per process, then frozen."""

    workflows: Registry[Workflow]
    effects: Registry[Effect]
    transition_hooks: Registry[TransitionHook]
    case_handler_checks: Registry[CaseHandlerCheck]
    payment_adapters: Registry[PaymentAdapter]
    envelope_handlers: Registry[Handler]
    undeliverable: Registry[Undeliverable]
    notify_adapters: Registry[ChannelAdapter]
    jobs: JobRegistry

    def registries(self) -> list[Registry[Any]]:
        return [getattr(self, name) for name in self.__dataclass_fields__]


def _domains() -> list[Any]:
    """The domains that plug something into the node, in wiring order: hooks and jobs
    run in this order (the licence is issued before a bundle or a peer hears of the
    decision; the ledger appends before envelopes are delivered)."""
    from tongban.bundles import wiring as bundles
    from tongban.cases import wiring as cases
    from tongban.eligibility import wiring as eligibility
    from tongban.federation import wiring as federation
    from tongban.ledger import wiring as ledger
    from tongban.notify import wiring as notify
    from tongban.sharing import wiring as sharing
    from tongban.supervision import wiring as supervision

    return [cases, bundles, ledger, federation, sharing, notify, supervision, eligibility]


def build_wiring() -> Wiring:
    """A fresh, frozen wiring of every domain (the process keeps one: `wiring()`)."""
    w = Wiring(
        workflows=Registry("workflow"), effects=Registry("effect"),
        transition_hooks=Registry("transition hook"),
        case_handler_checks=Registry("case handler check"),
        payment_adapters=Registry("payment adapter"),
        envelope_handlers=Registry("envelope handler"),
        undeliverable=Registry("undeliverable envelope"),
        notify_adapters=Registry("notify adapter"), jobs=JobRegistry("worker job"),
    )
    for domain in _domains():
        domain.wire(w)
    for registry in w.registries():
        registry.freeze()
    return w


_lock = threading.Lock()
_wiring: Wiring | None = None


def wiring() -> Wiring:
    """The process's wiring, built on first use: whichever entry point runs first, every
    process of a node gets the same plug-ins."""
    global _wiring
    if _wiring is None:
        with _lock:
            if _wiring is None:
                _wiring = build_wiring()
    return _wiring


@dataclass(frozen=True)
class Node:
    """One node as a process sees it: its settings, database and plug-ins."""

    settings: Settings
    engine: Engine
    sessionmaker: sessionmaker[Session]
    wiring: Wiring
    keys: KeyRing
    rate_limiter: RateLimiter


def build_node(settings: Settings | None = None, *, engine: Engine | None = None) -> Node:
    """The node of these settings, checked; the app factory, CLI and worker call this."""
    from tongban.db import import_all_models, make_engine, make_sessionmaker
    from tongban.sealed import seal_engine

    settings = settings or get_settings()
    keys = keyring(settings)  # in production, no keys: no start (never made up here)
    import_all_models()
    engine = seal_engine(engine or make_engine(settings.database_url), keys)
    node = Node(settings=settings, engine=engine, sessionmaker=make_sessionmaker(engine),
                wiring=wiring(), keys=keys, rate_limiter=ratelimit.build(settings))
    check_references(node)
    return node


def check_references(node: Node) -> None:
    """Refuse to run a node whose stored cases name a workflow nobody registered (it
    would otherwise fail on the first action, or worse, fall back to another table)."""
    if not inspect(node.engine).has_table("cases"):
        return  # a database not migrated yet: `tongban db upgrade` comes first
    with node.engine.connect() as conn:
        names = [row[0] for row in conn.execute(text("SELECT DISTINCT workflow FROM cases"))]
    unknown = sorted(n for n in names if n not in node.wiring.workflows)
    if unknown:
        raise ConfigurationError(
            f"stored cases name unknown workflows: {', '.join(unknown)} "
            f"(known: {', '.join(node.wiring.workflows.names())})"
        )
