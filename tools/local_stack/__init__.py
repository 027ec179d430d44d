"""The local stack: moto server, the Pinterest emulator and a stand-in for Lambda's SQS event source mapping."""
