# Shared by the scripts in this folder (MicroPython).
import json
import os


def cases():
    with open(os.getenv("GTX_CASES")) as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def result(obj):
    print("R " + json.dumps(obj))
