"""The daemon's requests: one method per op, what each does to the engine and what it replies.

:class:`Requests` runs a request that a client sent (:meth:`Requests.run`): it checks the
request's id and op, calls the op's method, saves the groups at once after a command that
changed them, and sends the reply (or the error that is the reply) through the server's
``send``. The server (:mod:`tractui.daemon.server`) keeps the sockets, the select loop and the
client buffers; nothing here touches a socket.

No Textual here.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from tractui import __version__, control
from tractui.control import Identity, LaunchSpec
from tractui.daemon.peer import Client
from tractui.daemon.protocol import (
    ID_MAX,
    PID_MAX,
    PROTOCOL,
    BadRequest,
    JsonObject,
    Request,
    encode,
    procs_in_tree_order,
)
from tractui.engine import Engine, attach_group
from tractui.errors import UserError
from tractui.kernel import procfs, pstats
from tractui.model.changes import Key
from tractui.model.store import Group, aligned_exec_times
from tractui.model.tracker import Tracker
from tractui.model.wire import group_to_wire, key_from_wire, planned_to_wire
from tractui.supervise import EventRings, Restarter

log = logging.getLogger(__name__)

SAVED_AT_ONCE = frozenset({"add", "attach", "rename", "remove"})
ID_LIMIT = 1 << 63  # a request's id is a signed 64-bit integer


class Encoded(bytes):
    """A request's result already encoded as JSON (spliced into the reply as it is)."""


