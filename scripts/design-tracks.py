#!/usr/bin/env python3
"""design-tracks.py - regenerates trackday's original tracks (tracks/*.json).

Each track is drawn like a turtle: straights and circular arcs (left turns positive), so
every radius is exactly as designed. Two straights marked as free ("X") get the lengths
that close the loop (a 2x2 linear solve), so a design only has to get the turning right
(+360 degrees for a counter-clockwise loop, -360 for clockwise). The centreline is sampled
at most SPACING metres apart and written in the centreline form of docs/track-format.md;
trackday computes the borders. Check the result with `trackday tracks show FILE` (or the
test suite, which validates every shipped track).

Standard library only. Usage: scripts/design-tracks.py [OUTDIR]   (default: tracks/)
"""
import json
import math
import os
import sys

SPACING = 0.2
STANDARD_WIDTH = 1.067  # 42 inches, DeepRacer's usual road width


def S(length):
    return ("S", float(length))


def A(radius, angle_deg):
    return ("A", float(radius), float(angle_deg))


def X():
    """A straight whose length is solved so that the loop closes."""
    return ("X",)


def trace(elements, lengths):
    """Walks the elements; returns the end point and the heading at each free straight."""
    x = y = h = 0.0
    free_headings = []
    k = 0
    for e in elements:
        if e[0] in ("S", "X"):
            if e[0] == "X":
                free_headings.append(h)
                length = lengths[k]
                k += 1
            else:
                length = e[1]
            x += length * math.cos(h)
            y += length * math.sin(h)
        else:
            r, a = e[1], math.radians(e[2])
            side = 1.0 if a > 0 else -1.0
            cx, cy = x - side * r * math.sin(h), y + side * r * math.cos(h)
            h2 = h + a
            x, y = cx + side * r * math.sin(h2), cy - side * r * math.cos(h2)
            h = h2
    return x, y, h, free_headings


def solve(elements):
    """Lengths of the two free straights that bring the walk back to its start."""
    n_free = sum(1 for e in elements if e[0] == "X")
    if n_free == 0:
        return []
    if n_free != 2:
        raise ValueError("a design needs 0 or 2 free straights")
    ex, ey, _, hs = trace(elements, [0.0, 0.0])
    # ex + a*cos(h0) + b*cos(h1) = 0, ey + a*sin(h0) + b*sin(h1) = 0
    c0, s0, c1, s1 = math.cos(hs[0]), math.sin(hs[0]), math.cos(hs[1]), math.sin(hs[1])
    det = c0 * s1 - c1 * s0
    if abs(det) < 1e-9:
        raise ValueError("the free straights are parallel")
    a = (-ex * s1 + ey * c1) / det
    b = (-ey * c0 + ex * s0) / det
    return [a, b]


def sample(elements, lengths):
    """Centreline points (without the closing duplicate) and their arc lengths."""
    pts, arcs = [], []
    x = y = h = s = 0.0
    k = 0
    for e in elements:
        if e[0] in ("S", "X"):
            if e[0] == "X":
                length = lengths[k]
                k += 1
            else:
                length = e[1]
            if length < -1e-9:
                raise ValueError("a free straight came out negative (%.3f m)" % length)
            n = max(1, math.ceil(length / SPACING - 1e-9)) if length > 1e-9 else 0
            for i in range(n):
                u = length * i / n
                pts.append((x + u * math.cos(h), y + u * math.sin(h)))
                arcs.append(s + u)
            x += length * math.cos(h)
            y += length * math.sin(h)
            s += length
        else:
            r, a = e[1], math.radians(e[2])
            side = 1.0 if a > 0 else -1.0
            cx, cy = x - side * r * math.sin(h), y + side * r * math.cos(h)
            length = r * abs(a)
            n = max(1, math.ceil(length / SPACING - 1e-9))
            for i in range(n):
                hh = h + a * i / n
                pts.append((cx + side * r * math.sin(hh), cy - side * r * math.cos(hh)))
                arcs.append(s + length * i / n)
            h += a
            x, y = cx + side * r * math.sin(h), cy - side * r * math.cos(h)
            s += length
    if math.hypot(x, y) > 1e-6:
        raise ValueError("the design does not close (%.6f, %.6f)" % (x, y))
    return pts, arcs, s


# ---- the designs ----------------------------------------------------------------------------

TRACKS = []


def track(name, description, elements, width=STANDARD_WIDTH, start=(0.0, 0.0), rotate_deg=0.0):
    TRACKS.append(dict(name=name, description=description, elements=elements, width=width,
                       start=start, rotate=rotate_deg))


track("oval",
      "A simple oval: two 4 m straights and two 180-degree turns of radius 1.6 m. About 18 m, "
      "for first steps.",
      [S(2.0), A(1.6, 180), S(4.0), A(1.6, 180), S(2.0)])

track("kidney",
      "A friendly medium loop of about 22 m: wide left turns of radius 1.5 m and one gentle "
      "right-hand bend. The recommended first track for training.",
      [S(2.0), A(1.5, 90), S(0.5), A(1.5, 60), A(2.5, -60), A(1.5, 90), X(), A(1.5, 90), X(),
       A(1.5, 90), S(1.0)])

