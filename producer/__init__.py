"""Producers: bulk enqueue, event receiver, status. No ML dependencies (no onnxruntime, no OpenCV)."""
