"""pinsync: keep Pinterest customer lists in step with a customer data platform.

The package is the Lambda layer shared by every function. Its top-level modules are pure domain code
(no boto3, no HTTP); everything that talks to AWS or Pinterest lives in ``pinsync.adapters``.
"""

__version__ = "0.1.0"
