"""Render a pipeline's charts the way the Mage editor does; run with the Mage virtualenv's Python.

Usage: ``python tests/mage_charts.py PROJECT PIPELINE [BLOCK]``. Prints one JSON object: per
chart its type, upstream blocks and the data Mage computed for it (``x``, ``y``...), and with
BLOCK the columns and row count of that block's stored output.

Each chart runs through ``Block.execute_with_callback(from_notebook=True)``, what Mage's kernel
runs when a chart is run in the editor (mage_ai/server/utils/execute_custom_code.py); the
upstream outputs are those the last ``mage run`` stored. ``update_status=False`` keeps the
pipeline's metadata.yaml as it is; the chart data is stored like the editor stores it.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def render(project: str, pipeline_uuid: str, block_uuid: str | None) -> dict[str, Any]:
    from mage_ai.settings.repo import set_repo_path

    set_repo_path(project)
    from mage_ai.data_preparation.models.pipeline import Pipeline
    from mage_ai.orchestration.db import db_connection

    db_connection.start_session()
    pipeline = Pipeline.get(pipeline_uuid, repo_path=project)
    charts = {}
    for widget in pipeline.widgets_by_uuid.values():
        result = widget.execute_with_callback(
            from_notebook=True,
            global_vars=dict(pipeline.variables or {}),
            # `mage run` leaves block statuses alone, so the editor's "upstream not run yet"
            # check would refuse; the outputs it stored are there.
            run_all_blocks=True,
            update_status=False,
        )
        charts[widget.uuid] = {
            "chart_type": widget.configuration.get("chart_type"),
            "upstream_blocks": [block.uuid for block in widget.upstream_blocks],
            "data": json.loads(result["output"]),
        }
    out: dict[str, Any] = {"charts": charts}
    if block_uuid:
        frame = pipeline.get_block_variable(block_uuid, "output_0")
        out["block"] = {"columns": list(frame.columns), "rows": len(frame)}
    return out


if __name__ == "__main__":
    project, pipeline, *block = sys.argv[1:]
    # The last line of stdout: Mage may print before it.
    print(json.dumps(render(project, pipeline, block[0] if block else None)))
