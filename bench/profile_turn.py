"""Where a turn's time goes: N turns of one kind, in-process, under cProfile.

The web app runs in this process over a fresh SQLite file, with the turn-cost benchmark's
practice, keys and signed Twilio webhooks; requests go through Flask's test client with
their WSGI environ built beforehand. Patients are first walked (unprofiled) to the state
the phase needs; then N turns run unprofiled (the plain cost per turn), and N more under
cProfile. Prints milliseconds per turn: the time spent in each package's own code (a
project module, an installed distribution, a standard module, a C extension), each with
its heaviest functions, then the top functions by cumulative time. `werkzeug.test` and
`flask.testing` are the test client's own cost, absent under gunicorn; cProfile slows
small Python calls the most, so compare profiles with profiles and the plain time with
the plain time.

    .venv/bin/python -m bench.profile_turn [--phase first|slot|confirm] [--turns 2000]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import re
import shutil
import sysconfig
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench import walk
from bench.sms_webhook import PATH, PUBLIC, ROOT, environment
from bench.turn_plan import Patient, Patients, Signer, bench_environment, form

Func = tuple[str, int, str]  # cProfile's key: file, line, function
STDLIB = Path(sysconfig.get_paths()["stdlib"]).resolve()
C_METHOD = re.compile(r"<method '[^']+' of '([\w.]+)' objects>")
C_FUNCTION = re.compile(r"<built-in method ([\w.]+)\.\w+>")
# the phase: (stages walked before, the message measured, the check of its reply)
PHASES: dict[str, tuple[Sequence[walk.Stage], str, Callable[[Patient, str], None]]] = {
    "first": ((), "Bonjour", walk.greets),
    "slot": ((walk.TO_SLOT_LIST,), "1", walk.asks_name),
    "confirm": ((walk.TO_SLOT_LIST, walk.CHOOSE, walk.NAME), "1", walk.confirms),
}
WARM = 50
PROJECT = ("bot", "channels", "store", "bench")


def package(func: Func) -> str:
    """The package a profiled function belongs to: a project module (`store.service`),
    an installed distribution (`sqlalchemy`), a standard module (`stdlib:json`), or the
    module of a C function (`sqlite3 (C)`)."""
    filename, _, name = func
    if filename == "~":
        found = C_METHOD.match(name) or C_FUNCTION.match(name)
        dotted = found.group(1) if found else "builtins"
        module = dotted.split(".")[0] if "." in dotted else "builtins"  # 'str', 'dict'...
        return "builtins" if module == "builtins" else f"{module} (C)"
    path = Path(filename)
    if "site-packages" in path.parts:
        top = path.parts[path.parts.index("site-packages") + 1]
        if top in ("werkzeug", "flask") and path.stem in ("test", "testing"):
            return f"{top}.{path.stem} (test client)"
        return top.removesuffix(".py")
    try:
        relative = path.resolve().relative_to(ROOT)
        return ".".join(relative.with_suffix("").parts)
    except ValueError:
        pass
    try:
        return "stdlib:" + path.resolve().relative_to(STDLIB).parts[0].removesuffix(".py")
    except ValueError:
        return filename


def family(pkg: str) -> str:
    """Project code, the test client, the standard library, C code, or installed packages."""
    if pkg.split(".")[0] in PROJECT:
        return "project"
    if "(test client)" in pkg:
        return "test client"
    if pkg.startswith("stdlib:"):
        return "stdlib"
    if pkg.endswith("(C)") or pkg == "builtins":
        return "C"
    return "installed packages"


def label(func: Func) -> str:
    """A short name: `package:line function`, or a C function's own name."""
    filename, line, name = func
    return name if filename == "~" else f"{package(func)}:{line} {name}"


