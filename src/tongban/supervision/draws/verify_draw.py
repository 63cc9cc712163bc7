#!/usr/bin/env python3
"""Re-run a tongban random inspection draw (双随机一公开) from its published inputs.

Standalone: Python 3.9+ standard library only. Download the draw's bundle (the public page
links it, or GET /api/v1/supervision/draws/<id>/bundle) and run:

    python3 verify_draw.py bundle.json

It checks, and says which check failed:
  1. each frozen list hashes to the hash in the commitment (SHA-256 of canonical JSON);
  2. the rules hash and the commitment hash match the commitment record;
  3. the randomness is what the committed source gave: the root hash of the node's first
     signed ledger checkpoint that includes the commitment's own entry and was signed after
     the committed time (the note is published; check its signature with the node's
     verifier key), or a drand round named in advance: SHA-256 of its signature;
  4. the seed is SHA-256 of the canonical JSON of (version, draw id, randomness, list and
     rules hashes), so nobody could choose it after seeing the lists;
  5. the selection and the inspectors follow from the seed: targets ranked by
     HMAC-SHA256(seed, "target:" + id), the first k taken (per stratum when the rules say);
     for each target, inspectors ranked by HMAC-SHA256(seed, "inspector:" + target + ":" +
     inspector), skipping those in conflict or recused (each skip is listed), first m taken.

tongban's own service imports the functions below: the node draws with this very code.
Canonical JSON here is RFC 8785 for the values a bundle holds (strings, integers, lists,
objects): sorted keys, no spaces, UTF-8.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import sys
from typing import Any

VERSION = "tongban-draw-v1"


def canonical(value: Any) -> bytes:
    """RFC 8785 canonical JSON of strings, integers, booleans, lists and objects."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def list_hash(entries: list[dict[str, Any]]) -> str:
    """The hash of a frozen list: its entries sorted by id, canonical JSON."""
    return sha256_hex(canonical(sorted(entries, key=lambda e: e["id"])))


def commitment_hash(commitment: dict[str, Any]) -> str:
    return sha256_hex(canonical(commitment))


def seed_of(*, draw_id: str, randomness: str, targets_hash: str, inspectors_hash: str,
            rules_hash: str) -> bytes:
    """The draw's seed: fixed by the committed inputs and the randomness, nothing else."""
    return hashlib.sha256(canonical({
        "v": VERSION, "draw": draw_id, "randomness": randomness, "targets": targets_hash,
        "inspectors": inspectors_hash, "rules": rules_hash})).digest()


def rank(seed: bytes, label: str) -> str:
    return hmac.new(seed, label.encode("utf-8"), hashlib.sha256).hexdigest()


def sample_count(rules: dict[str, Any], population: int) -> int:
    """How many targets to take from a population (a stratum, or the whole list)."""
    if population == 0:
        return 0
    if "sample_size" in rules:
        return min(int(rules["sample_size"]), population)
    # percent as a decimal string ("5", "12.5"): ceil(population * percent / 100), >= 1
    whole, _, frac = str(rules["sample_percent"]).partition(".")
    scale = 10 ** len(frac)
    per_scaled = int(whole or "0") * scale + int(frac or "0")
    return max(1, min(population, math.ceil(population * per_scaled / (100 * scale))))


def select_targets(seed: bytes, targets: list[dict[str, Any]], rules: dict[str, Any]
                   ) -> list[str]:
    """Target ids drawn, in rank order (per stratum first when rules["per_stratum"])."""
    ranked = sorted(targets, key=lambda t: (rank(seed, "target:" + t["id"]), t["id"]))
    if not rules.get("per_stratum"):
        return [t["id"] for t in ranked[:sample_count(rules, len(ranked))]]
    chosen: list[str] = []
    for stratum in sorted({t.get("stratum", "") for t in ranked}):
        members = [t for t in ranked if t.get("stratum", "") == stratum]
        chosen += [t["id"] for t in members[:sample_count(rules, len(members))]]
    return chosen