class Requests:
    """The daemon's ops, run against its engine between two batches (as the TUI's commands
    are): ``send`` queues a reply for a client (and sizes its limit to it),
    ``send_snapshot`` starts a subscription's stream. ``clients``, ``events`` and
    ``restarter`` are the server's, shared."""

    def __init__(
        self,
        engine: Engine,
        uid: int,
        clients: dict[int, Client],
        events: EventRings[JsonObject],
        restarter: Restarter,
        send: Callable[[Client, bytes], None],
        send_snapshot: Callable[[Client], None],
    ) -> None:
        self.engine = engine
        self.clients = clients
        self.events = events
        self.restarter = restarter
        self.send = send
        self.send_snapshot = send_snapshot
        self.uid = uid  # the daemon's
        self.metrics = ""  # where /metrics is served ("HOST:PORT"); "" when it is not
        self.users = procfs.UserNames()  # for the user of each process an attach adds
        self._list_cache: dict[str, tuple[int, Encoded]] = {}
        self._list_revision = -1
        self._handlers: dict[str, Callable[[Client, JsonObject], Any]] = {
            "hello": self._hello,
            "groups": self._groups,
            "list": self._list,
            "add": self._add,
            "attach": self._attach,
            "signal": self._signal,
            "rename": self._rename,
            "remove": self._remove,
            "subscribe": self._subscribe,
            "stats": self.stats,
            "log": self._read_log,
        }

    def run(self, client: Client, message: JsonObject) -> None:
        """Run one request; whatever fails in it is its error reply (and the daemon goes on)."""
        rid = message.get("id")
        if rid is not None and not (type(rid) is int and -ID_LIMIT <= rid < ID_LIMIT):
            # it is echoed in the reply: nothing but a number a client can have sent
            err = Request(message).bad("id", "an integer of at most 64 bits (or absent)")
            self._reply_error(client, None, str(err))
            return
        op = message.get("op")
        handler = self._handlers.get(op) if isinstance(op, str) else None
        if handler is None:
            known = ", ".join(sorted(self._handlers))
            self._reply_error(client, rid, f"unknown request {op!r}: use one of {known}")
            return
        try:
            result = handler(client, message)
            if op in SAVED_AT_ONCE and message.get("dry_run") is not True:
                problem = self._save_now()
                if problem and isinstance(result, dict):
                    # done, but only in memory: the client must not take it for saved
                    result = {**result, "not_saved": f"state not saved: {problem}"}
            if isinstance(result, Encoded):
                head = encode({"t": "reply", "id": rid, "ok": True})[:-2]
                reply = head + b',"result":' + result + b"}\n"
            else:
                reply = encode({"t": "reply", "id": rid, "ok": True, "result": result})
        except UserError as err:
            self._reply_error(client, rid, str(err))
        except (KeyError, TypeError, ValueError) as err:
            self._reply_error(client, rid, f"bad {op} request: {_describe(err)}")
        except Exception as err:  # never let one request end the daemon
            log.exception("request %r failed", op)
            self._reply_error(client, rid, f"internal error in {op}: {err} (see the daemon's log)")
        else:
            self.send(client, reply)
            if op == "subscribe":
                self.send_snapshot(client)

    def _save_now(self) -> str:
        """A command changed the groups: on disk before the client hears it is done (what
        members fork later is saved within the persister's interval, by the engine's poll).
        "" if it is saved, else why not (the change stays in memory and is saved again)."""
        state = self.engine.state
        if state is None:
            return ""
        problem = state.save_now(self.engine)
        if problem:
            log.warning("the groups could not be saved: %s", problem)
        return problem

    def _reply_error(self, client: Client, rid: Any, error: str) -> None:
        self.send(client, encode({"t": "reply", "id": rid, "ok": False, "error": error}))

    def hello_message(self) -> JsonObject:
        """What the daemon says first to each client, and replies to 'hello'."""
        return {
            "t": "hello",
            "protocol": PROTOCOL,
            "version": __version__,
            "pid": os.getpid(),
            "uid": self.uid,
            "own_pids": sorted(self.engine.tracker.own_pids),
            "banner": self.restarter.banners(),
        }

    def group_wire(self, group: Group) -> JsonObject:
        """A group as the protocol sends it, with its launch log and whether it has launches."""
        launched = bool(self.engine.launches.get(group.name))
        return group_to_wire(group, launched, str(self.engine.log_path(group.name)))

    def _hello(self, client: Client, m: JsonObject) -> JsonObject:
        version = Request(m).integer(
            "protocol", 0, 1 << 31, f"an integer (this daemon speaks {PROTOCOL})"
        )
        if version is not None and version != PROTOCOL:
            raise UserError(
                f"protocol {version} is not spoken here (daemon {__version__} speaks {PROTOCOL}): "
                "use the same tractui for the daemon and its clients"
            )
        hello = self.hello_message()
        del hello["t"]
        return hello

    def stats(self, client: Client | None = None, m: JsonObject | None = None) -> JsonObject:
        """The daemon's counts, state and banner: the reply to 'stats', and in every delta."""
        c = self.engine.counters
        state = self.engine.state
        restored = self.engine.restored
        return {
            "events": c.events or self.engine.tracker.events,
            "lost": c.lost or self.engine.tracker.lost,
            "state": self.restarter.state,
            "banner": self.restarter.banners(),
            "not_saved": state.error if state is not None else "",
            "unseen": restored.unseen() if restored is not None else "",
            "clients": len(self.clients),
            "groups": len(self.engine.tracker.groups),
            "members": len(self.engine.tracker.live),
            # the kernel's exit records: "" when they come, else why not
            "accounting": c.accounting,
            "acct_records": c.acct_records,
            "acct_lost": c.acct_lost,
            **(history.stats() if (history := self.engine.history) is not None else {}),
            **({"metrics": self.metrics} if self.metrics else {}),
        }

    def _groups(self, client: Client, m: JsonObject) -> list[JsonObject]:
        """Every group, with its CPU seconds: the live members' from /proc now (a stat and a
        schedstat read each: to the ns, pstats.run_time_ns), the ended ones' from the kernel's
        exit records, and what the records lack, from what the members' reapers were given
        (tractui.model.reaped)."""
        tracker = self.engine.tracker
        live_ns: dict[str, int] = {}
        for proc in tracker.live.values():
            stat = procfs.read_stat(proc.pid)
            if stat is not None and procfs.same_start(stat.start, proc.start):
                ns = pstats.run_time_ns(proc.pid, stat.utime_stime, 0, stat.threads)
                if ns < 0:
                    ns = stat.utime_stime * procfs.NS_PER_TICK
                live_ns[proc.group] = live_ns.get(proc.group, 0) + ns
        out = []
        for group in tracker.groups.values():
            wire = self.group_wire(group)
            live = live_ns.get(group.name, 0) / 1e9
            wire["live_cpu_s"] = round(live, 6)
            wire["cpu_s"] = round(live + group.accounted_cpu_s, 6)
            out.append(wire)
        return out

    def _list(self, client: Client, m: JsonObject) -> Encoded:
        """A group's members in tree order, encoded once per change of the tracker: ten
        clients listing 5,000 members cost one walk and one JSON encoding, not ten."""
        tracker = self.engine.tracker
        r = Request(m)
        group = tracker.group(r.group())
        if r.flag("all"):  # (the server sizes the client's limit to the reply)
            newest = r.integer("newest", 1, 1 << 31)
            return self._list_all(group, r.flag("history_only"), newest)
        cached = self._list_cache.get(group.name)
        if cached is not None and cached[0] == tracker.revision:
            return cached[1]
        members = members_wire(tracker, group)
        result = Encoded(encode({"group": self.group_wire(group), "members": members})[:-1])
        if len(self._list_cache) > 64 or tracker.revision != self._list_revision:
            self._list_cache.clear()
            self._list_revision = tracker.revision
        self._list_cache[group.name] = (tracker.revision, result)
        return result

    def _list_all(self, group: Group, history_only: bool, newest: int | None) -> Encoded:
        """'list' with ``all``: the group's ended members kept on disk (Engine.history_of),
        oldest first, then its members in memory, as 'list' gives them. Read from the files
        at each request: not cached. ``history_only``: not those in memory (a UI has them);
        ``newest``: only the ``newest`` that ended last (``history.older`` counts the rest)."""
        found = self.engine.history_of(group.name, newest)
        members = found.entries
        if not history_only:
            members = members + members_wire(self.engine.tracker, group)
        result = {"group": self.group_wire(group), "members": members, "history": found.info()}
        return Encoded(encode(result)[:-1])

    def _add(self, client: Client, m: JsonObject) -> JsonObject:
        """Launch a program with its client's context (environment, umask, working directory),
        never the daemon's; a client that sends none (an older one) gets a minimal one."""
        r = Request(m)
        name = r.group()
        argv = r.texts("argv")
        if argv is None:
            raise UserError("add needs 'argv': the program and its arguments, as strings")
        cwd = r.text("cwd")
        if cwd is not None and not cwd.startswith("/"):
            raise BadRequest("'cwd' must be an absolute path: the daemon's directory is not yours")
        env = r.text_map("env") or {}
        umask = r.integer("umask", 0, 0o777, "an integer from 0 to 511 (0o777): a umask")
        if umask is None:
            umask = control.DEFAULT_UMASK
        as_root = r.flag("as_root")
        who = launch_user(self.uid, client.uid, r, as_root)
        assign = r.text_map("assign")  # the command line's VAR=value, over the environment
        spec = LaunchSpec(argv, cwd or "/", env, as_root, who, umask, client.uid, assign)
        existed = name.strip() in self.engine.tracker.groups
        proc = self.engine.launch(name, spec)
        log_path = str(self.engine.log_path(proc.group))
        return {"pid": proc.pid, "group": proc.group, "log": log_path, "created": not existed}

    def _attach(self, client: Client, m: JsonObject) -> JsonObject:
        """Attach ``pids`` to ``group``. ``create`` (absent: false, for older clients too: a
        typo must not make a group) lets it make the group; ``dry_run`` says what would be
        added and changes nothing; ``skip_tracked`` leaves out the PIDs already tracked (named
        in ``skipped``) instead of refusing them. The requesting client's own process is never
        attached (it is tractui, or a script asking)."""
        r = Request(m)
        create, dry_run = r.flag("create"), r.flag("dry_run")
        # a dry run may name no group: what the PIDs would bring, wherever they go
        name = None if dry_run and m.get("group") is None else r.group()
        pids = r.integers("pids", 1, PID_MAX, "process IDs")
        if pids is None:
            raise UserError("attach needs 'pids': a list of process IDs")
        tracker = self.engine.tracker
        skipped = []
        if r.flag("skip_tracked"):
            skipped = [
                {"pid": pid, "group": tracker.live[pid].group}
                for pid in dict.fromkeys(pids)
                if pid in tracker.live
            ]
            pids = [pid for pid in pids if pid not in tracker.live]
            if not pids:
                named = ", ".join(f"{s['pid']} in {s['group']!r}" for s in skipped[:3])
                more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
                raise UserError(f"every process given is tracked already ({named}{more})")
        planned = tracker.plan_attach(pids, exclude=(client.pid,))
        # a dry run previews a group that does not exist even without create: it says so
        group = None if name is None else attach_group(tracker, name, create or dry_run)
        added = [planned_to_wire(item, self.users.name(item.info.uid)) for item in planned]
        result: JsonObject = {"group": group, "added": added, "skipped": skipped}
        if dry_run:
            exists = group in tracker.groups
            if group is not None and not exists and not create:
                result["needs_create"] = tracker.known_groups()
            return {**result, "exists": exists}
        assert group is not None
        procs = self.engine.attach_planned(group, planned)
        roots = [p.pid for p in procs if p.parent is None]
        return {**result, "roots": roots, "live": tracker.groups[group].live}

    def _signal(self, client: Client, m: JsonObject) -> JsonObject:
        r = Request(m)
        name_or_number = r.signal()
        sig = control.parse_signal("TERM" if name_or_number is None else name_or_number)
        pid = r.integer("pid", 1, PID_MAX, f"a process ID (an integer from 1 to {PID_MAX})")
        subtree = r.flag("subtree")
        tracker = self.engine.tracker
        keys = m.get("keys")
        if keys is not None:
            if not isinstance(keys, list):
                raise r.bad("keys", "a list of [pid, start] pairs of integers")
            procs = []
            for i, raw in enumerate(keys):
                try:
                    key = key_from_wire(raw)
                except ValueError:
                    raise BadRequest(
                        f"'keys' must be a list of [pid, start] pairs of integers: item {i} is not"
                    ) from None
                proc = tracker.procs.get(key)
                if proc is None or not proc.alive:
                    raise UserError(f"PID {key[0]} is not a live tracked process")
                procs.append(proc)
        else:
            name = r.group()
            procs = self.engine.targets(name, pid, subtree)
            if not procs:
                raise UserError(f"group {name!r} has no live process to signal")
        results = self.engine.signal(procs, sig)
        return {
            "signal": sig.name,
            "results": [{"pid": r.pid, "ok": r.ok, "error": r.error} for r in results],
        }

    def _rename(self, client: Client, m: JsonObject) -> JsonObject:
        r = Request(m)
        old, new = r.group("old"), r.group("new")
        name = self.engine.rename_group(old, new).name
        self.events.rename(old, name)
        for other in self.clients.values():
            if other.group == old:
                other.group = name  # a subscription follows its group
        return {"group": name}

    def _remove(self, client: Client, m: JsonObject) -> JsonObject:
        name = Request(m).group()
        live = self.engine.tracker.group(name).live
        keys = self.engine.remove_group(name)
        return {"group": name, "dropped": len(keys), "live": live}

    def _read_log(self, client: Client, m: JsonObject) -> JsonObject:
        """Part of a group's launch log: its tail (``lines``, optional), or what follows
        ``offset``. The log is the daemon's file (0600): its clients read it through here."""
        r = Request(m)
        name = r.group()
        offset = r.integer("offset", 0, 1 << 62, "an integer, 0 or more: where to read on")
        lines = r.integer("lines", 0, 1 << 31, "an integer, 0 or more: how many last lines")
        return self.engine.read_log(name, offset, lines).to_wire()

    def _subscribe(self, client: Client, m: JsonObject) -> JsonObject:
        group = m.get("group")
        if group is not None:
            self.engine.tracker.group(Request(m).group())
        client.subscribed = True
        client.group = group
        return {"group": group}


