"""Weights in and out of cnnkit: ONNX export, safe weight import."""

from cnnkit.interop.onnx_export import OnnxExport, export_onnx, read_onnx_metadata

__all__ = ["OnnxExport", "export_onnx", "read_onnx_metadata"]
