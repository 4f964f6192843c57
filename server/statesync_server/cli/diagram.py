"""`statesync diagram app.py MACHINE --format svg|mermaid|json`: a machine's statechart
without a browser (docs/inspector.md).

SVG is drawn by the inspector's own code (`inspector/statechart.js` with elkjs) run under
Node, so it has the inspector's layout; Mermaid is `Machine.to_mermaid()`; JSON is the chart
graph the inspector and the admin routes use (`chart.py`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from ..chart import chart_graph
from ..errors import StatesyncError

RENDERER = Path(__file__).resolve().parents[1] / "web" / "inspector" / "render.mjs"


def add_diagram_command(commands: Any) -> None:
    diagram = commands.add_parser("diagram", help="draw a machine: SVG, Mermaid or JSON")
    diagram.add_argument("app", help="path/to/app.py[:attr] or package.module[:attr]")
    diagram.add_argument("machine", help="the registered machine name")
    diagram.add_argument("--format", choices=["svg", "mermaid", "json"], default="svg")
    diagram.add_argument("--version", dest="machine_version",
                         help="a registered version (default: the current one)")
    diagram.add_argument("--collapse", action="append", default=[], metavar="STATE_ID",
                         help="draw this compound state folded (svg; repeatable)")
    diagram.add_argument("--direction", choices=["RIGHT", "DOWN"], default="RIGHT",
                         help="the layout's main direction (svg)")
    diagram.add_argument("-o", "--output", help="the file to write (default: stdout)")


def render_svg(graph: dict[str, Any], *, collapsed: list[str], direction: str, title: str) -> str:
    """The SVG of a chart graph, laid out by elkjs under Node exactly as the inspector does."""
    from ..web.inspector_web import ELK_BUNDLE

    node = os.environ.get("STATESYNC_NODE") or shutil.which("node")
    if node is None:
        raise SystemExit("statesync diagram --format svg needs Node.js (node on PATH or "
                         "$STATESYNC_NODE); --format mermaid and json do not")
    request = json.dumps({"graph": graph, "collapsed": collapsed, "title": title})
    done = subprocess.run([node, str(RENDERER), str(ELK_BUNDLE), direction], input=request,
                          capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the SVG renderer failed:\n{done.stderr.strip()}")
    return done.stdout


def _diagram(args: argparse.Namespace) -> None:
    from ..app import load_app

    app = load_app(args.app)
    try:
        spec = (app.version_spec(args.machine, args.machine_version) if args.machine_version
                else app.spec(args.machine))
    except StatesyncError as exc:
        raise SystemExit(exc.message) from None
    graph = chart_graph(spec.machine)
    unknown = sorted(set(args.collapse) - {n["id"] for n in graph["nodes"]})
    if unknown:
        raise SystemExit(f"--collapse: no state {', '.join(map(repr, unknown))} in {args.machine}")
    if args.format == "mermaid":
        text = spec.machine.to_mermaid()
    elif args.format == "json":
        text = json.dumps({"machine": spec.name, "version": spec.version, "chart": graph},
                          indent=2) + "\n"
    else:
        text = render_svg(graph, collapsed=args.collapse, direction=args.direction,
                          title=f"{spec.name} v{spec.version}")
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)


DIAGRAM_COMMANDS = {"diagram": _diagram}