def _describe(err: Exception) -> str:
    if isinstance(err, KeyError):
        return f"missing field {err.args[0]!r}"
    return str(err)


def launch_user(daemon_uid: int, client_uid: int, r: Request, as_root: bool) -> Identity:
    """Who a client's program runs as: a root client chooses (its sudo user, sent by the
    CLI); any other client runs its programs as itself; a daemon that is not root can
    only run them as its own user."""
    user = r.record("user")
    uid = gid = groups = None
    if user is not None:  # checked whoever sends it: a wrong one is an error, never ignored
        uid = user.integer("uid", 0, ID_MAX)
        if uid is None:
            raise user.bad("uid", "an integer: the user's uid")
        gid = user.integer("gid", 0, ID_MAX)
        groups = user.integers("groups", 0, ID_MAX, "group IDs", empty=True)
    if daemon_uid != 0:
        return Identity.of_uid(daemon_uid)
    if client_uid != 0:
        if as_root:
            raise UserError("only root may launch as root: run the command with sudo")
        return Identity.of_uid(client_uid)
    if uid is None or as_root:
        return Identity.of_uid(0)
    who = Identity.of_uid(uid)
    if gid is not None:
        who.gid = gid
    if groups is not None:
        who.groups = groups
    return who


def members_wire(tracker: Tracker, group: Group) -> list[JsonObject]:
    """A group's members in tree order, as 'list' replies them (each with its depth)."""
    members = []
    depth: dict[Key, int] = {}
    for proc in procs_in_tree_order(tracker, [group]):
        d = depth.get(proc.parent, -1) + 1 if proc.parent is not None else 0
        depth[proc.key] = d
        members.append(
            {
                "pid": proc.pid,
                "start": proc.start,
                "parent": proc.parent[0] if proc.parent is not None else None,
                "ppid": proc.ppid,
                "depth": d,
                "uid": proc.uid,
                "command": proc.command(),
                "argv": list(proc.argv),
                "execs": [list(a) for a in proc.execs],
                # ns since boot, like start; null: not known
                "exec_times": aligned_exec_times(proc.exec_times, len(proc.execs)),
                "alive": proc.alive,
                "status": proc.status_text(),
                "reparented": proc.reparented,
                "ended": proc.ended,  # boot-clock ns, as "start"; null while alive
                "exit": proc.exit.to_json() if proc.exit is not None else None,
                "comm": proc.comm,
                "account": proc.account.to_json() if proc.account is not None else None,
            }
        )
    return members
