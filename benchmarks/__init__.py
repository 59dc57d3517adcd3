"""Benchmarks: the in-process handshake suite (``python -m benchmarks``) and the
end-to-end server comparison (``python -m benchmarks.e2e``)."""
