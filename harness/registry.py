"""The registry plugins fill: named, lazily imported factories for policies, tasks and reporters.

A plugin's hook calls ``registry.add_policy("smolvla", "vla_bench_lerobot.smolvla:make", ...)``;
the target module is imported only when that name is used, so ``bench list`` stays fast and
works without heavy backends installed.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["policy", "task", "suite", "reporter", "command", "judge"]

LIST_COMMAND = {
    "policy": "bench list policies",
    "task": "bench list tasks",
    "suite": "bench list suites",
    "reporter": "bench list reporters",
    "command": "bench --help",
    "judge": "bench list judges",
}


class UnknownNameError(LookupError):
    """An unknown policy/task/suite/reporter name, with a suggestion and the listing command."""

    def __init__(self, kind: Kind, name: str, known: Iterable[str], extra: str = "") -> None:
        suggestion = _suggestion(name, list(known))
        hint = f" — did you mean {suggestion!r}?" if suggestion else ""
        super().__init__(f"unknown {kind} {name!r}{hint} ({LIST_COMMAND[kind]}){extra}")


def _suggestion(name: str, known: list[str]) -> str | None:
    """The known name meant: the longest one that ``name`` ends with (a suite or benchmark
    prefix added: ``metaworld-reach-v3`` for ``reach-v3``), else the closest spelling."""
    tails = [k for k in known if len(k) >= 3 and name.lower().endswith(k.lower())]
    if tails:
        return max(tails, key=len)
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    return close[0] if close else None


class RegistrationError(ValueError):
    """A plugin registered a name twice or with a malformed target."""


NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$")
"""Registered names: letters, digits and ``_ . + -``, starting with a letter or digit. Task
names become file names in a run directory, so no separators and no ``..``."""


class TaskOptionError(ValueError):
    """``--task-args`` named an option the task's factory does not take."""


def load_target(target: str | Callable[..., Any]) -> Callable[..., Any]:
    """Resolve a ``"package.module:attr"`` target (or return a callable as is)."""
    if callable(target):
        return target
    module_name, sep, attr = target.partition(":")
    if not sep:
        raise RegistrationError(f"target {target!r} must look like 'package.module:attribute'")
    module = importlib.import_module(module_name)
    try:
        obj = getattr(module, attr)
    except AttributeError:
        raise RegistrationError(f"module {module_name!r} has no attribute {attr!r}") from None
    if not callable(obj):
        raise RegistrationError(f"{target!r} is a {type(obj).__name__}, not a callable")
    return obj


@dataclass(frozen=True)
class Entry:
    """One registered name: what it is, where its factory lives and which plugin added it."""

    kind: Kind
    name: str
    target: str | Callable[..., Any]
    plugin: str
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def load(self) -> Callable[..., Any]:
        """Import and return the factory; any failure names the plugin to fix."""
        try:
            return load_target(self.target)
        except ImportError as exc:
            raise RegistrationError(
                f"{self.kind} {self.name!r} (plugin {self.plugin!r}) cannot be imported: {exc}; "
                f"install that plugin's dependencies"
            ) from exc
        except RegistrationError as exc:
            raise RegistrationError(
                f"{self.kind} {self.name!r} (plugin {self.plugin!r}): {exc}"
            ) from None
        except Exception as exc:  # a plugin module that raises on import
            raise RegistrationError(
                f"{self.kind} {self.name!r} (plugin {self.plugin!r}) failed to import: "
                f"{type(exc).__name__}: {exc}"
            ) from exc


