"""Loaded by the tests' Ralph process only (on its PYTHONPATH): POSTed statements append.

Ralph 5.1's file LRS backend writes every POST with the operation type `create`, which
refuses any POST after the first ("already exists and overwrite is not allowed"), where a
real LRS keeps accepting statements. This makes its default `append`; the statements still
arrive only through Ralph's HTTP API.
"""

try:
    from ralph.backends.data.base import BaseOperationType
    from ralph.backends.lrs.fs import FSLRSBackend
except ImportError:  # not Ralph's interpreter
    pass
else:
    FSLRSBackend.default_operation_type = BaseOperationType.APPEND
