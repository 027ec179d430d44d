"""The ``pinsync`` command line and the local stack (moto server + Pinterest emulator + SQS poller).

Local tooling only: nothing here ships in the Lambda layer.
"""