def report(profile: cProfile.Profile, turns: int, top: int) -> list[str]:
    """The profile as lines, in ms per turn: packages by self time, each with its heaviest
    functions; then the top functions by cumulative time."""
    stats: dict[Func, Any] = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    ms = 1000 / turns
    groups: dict[str, list[Func]] = defaultdict(list)
    for func in stats:
        groups[package(func)].append(func)
    own = {pkg: sum(stats[f][2] for f in funcs) for pkg, funcs in groups.items()}
    total = sum(own.values())
    families: dict[str, float] = defaultdict(float)
    for pkg, seconds in own.items():
        families[family(pkg)] += seconds
    lines = [
        f"self time, {total * ms:.3f} ms per turn in all: "
        + ", ".join(
            f"{name} {t * ms:.3f}" for name, t in sorted(families.items(), key=lambda kv: -kv[1])
        ),
        "self time by package; under each, its heaviest functions (self, cumulative, calls "
        "per turn)",
    ]
    for pkg in sorted(own, key=lambda p: -own[p])[:top]:
        lines.append(f"  {own[pkg] * ms:8.3f} ms {own[pkg] / total:4.0%}  {pkg}")
        heaviest = sorted(groups[pkg], key=lambda f: -stats[f][2])[:3]
        for func in heaviest:
            _, calls, tt, ct, _ = stats[func]
            lines.append(f"      {tt * ms:8.3f} {ct * ms:8.3f} {calls / turns:7.1f}  {label(func)}")
    lines.append(f"top {top} functions by cumulative time (ms per turn): cumulative, self, calls")
    for func, (_, calls, tt, ct, _) in sorted(stats.items(), key=lambda kv: -kv[1][3])[:top]:
        lines.append(f"  {ct * ms:8.3f} {tt * ms:8.3f} {calls / turns:7.1f}  {label(func)}")
    return lines


def environs(patients: Sequence[Patient], text: str) -> list[dict[str, Any]]:
    """A ready WSGI environ per patient: the signed webhook carrying `text`."""
    from werkzeug.test import EnvironBuilder

    sign, out = Signer(), []
    for p in patients:
        fields = form(p.number, text)
        builder = EnvironBuilder(
            path=PATH,
            base_url=PUBLIC,
            method="POST",
            data=fields,
            headers=list(sign.headers(fields).items()),
        )
        out.append(builder.get_environ())
        builder.close()
    return out


def run(client: Any, environs: Sequence[dict[str, Any]]) -> list[str]:
    """Post each request; the answers' bodies."""
    bodies = []
    for environ in environs:
        answer = client.open(environ)
        if answer.status_code != 200:
            raise SystemExit(f"HTTP {answer.status_code}")
        bodies.append(answer.get_data(as_text=True))
    return bodies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phase", choices=sorted(PHASES), default="first")
    parser.add_argument("--turns", type=int, default=2000)
    parser.add_argument("--top", type=int, default=25, help="lines per table")
    args = parser.parse_args()
    stages, text, check = PHASES[args.phase]
    tmp = Path(tempfile.mkdtemp(prefix="creneau-profile-"))
    try:
        walk.start(bench_environment(environment(tmp), tmp))
        client = walk.client()
        patients = Patients().take(WARM + 2 * args.turns)
        began = time.perf_counter()
        walk.require(walk.walk_here(stages, patients), stages, len(patients))
        prepared = time.perf_counter() - began
        warm, plain, profiled = (
            patients[:WARM],
            patients[WARM : WARM + args.turns],
            patients[WARM + args.turns :],
        )
        run(client, environs(warm, text))
        requests = environs(plain, text)
        began = time.perf_counter()
        bodies = run(client, requests)
        per_turn = (time.perf_counter() - began) * 1000 / args.turns
        requests = environs(profiled, text)
        profile = cProfile.Profile()
        began = time.perf_counter()
        profile.enable()
        bodies += run(client, requests)
        profile.disable()
        profiled_ms = (time.perf_counter() - began) * 1000 / args.turns
        failures = []
        for p, body in zip(plain + profiled, bodies, strict=True):
            try:
                check(p, body)
            except walk.Mismatch as exc:
                failures.append(str(exc))
        walk.require(failures, [walk.Stage(f"the {args.phase} turn", ())], len(bodies))
        print(
            f"phase {args.phase}: {args.turns} turns, {per_turn:.3f} ms per turn "
            f"({profiled_ms:.3f} ms under cProfile); {len(patients)} patients prepared in "
            f"{prepared:.0f} s; SQLite, in-process, Flask test client"
        )
        print("\n".join(report(profile, args.turns, args.top)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