def assign_inspectors(seed: bytes, target_ids: list[str], inspectors: list[dict[str, Any]],
                      rules: dict[str, Any], recusals: list[dict[str, Any]]
                      ) -> tuple[dict[str, list[str]], list[dict[str, str]]]:
    """Each target's inspectors and every skip (conflict on the list, or a recusal)."""
    recused = {(r["target_id"], r["inspector_id"]) for r in recusals}
    wanted = int(rules["inspectors_per_target"])
    assignment: dict[str, list[str]] = {}
    skips: list[dict[str, str]] = []
    for target in target_ids:
        ranked = sorted(inspectors, key=lambda i: (
            rank(seed, "inspector:" + target + ":" + i["id"]), i["id"]))
        picked: list[str] = []
        for inspector in ranked:
            if len(picked) == wanted:
                break
            if target in inspector.get("conflicts", []):
                skips.append({"target_id": target, "inspector_id": inspector["id"],
                              "reason": "conflict"})
            elif (target, inspector["id"]) in recused:
                skips.append({"target_id": target, "inspector_id": inspector["id"],
                              "reason": "recusal"})
            else:
                picked.append(inspector["id"])
        assignment[target] = picked
    return assignment, skips


def draw(*, seed: bytes, targets: list[dict[str, Any]], inspectors: list[dict[str, Any]],
         rules: dict[str, Any], recusals: list[dict[str, Any]]) -> dict[str, Any]:
    """The whole result: selected targets in order, their inspectors, the skips."""
    selected = select_targets(seed, targets, rules)
    assignment, skips = assign_inspectors(seed, selected, inspectors, rules, recusals)
    return {"selected": [{"target_id": t, "inspector_ids": assignment[t]} for t in selected],
            "skips": skips}


def _checkpoint_root(note: str) -> tuple[int, str]:
    """(tree size, root hash hex) from a C2SP checkpoint note's body."""
    lines = note.split("\n")
    return int(lines[1]), base64.b64decode(lines[2]).hex()


def randomness_of(source: dict[str, Any], reveal: dict[str, Any]) -> str:
    """The randomness the committed source produced, checked against what was revealed."""
    if source["kind"] == "ledger":
        size, root = _checkpoint_root(reveal["checkpoint_note"])
        if size <= int(reveal["commitment_entry_index"]):
            raise ValueError(f"checkpoint of size {size} does not include the commitment "
                             f"(entry {reveal['commitment_entry_index']})")
        return root
    if source["kind"] == "drand":
        if int(reveal["round"]) != int(source["round"]):
            raise ValueError("the revealed drand round is not the committed one")
        return sha256_hex(bytes.fromhex(reveal["signature"]))
    raise ValueError(f"unknown randomness source {source['kind']!r}")


def verify(bundle: dict[str, Any]) -> list[str]:
    """Every check of the module docstring; returns what failed (empty: the draw holds)."""
    problems: list[str] = []
    c = bundle["commitment"]
    if list_hash(bundle["targets"]) != c["targets_hash"]:
        problems.append("targets list does not match the committed hash")
    if list_hash(bundle["inspectors"]) != c["inspectors_hash"]:
        problems.append("inspectors list does not match the committed hash")
    if sha256_hex(canonical(bundle["rules"])) != c["rules_hash"]:
        problems.append("rules do not match the committed hash")
    if commitment_hash(c) != bundle["commitment_hash"]:
        problems.append("commitment hash does not match the commitment record")
    try:
        randomness = randomness_of(c["source"], bundle["reveal"])
    except (ValueError, KeyError, IndexError) as exc:
        return [*problems, f"randomness: {exc}"]
    if randomness != bundle["randomness"]:
        problems.append("randomness is not what the committed source gave")
    seed = seed_of(draw_id=c["draw_id"], randomness=randomness,
                   targets_hash=c["targets_hash"], inspectors_hash=c["inspectors_hash"],
                   rules_hash=c["rules_hash"])
    if seed.hex() != bundle["seed"]:
        problems.append("seed does not follow from the committed inputs")
    again = draw(seed=seed, targets=bundle["targets"], inspectors=bundle["inspectors"],
                 rules=bundle["rules"], recusals=bundle["recusals"])
    if again != bundle["result"]:
        problems.append("result does not follow from the seed, lists, rules and recusals")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: verify_draw.py BUNDLE.json", file=sys.stderr)
        return 2
    try:
        with open(argv[1], encoding="utf-8") as fh:
            bundle = json.load(fh)
        problems = verify(bundle)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"error: cannot check {argv[1]}: {exc}", file=sys.stderr)
        return 2
    for problem in problems:
        print(f"FAIL: {problem}")
    if problems:
        return 1
    picked = ", ".join(s["target_id"] for s in bundle["result"]["selected"])
    print(f"OK: draw {bundle['commitment']['draw_id']} re-run from its published inputs "
          f"gives the published result ({picked})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
