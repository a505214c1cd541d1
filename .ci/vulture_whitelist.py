"""Names vulture cannot see being used: called by a framework, or set on another library's object.

Read by `vulture` together with the sources (pyproject.toml [tool.vulture]); never imported.
Each entry says who uses the name. Dead code does not belong here: delete it instead.
"""
# ruff: noqa


# frameworks call these by name
_.forward  # torch.nn.Module: training/ networks
_.collect  # prometheus_client custom collectors (producer/api_metrics.py, smallcut/gpu_metrics.py)
_.get_next  # onnxruntime.quantization.CalibrationDataReader (workers/engine/quantize.py)
_.on_failure  # celery.Task hook (workers/tasks.py); its signature is Celery's
_.einfo  # the same hook's last parameter

# attributes set on another library's object, read there
_.required  # argparse sub-parsers: a verb needs its action
_.include  # Celery conf: modules the worker imports
_.MAX_IMAGE_PIXELS  # PIL.Image's decompression-bomb limit
_.dim_param  # onnx TensorShapeProto dimension: symbolic N/H/W
_.graph_optimization_level  # onnxruntime.SessionOptions
_.inter_op_num_threads  # onnxruntime.SessionOptions
_.execution_mode  # onnxruntime.SessionOptions
_.enable_cpu_mem_arena  # onnxruntime.SessionOptions
_.log_severity_level  # onnxruntime.SessionOptions (workers/engine/mlp.py)
_.ir_version  # onnx ModelProto: the classifiers' graphs (workers/engine/mlp.py)

# public API of StatusStore with no caller in the package: operators and the integration tests read
# the dead-letter list through it
_.dead_letters

# in the engine modules under rework: remove there, then here
_.colour_bleed  # workers/engine/postprocess.py: only tests call it; the engine composes with bleed_rgba
_.nl  # workers/engine/texture.py lab_bins: unpacked and not used

# rembg's alpha-matting fields: accepted and range-checked on /api/remove for rembg clients (matting
# itself is refused through `a`), never read
af
ae

# helpers the integration tests drive: a Redis restart inside the local stack, the demo samples' exact masks
restart_redis
masks
BACKGROUND_KINDS  # bench.catalog_format: the backdrop names both families use, checked by the format's tests