track("hairpin",
      "A 35 m loop with a tight right-hand hairpin (radius 0.8 m) between two left U-turns, "
      "then a long sweep back: braking practice.",
      [S(6.0), A(1.6, 180), S(2.0), A(0.8, -180), S(1.5), A(1.2, 180), X(), A(1.6, 90), X(),
       A(1.6, 90)],
      start=(3.0, 0.0))

track("chicane",
      "A stadium of about 27 m whose straights are broken by S-bends: a left-right-left "
      "chicane on the main straight and a right-left-right one on the back straight.",
      [S(2.5), A(1.5, 35), A(1.5, -70), A(1.5, 35), S(2.5), A(1.6, 180), S(1.0),
       A(1.2, -45), A(1.2, 90), A(1.2, -45), X(), A(1.2, 90), X(), A(1.2, 90)],
      start=(-2.5, 0.0))


def grand_prix():
    return [
        S(13.0),                     # main straight
        A(2.5, 90),                  # turn 1: fast left, heading north
        S(3.5),
        A(1.2, 90),                  # turn 2: medium left, heading west
        S(1.5),
        A(1.2, -90),                 # turn 3: right, heading north again
        S(4.0),
        A(3.0, 45),                  # sweeper
        S(1.5),
        A(1.0, 45),                  # tight left onto the top straight, heading west
        X(),                         # top straight (solved)
        A(1.3, -45),                 # right kink
        A(1.3, 45),                  # and back
        S(2.0),
        A(1.8, 90),                  # long left, heading south
        A(1.5, -45),                 # right flick
        A(1.5, 45),                  # left
        X(),                         # run down to the last corner (solved)
        A(2.0, 90),                  # last corner onto the main straight
    ]


track("grand_prix",
      "A long circuit of more than 60 m: a 7 m main straight, a fast sweeper, a tight left, "
      "kinks and a long left-hander. Endurance and racing lines.",
      grand_prix())


track("canyon",
      "A clockwise loop of about 32 m whose width breathes between 0.85 m and 1.65 m: a "
      "narrow canyon, then wide open corners.",
      [S(6.0), A(2.5, -120), X(), A(2.0, -90), A(2.5, 30), A(2.0, -60), X(), A(2.5, -120)],
      width=lambda s, L: 1.25 + 0.4 * math.sin(2 * math.pi * 2 * s / L))


track("technical",
      "A compact, narrow (0.9 m) track of about 34 m with no long straight: a right flick, "
      "a double left, a right-hand hairpin of radius 0.75 m, a long left, a kink and a "
      "closing left.",
      [S(1.5), A(1.2, 90), A(1.0, -90), S(1.0), A(1.2, 90), S(0.5), A(1.2, 90),
       A(0.75, -180),                                                   # right hairpin
       S(1.0), A(1.5, 90), A(1.5, 90), X(),                             # long left
       A(1.2, 60), A(1.6, -60), A(1.2, 90), X(), A(1.2, 90)],
      width=0.9)


def build(t):
    elements = t["elements"]
    lengths = solve(elements)
    pts, arcs, total = sample(elements, lengths)
    ang = math.radians(t["rotate"])
    ca, sa = math.cos(ang), math.sin(ang)
    sx, sy = t["start"]
    out = [(round(sx + ca * x - sa * y, 6), round(sy + sa * x + ca * y, 6)) for x, y in pts]
    turning = sum(e[2] for e in elements if e[0] == "A")
    direction = "ccw" if turning > 0 else "cw"
    if callable(t["width"]):
        width = [round(t["width"](s, total), 6) for s in arcs]
    else:
        width = t["width"]
    doc = {
        "format": "trackday-track",
        "version": 1,
        "name": t["name"],
        "description": t["description"],
        "direction": direction,
        "closed": True,
        "width": width,
        "centerline": [list(p) for p in out],
    }
    return doc, total, lengths


def dump(doc):
    """JSON with one point per line (small diffs when a design changes)."""
    head = {k: v for k, v in doc.items() if k not in ("centerline", "width")}
    lines = ["{"]
    for k, v in head.items():
        lines.append("  %s: %s," % (json.dumps(k), json.dumps(v)))
    w = doc["width"]
    if isinstance(w, list):
        lines.append('  "width": [')
        for i in range(0, len(w), 10):
            chunk = ", ".join(repr(x) for x in w[i:i + 10])
            lines.append("    " + chunk + ("," if i + 10 < len(w) else ""))
        lines.append("  ],")
    else:
        lines.append('  "width": %r,' % w)
    lines.append('  "centerline": [')
    c = doc["centerline"]
    for i, p in enumerate(c):
        lines.append("    [%r, %r]%s" % (p[0], p[1], "," if i + 1 < len(c) else ""))
    lines.append("  ]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tracks")
    os.makedirs(outdir, exist_ok=True)
    for t in TRACKS:
        doc, total, lengths = build(t)
        path = os.path.join(outdir, t["name"] + ".json")
        with open(path, "w") as f:
            f.write(dump(doc))
        free = ", ".join("%.2f" % v for v in lengths)
        print("%-12s %6.2f m  %4d points  %s%s" % (t["name"], total, len(doc["centerline"]),
                                                   doc["direction"],
                                                   ("  free straights " + free) if free else ""))


if __name__ == "__main__":
    main()
