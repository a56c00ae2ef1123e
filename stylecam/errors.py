class UserError(Exception):
    """A problem the user can fix; the CLI prints it as one line and exits non-zero."""


def out_of_memory(e: BaseException) -> bool:
    """Whether ``e`` is a backend's failure to allocate (TensorFlow's ResourceExhaustedError,
    XLA's RESOURCE_EXHAUSTED under JAX) or numpy's MemoryError."""
    if isinstance(e, MemoryError):
        return True
    text = f"{type(e).__name__}: {str(e)[:2000]}"
    return "ResourceExhausted" in text or "RESOURCE_EXHAUSTED" in text or "Out of memory" in text
