"""Stands in for an experiment: prints its environment and a deterministic result."""
import hashlib
import platform

import reprohello

print(reprohello.GREETING)
print("python", platform.python_version())
print("result", hashlib.sha256(b"curvenet-epoch-1").hexdigest()[:16])
