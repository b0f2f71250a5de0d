"""Weights in and out of cnnkit: ONNX export, safe weight import."""
