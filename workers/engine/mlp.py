"""The small classifiers the engine ships as JSON: a multilayer perceptron run by onnxruntime.

Trained with scikit-learn by the scripts in training/ (only there), read here without it, so a worker
needs neither scikit-learn nor pickles. The feature names travel with the weights: a file trained on
other features is refused instead of silently misread.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Classifier:
    """ReLU hidden layers and a logistic output, on features standardised by `mean` and `scale`."""

    mean: np.ndarray
    scale: np.ndarray
    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    features: tuple[str, ...]

    def predict(self, x: np.ndarray) -> np.ndarray:
        """P(class 1) per row of `x` (N x features), float32.

        Run by onnxruntime on the calling thread: a frame's shadow step asks about tens of thousands
        of pixels, and numpy's matrix products and element-wise passes cost 2-4x its fused kernels."""
        if len(x) == 0:
            return np.zeros(0, np.float32)
        return self._session.run(None, {"x": np.ascontiguousarray(x, np.float32)})[0][:, 0]

    @functools.cached_property
    def _session(self):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        return ort.InferenceSession(self.to_onnx(), opts, providers=["CPUExecutionProvider"])

    def to_onnx(self) -> bytes:
        """The network as an ONNX graph (Gemm + Relu ..., Sigmoid), the standardisation folded into
        the first layer."""
        from onnx import TensorProto, helper, numpy_helper

        first = self.weights[0] / self.scale[:, None]
        weights = [first, *self.weights[1:]]
        biases = [self.biases[0] - (self.mean / self.scale) @ self.weights[0], *self.biases[1:]]
        nodes, inits, prev = [], [], "x"
        for i, (w, b) in enumerate(zip(weights, biases)):
            inits += [numpy_helper.from_array(np.float32(w), f"w{i}"), numpy_helper.from_array(np.float32(b), f"b{i}")]
            nodes.append(helper.make_node("Gemm", [prev, f"w{i}", f"b{i}"], [f"z{i}"]))
            prev = f"z{i}"
            if i < len(weights) - 1:
                nodes.append(helper.make_node("Relu", [prev], [f"h{i}"]))
                prev = f"h{i}"
        nodes.append(helper.make_node("Sigmoid", [prev], ["p"]))
        graph = helper.make_graph(nodes, "classifier", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", len(self.mean)])],
                                  [helper.make_tensor_value_info("p", TensorProto.FLOAT, ["n", 1])], inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8  # readable by every onnxruntime the project supports
        return model.SerializeToString()

    def to_json(self) -> str:
        return json.dumps({"features": list(self.features), "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                           "weights": [w.tolist() for w in self.weights], "biases": [b.tolist() for b in self.biases]})

    @classmethod
    def from_json(cls, text: str, features: tuple[str, ...]) -> "Classifier":
        d = json.loads(text)
        if tuple(d["features"]) != tuple(features):
            raise ValueError("classifier was trained on other features: retrain it (training.matte_classifier, training.zoom_judge)")
        return cls(np.float32(d["mean"]), np.float32(d["scale"]), tuple(np.float32(w) for w in d["weights"]),
                   tuple(np.float32(b) for b in d["biases"]), tuple(features))

    @classmethod
    def from_sklearn(cls, mlp, mean: np.ndarray, scale: np.ndarray, features: tuple[str, ...]) -> "Classifier":
        """A fitted sklearn MLPClassifier (logistic output) trained on (x - mean) / scale."""
        return cls(np.float32(mean), np.float32(scale), tuple(np.float32(c) for c in mlp.coefs_),
                   tuple(np.float32(b) for b in mlp.intercepts_), tuple(features))
