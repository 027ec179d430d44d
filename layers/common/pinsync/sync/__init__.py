"""The audience sync function: queue messages in, Pinterest customer lists in step, a verdict per message out."""
