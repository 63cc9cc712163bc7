"""A named registry of one kind of plug-in (workflows, effects, hooks, handlers, jobs).

Modelled on Open Forms' `plugins/registry.py`: a plug-in is added under a unique name, a
second one under the same name is refused, and asking for a name nobody added is a
configuration error, never a silent fallback. The composition root (tongban.node.root)
fills every registry in one place and then freezes them, so what a process does never
depends on which modules it happened to import.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

T = TypeVar("T")


class ConfigurationError(Exception):
    """The node is wired or configured wrongly: it must not start (a bug or a bad
    setting, not a caller's input)."""


class DuplicateName(ConfigurationError):
    pass


class UnknownName(ConfigurationError):
    pass


class Registry(Generic[T]):
    """Plug-ins of one kind by name, in the order they were added."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._frozen = False

    def add(self, name: str, item: T) -> T:
        """Add `item` under `name`; a taken name or a frozen registry is refused."""
        if self._frozen:
            raise ConfigurationError(f"{self.kind} registry is frozen: {name!r} added late")
        if name in self._items:
            raise DuplicateName(f"{self.kind} {name!r} is registered twice")
        self._items[name] = item
        return item

    def get(self, name: str) -> T:
        """The plug-in called `name`; an unknown name is a configuration error."""
        try:
            return self._items[name]
        except KeyError:
            raise UnknownName(
                f"unknown {self.kind} {name!r} (known: {', '.join(self._items) or 'none'})"
            ) from None

    def find(self, name: str) -> T | None:
        """The plug-in called `name`, or None where having none is normal."""
        return self._items.get(name)

    def names(self) -> list[str]:
        return list(self._items)

    def values(self) -> list[T]:
        return list(self._items.values())

    def items(self) -> list[tuple[str, T]]:
        return list(self._items.items())

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[T]:
        return iter(list(self._items.values()))

    def __len__(self) -> int:
        return len(self._items)

    def freeze(self) -> None:
        """Refuse additions from now on (the root freezes every registry it filled)."""
        self._frozen = True

    @contextmanager
    def added(self, name: str, item: T) -> Iterator[T]:
        """For tests: `item` is registered under `name` inside the block only."""
        if name in self._items:
            raise DuplicateName(f"{self.kind} {name!r} is registered twice")
        self._items[name] = item
        try:
            yield item
        finally:
            del self._items[name]
