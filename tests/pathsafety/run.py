#!/usr/bin/env python3
"""Differential path-safety harness: no spelling of a priced path gets the priced content
through the x402 gateway unpaid, in front of real servers (nginx, Express, Tomcat, Python's
http.server). See README.md beside this file.

    python3 tests/pathsafety/run.py                 # setup, the default corpus, every upstream
    python3 tests/pathsafety/run.py --fuzz 5000     # 5000 seeded random mutations instead
    X402_GATEWAY_BIN=/path/to/x402-gateway python3 tests/pathsafety/run.py

Exit 0 only when every check held; the last line is `N passed, N failed`.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))

import client  # noqa: E402
import corpus  # noqa: E402
import servers  # noqa: E402

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
UPSTREAMS = ("nginx", "express", "tomcat", "python")
APT_PACKAGES = {"nginx": ["nginx"], "tomcat": ["tomcat10", "default-jre-headless"],
                "node": ["nodejs", "npm"]}
MARKER_BYTES = [m.encode() for m in servers.MARKERS.values()]


def log(msg: str) -> None:
    print(msg, flush=True)


# --- setup --------------------------------------------------------------------------------

def have(dep: str) -> bool:
    if dep == "nginx":
        return shutil.which("nginx") is not None or Path("/usr/sbin/nginx").exists()
    if dep == "tomcat":
        return (servers.TOMCAT_HOME / "bin" / "catalina.sh").exists() and shutil.which("java") is not None
    if dep == "node":
        return shutil.which("node") is not None and shutil.which("npm") is not None
    raise ValueError(dep)


def setup(wanted: list[str]) -> list[str]:
    """Install what the wanted upstreams need (apt, then `npm ci`), idempotent and quiet.
    Returns the problems left (an empty list when everything is there)."""
    deps = {"nginx"}  # the ForwardAuth front is nginx whatever the upstreams
    deps |= {"tomcat"} & set(wanted)
    if "express" in wanted:
        deps.add("node")
    missing = sorted(d for d in deps if not have(d))
    problems = []
    if missing:
        packages = [p for d in missing for p in APT_PACKAGES[d]]
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            problems.append(f"missing {', '.join(missing)} and cannot apt-get install {' '.join(packages)}")
        else:
            started = time.monotonic()
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            for argv in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", *packages]):
                done = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      timeout=900, check=False)
                if done.returncode != 0:
                    problems.append(f"{' '.join(argv)} exited {done.returncode}:\n"
                                    + done.stdout.decode(errors="replace")[-2000:])
                    break
            log(f"setup: apt-get install {' '.join(packages)}: {time.monotonic() - started:.1f} s")
        problems += [f"still missing after setup: {d}" for d in missing if not have(d)]
    if "express" in wanted and have("node"):
        if CI or not (HERE / "node_modules" / "express").exists():
            started = time.monotonic()
            done = subprocess.run(["npm", "ci", "--prefix", str(HERE), "--no-audit", "--no-fund",
                                   "--loglevel=error"], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, timeout=600, check=False)
            if done.returncode != 0:
                problems.append("npm ci failed:\n" + done.stdout.decode(errors="replace")[-2000:])
            log(f"setup: npm ci: {time.monotonic() - started:.1f} s")
    return problems


# --- the checks ---------------------------------------------------------------------------

def has_marker(body: bytes) -> bool:
    return any(m in body for m in MARKER_BYTES)


def leaked(status: int, body: bytes) -> bool:
    """The priced content came back: a success carrying a marker. Only the real upstream's
    files contain a marker, so a 402 body naming the URL, an error page echoing the target or
    a directory listing never counts."""
    return 200 <= status < 300 and has_marker(body)


def category(chain: str, status: int, body: bytes) -> str:
    if leaked(status, body):
        return "bypass"
    if status == 402:
        return "priced"
    if status in (400, 403):
        return "refused"
    if chain.startswith("front") and status >= 400:
        return "refused"  # nginx itself (or auth_request's 500): not served, not a bypass
    return "other"


def run_checks(endpoints: dict[str, dict[str, int]], targets: list[str], workers: int):
    """Every target to every endpoint, unpaid. Returns {(upstream, chain, target): (status, body)}."""
    jobs = [(u, chain, port, t) for u, chains in endpoints.items()
            for chain, port in chains.items() for t in targets]
    random.Random(0).shuffle(jobs)  # spread the load over the servers

    def one(job):
        u, chain, port, t = job
        status, body = client.get(port, t)
        if status == 0:  # one retry: a reset under load is not an answer
            status, body = client.get(port, t)
        return (u, chain, t), (status, body[:4096])

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(pool.map(one, jobs, chunksize=16))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gateway", default=os.environ.get("X402_GATEWAY_BIN",
                        str(REPO / "target" / "debug" / "x402-gateway")),
                        help="the x402-gateway binary (env X402_GATEWAY_BIN; default target/debug)")
    parser.add_argument("--upstreams", default=",".join(UPSTREAMS), help="comma-separated subset")
    parser.add_argument("--fuzz", type=int, default=0, metavar="N", help="N random mutations instead of the corpus")
    parser.add_argument("--seed", type=int, default=None, help="the fuzz seed (default: random, printed)")
    parser.add_argument("--target", action="append", default=[], metavar="T",
                        help="probe these targets instead of the corpus (repeatable); prints every answer")
    parser.add_argument("--strict-status", action="store_true",
                        help="also fail a target the upstream serves as priced that a chain answers "
                             "with neither 402, 400 nor 403 (the `other` column), leaked or not")
    parser.add_argument("--no-deny", action="store_true", help="skip the `unmatched: deny` gateways")
    parser.add_argument("--no-setup", action="store_true", help="install nothing")
    parser.add_argument("--workers", type=int, default=24)
    parser.add_argument("--show", type=int, default=20, help="bypassing targets listed per upstream")
    parser.add_argument("--timeout", type=int, default=900, help="the whole run's bound, seconds")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (configs, logs)")
    args = parser.parse_args()

    wanted = [u.strip() for u in args.upstreams.split(",") if u.strip()]
    unknown = set(wanted) - set(UPSTREAMS)
    if unknown:
        parser.error(f"unknown upstreams: {', '.join(sorted(unknown))}")

    procs = servers.Procs()

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGALRM):
        signal.signal(sig, on_signal)
    signal.alarm(args.timeout)
    tmp = Path(tempfile.mkdtemp(prefix="x402-pathsafety-"))
    os.chmod(tmp, 0o755)
    try:
        return run(args, wanted, procs, tmp)
    except servers.StartError as e:
        log(f"FAIL: {e}")
        log("0 passed, 1 failed")
        return 1
    except SystemExit as e:
        if e.code == 128 + signal.SIGALRM:
            log(f"FAIL: the run took longer than --timeout {args.timeout} s")
            log("0 passed, 1 failed")
            return 1
        log(f"stopped by signal {e.code - 128 if isinstance(e.code, int) else e.code}; stopping the servers")
        raise
    finally:
        signal.alarm(0)
        procs.stop_all()
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def run(args, wanted: list[str], procs: servers.Procs, tmp: Path) -> int:
    t0 = time.monotonic()
    failures: list[str] = []

    gateway = Path(args.gateway)
    if not os.access(gateway, os.X_OK):
        log(f"FAIL: no gateway binary at {gateway} (build it: cargo build -p x402-gateway, or set X402_GATEWAY_BIN)")
        log("0 passed, 1 failed")
        return 1

    if not args.no_setup:
        problems = setup(wanted)
        for p in problems:
            log(f"setup: {p}")
    log(f"setup done: {time.monotonic() - t0:.1f} s")

    # Missing dependencies: a failure under CI, a skip elsewhere.
    usable = []
    for u in wanted:
        dep = {"nginx": "nginx", "tomcat": "tomcat", "express": "node", "python": None}[u]
        if dep and not have(dep) or (u == "express" and not (HERE / "node_modules" / "express").exists()):
            failures.append(f"{u}: dependency missing")
            log(f"{'FAIL' if CI else 'SKIP'}: {u}: its dependency is missing")
            continue
        usable.append(u)
    if not have("nginx"):  # the ForwardAuth front: needed whatever the upstreams
        log("FAIL: nginx (the ForwardAuth front) is missing")
        log("0 passed, 1 failed")
        return 1
    if CI and failures:
        log(f"0 passed, {len(failures)} failed")
        return 1
    failures.clear()

    if args.target:
        targets = list(dict.fromkeys(args.target))
        log(f"corpus: {len(targets)} targets (--target)")
    elif args.fuzz:
        seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
        targets = corpus.fuzz_corpus(args.fuzz, seed)
        log(f"corpus: {len(targets)} fuzzed targets, seed {seed} (reproduce: --fuzz {args.fuzz} --seed {seed})")
    else:
        targets = corpus.default_corpus()
        log(f"corpus: {len(targets)} targets (default)")

    root = tmp / "root"
    servers.make_root(root)
    t_start = time.monotonic()
    starters = {"nginx": servers.start_nginx_static, "express": servers.start_express,
                "tomcat": servers.start_tomcat, "python": servers.start_python}
    upstream_ports = {}
    for u in usable:
        started = time.monotonic()
        upstream_ports[u] = starters[u](procs, tmp, root)
        log(f"upstream {u} on 127.0.0.1:{upstream_ports[u]} ({time.monotonic() - started:.1f} s)")

    endpoints: dict[str, dict[str, int]] = {u: {"direct": p} for u, p in upstream_ports.items()}
    for u, p in upstream_ports.items():
        endpoints[u]["gateway allow"] = servers.start_gateway(procs, tmp, gateway, f"{u}-allow", "proxy", "allow", p)
        if not args.no_deny:
            endpoints[u]["gateway deny"] = servers.start_gateway(procs, tmp, gateway, f"{u}-deny", "proxy", "deny", p)
    fa = servers.start_gateway(procs, tmp, gateway, "forward-auth", "forward-auth", "allow")
    fronts = servers.start_nginx_front(procs, tmp, fa, upstream_ports)
    for u, p in fronts.items():
        endpoints[u]["front allow"] = p
    log(f"servers up: {time.monotonic() - t_start:.1f} s (forward-auth gateway :{fa}, nginx front {fronts})")

    passed = 0

    # Sanity: each upstream serves the priced files by their plain spelling, the gateways price
    # them, and the free resources come through every chain.
    for u, chains in endpoints.items():
        for path, marker in servers.MARKERS.items():
            status, body = client.get(chains["direct"], path)
            ok = status == 200 and marker.encode() in body
            passed += ok
            if not ok:
                failures.append(f"{u} direct {path}: {status}, expected 200 with the marker")
            for chain, port in chains.items():
                if chain == "direct":
                    continue
                status, body = client.get(port, path)
                if status != 402:
                    failures.append(f"{u} {chain} {path}: {status}, expected 402")
                elif b"\npayment-required:" not in client.head(port, path).lower():
                    failures.append(f"{u} {chain} {path}: 402 without the PAYMENT-REQUIRED challenge")
                else:
                    passed += 1
        for path in ("/free/info", "/"):
            expected = servers.FREE["/free/info" if path == "/free/info" else "/index.html"].encode()
            for chain, port in chains.items():
                status, body = client.get(port, path)
                if status == 200 and expected in body and not has_marker(body):
                    passed += 1
                else:
                    failures.append(f"{u} {chain} {path}: {status} {body[:80]!r}, expected 200 with the free body")

    t_run = time.monotonic()
    results = run_checks(endpoints, targets, args.workers)
    elapsed = time.monotonic() - t_run
    log(f"sent {len(results)} requests in {elapsed:.1f} s ({len(results) / max(elapsed, 0.001):.0f}/s)")

    if args.target:
        for u, chains in endpoints.items():
            for t in targets:
                for chain in chains:
                    status, body = results[(u, chain, t)]
                    log(f"  {u:8} {chain:14} {t!r:40} {status} {'MARKER ' if has_marker(body) else ''}"
                        f"{body[:60]!r}")

    rows = []
    bypass_lists = {}
    for u, chains in endpoints.items():
        direct = {t: results[(u, "direct", t)] for t in targets}
        reaching = {t for t, (s, b) in direct.items() if leaked(s, b)}
        no_answer = sum(1 for s, _ in direct.values() if s == 0)
        for chain in chains:
            if chain == "direct":
                continue
            counts = Counter()
            for t in targets:
                status, body = results[(u, chain, t)]
                cat = category(chain, status, body)
                if cat == "bypass":
                    counts["bypass"] += 1
                    bypass_lists.setdefault(u, []).append((t, chain, status, direct[t][0]))
                    failures.append(f"bypass {u} {chain} {t!r}: {status}")
                elif cat == "other" and t in reaching and args.strict_status:
                    counts["other"] += 1
                    failures.append(f"status {u} {chain} {t!r}: {status}, expected 402, 400 or 403")
                else:
                    passed += 1
                    if t in reaching:
                        counts[cat] += 1
            rows.append((u, chain, len(targets), len(reaching), no_answer, counts))

    log("")
    log("| upstream | chain | targets | upstream serves priced | 402 priced | 400/403 refused | other | BYPASS |")
    log("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for u, chain, n, reach, _, c in rows:
        log(f"| {u} | {chain} | {n} | {reach} | {c['priced']} | {c['refused']} | {c['other']} | {c['bypass']} |")
    log("")
    log("chains: `gateway allow`/`gateway deny` = proxy-mode gateway (`unmatched: allow`/`deny`) in "
        "front of the upstream; `front allow` = nginx auth_request to the forward-auth gateway "
        "(`unmatched: allow`), then proxy_pass of the raw URI. The 402/refused/other columns count "
        "the targets the upstream itself serves as priced; BYPASS counts every target whose unpaid "
        "answer was a success carrying a secret marker.")

    for u, items in bypass_lists.items():
        by_chain: dict[str, list] = {}
        for item in items:
            by_chain.setdefault(item[1], []).append(item)
        each = max(1, -(-args.show // len(by_chain)))  # the list shared among the chains
        log("")
        log(f"{u}: {len(items)} bypasses; up to {each} per chain (target, chain, status through "
            f"the chain, status direct):")
        for chain, chain_items in by_chain.items():
            for t, _, status, dstatus in chain_items[:each]:
                log(f"  {t!r:58} {chain:14} {status} (direct {dstatus})")
    other_failures = [f for f in failures if not f.startswith("bypass ")][:50]
    if other_failures:
        log("")
        for f in other_failures:
            log(f"FAIL: {f}")
    log("")
    log(f"total {time.monotonic() - t0:.1f} s")
    log(f"{passed} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