class Registry:
    """What every plugin's ``vla_bench_register_*`` hook adds to, and what the CLI reads."""

    def __init__(self) -> None:
        self._entries: dict[Kind, dict[str, Entry]] = {
            "policy": {},
            "task": {},
            "suite": {},
            "reporter": {},
            "command": {},
            "judge": {},
        }
        self.current_plugin = "<unknown>"

    # -- adding ---------------------------------------------------------------------------
    def _add(self, entry: Entry) -> None:
        table = self._entries[entry.kind]
        if not NAME_PATTERN.match(entry.name):
            raise RegistrationError(
                f"{entry.kind} name {entry.name!r} is not allowed: use letters, digits and "
                "_ . + - (starting with a letter or digit)"
            )
        if entry.name in table:
            first = table[entry.name].plugin
            raise RegistrationError(
                f"{entry.kind} {entry.name!r} is registered by both {first!r} and "
                f"{entry.plugin!r}; uninstall one or rename it"
            )
        table[entry.name] = entry

    def add_policy(
        self,
        name: str,
        target: str | Callable[..., Any],
        *,
        description: str = "",
        action_spaces: tuple[str, ...] = ("*",),
        privileged: bool = False,
        in_process: bool = False,
    ) -> None:
        """Register a policy factory ``f(config: PolicyConfig) -> Policy``.

        ``action_spaces``: the action-space names it drives (``"*"``: any; ``"discrete"``: any
        discrete space). ``privileged``: it reads the simulator's hidden state (a scripted
        expert): it gets the env at reset, runs beside the env, and is never ranked.
        ``in_process``: pure Python that cannot crash or hang the interpreter, so a
        single-worker run may execute it in the runner's own process (see ``--isolate``).
        """
        self._add(
            Entry(
                "policy",
                name,
                target,
                self.current_plugin,
                description,
                {
                    "action_spaces": tuple(action_spaces),
                    "privileged": privileged,
                    "in_process": in_process,
                },
            )
        )

    def add_task(
        self,
        name: str,
        target: str | Callable[..., Any],
        *,
        suite: str,
        description: str = "",
        expert: str | Callable[..., Any] | None = None,
        action_space: str | None = None,
    ) -> None:
        """Register a task factory ``f(**options) -> Task``, in ``suite``, with its expert.

        ``expert`` is a policy factory ``f(config) -> Policy`` with ``privileged = True``;
        ``bench run --policy scripted`` uses it. ``action_space`` names the task's action
        space so ``bench list`` can show it without building the task (checked against the
        built task's spec when a run is planned).
        """
        suites = self._entries["suite"]
        if suite in suites and suites[suite].plugin != self.current_plugin:
            raise RegistrationError(
                f"task {name!r}: suite {suite!r} belongs to plugin {suites[suite].plugin!r}; "
                "a plugin adds tasks to suites of its own (pick another suite name)"
            )
        if suite not in suites:
            self._add(Entry("suite", suite, "", self.current_plugin, "", {"tasks": []}))
        self._add(
            Entry(
                "task",
                name,
                target,
                self.current_plugin,
                description,
                {"suite": suite, "expert": expert, "action_space": action_space},
            )
        )
        suites[suite].extra["tasks"].append(name)

    def add_suite(self, name: str, tasks: Iterable[str], *, description: str = "") -> None:
        """Register a suite that selects tasks registered under another suite (a task may be in
        several, e.g. Meta-World's difficulty splits of its 50 tasks); ``--task NAME`` runs them."""
        self._add(
            Entry("suite", name, "", self.current_plugin, description, {"tasks": list(tasks)})
        )

    def add_reporter(
        self, name: str, target: str | Callable[..., Any], *, description: str = ""
    ) -> None:
        """Register a report renderer ``render(runs, problems) -> str``.

        ``runs`` are :class:`harness.results.Run` objects; ``problems`` are notes (str) about
        run directories that could not be read.
        """
        self._add(Entry("reporter", name, target, self.current_plugin, description))

    def add_command(
        self, name: str, target: str | Callable[..., Any], *, description: str = ""
    ) -> None:
        """Register a ``bench NAME`` subcommand: a ``click.Command``, imported when invoked."""
        self._add(Entry("command", name, target, self.current_plugin, description))

    def add_judge(
        self, name: str, target: str | Callable[..., Any], *, description: str = ""
    ) -> None:
        """Register a judge factory ``f(options: dict[str, str]) -> Judge``.

        A judge maps (frames, instruction, optional state text) to a success probability, a
        scalar reward or a numeric answer (see ``vla_bench_rewards.judges.base``).
        """
        self._add(Entry("judge", name, target, self.current_plugin, description))

    # -- reading --------------------------------------------------------------------------
    def names(self, kind: Kind) -> list[str]:
        """Registered names of one kind, sorted."""
        return sorted(self._entries[kind])

    def entries(self, kind: Kind) -> list[Entry]:
        """Registered entries of one kind, sorted by name."""
        return [self._entries[kind][n] for n in self.names(kind)]

    def get(self, kind: Kind, name: str) -> Entry:
        """The entry for ``name``, or an error with a "did you mean" suggestion."""
        try:
            return self._entries[kind][name]
        except KeyError:
            raise UnknownNameError(kind, name, self._entries[kind]) from None

    def drop_plugin(self, plugin: str) -> None:
        """Remove everything ``plugin`` registered (it failed part-way: none of it is kept)."""
        for table in self._entries.values():
            for name in [n for n, e in table.items() if e.plugin == plugin]:
                del table[name]
        for suite in self._entries["suite"].values():
            suite.extra["tasks"][:] = [
                t for t in suite.extra["tasks"] if t in self._entries["task"]
            ]

    def by_plugin(self, plugin: str) -> dict[str, list[str]]:
        """What one plugin registered, by kind (for ``bench plugins``)."""
        out: dict[str, list[str]] = {}
        for kind, table in self._entries.items():
            names = sorted(n for n, e in table.items() if e.plugin == plugin)
            if names:
                out[kind] = names
        return out

    def build_task(self, name: str, options: Mapping[str, str] | None = None) -> Any:
        """Build task ``name`` from its factory, passing ``options`` (``--task-args``) as
        keyword arguments with string values; the factory converts and validates them."""
        factory = self.get("task", name).load()
        options = dict(options or {})
        if options:
            params = inspect.signature(factory).parameters
            takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
            unknown = sorted(set(options) - set(params))
            if unknown and not takes_any:
                known = ", ".join(params) or "none"
                raise TaskOptionError(
                    f"task {name!r} has no option {', '.join(map(repr, unknown))} "
                    f"(its options: {known})"
                )
        return factory(**options)

    def resolve_tasks(self, name: str) -> list[str]:
        """A task name, or a suite name expanded to its tasks (``--task`` takes either)."""
        if name in self._entries["task"]:
            return [name]
        if name in self._entries["suite"]:
            return list(self._entries["suite"][name].extra["tasks"])
        raise UnknownNameError("task", name, [*self._entries["task"], *self._entries["suite"]])
