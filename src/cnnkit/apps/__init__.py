"""The lecture's applications beyond classification, one package each (DESIGN.md): each brings its
Task for the one trainer, its models, its data formats and its metrics."""
