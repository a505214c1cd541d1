"""catalog-tune: the family that engine decisions are tuned and trained on.

Catalog-style frames built from the development half of everything: ECSSD 0001-0800 objects and
photos, bench.shapes' procedural jewellery and hardware, bench.backgrounds' sweeps, fabric and wood
plus this package's own surfaces (`surfaces`), and this package's own shadow, reflection and camera
models (`effects`). Shadows and reflections are background in the ground truth and recorded in a
shadow mask; a frame with a shadow or reflection has a clean twin (NAME-clean, `render_with_twin`)
for `bench.quality --twins`. The judge family (bench.judge) shares none of this code: a rule or a model chosen here
is reported there.

    python -m bench.tune --n 200
"""

from __future__ import annotations

from .build import build_set, render  # noqa: F401
