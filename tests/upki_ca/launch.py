"""Launch the real upki-ca 0.1.5 on loopback for upki-ra's interop tests.

The upki-ca wheel ships no launcher (shared/spec/upki-ca-protocol.md, "Running the real CA for
tests"): this script wires its classes together. Usage:

    HOME=/tmp/x UPKI_CA_SEED=seed python3 launch.py DATA_DIR PORT

Tasks on tcp://127.0.0.1:PORT, registration on PORT+1. Prints "READY" once both are bound and
runs until killed.
"""

import os
import sys
import time

from upki_ca.ca.authority import Authority
from upki_ca.connectors.zmq_listener import ZMQListener
from upki_ca.connectors.zmq_register import ZMQRegister
from upki_ca.storage.file_storage import FileStorage


def main() -> None:
    data_dir, port = sys.argv[1], int(sys.argv[2])
    seed = os.environ.get("UPKI_CA_SEED", "upki-ra-test-seed")
    storage = FileStorage(data_dir)
    storage.initialize()
    authority = Authority.get_instance()
    authority.initialize(storage=storage)
    register = ZMQRegister("127.0.0.1", port + 1, seed, authority)
    listener = ZMQListener("127.0.0.1", port, storage)
    for part in (register, listener):
        part.initialize()
        part.bind()
    listener.initialize_authority()
    register.start()
    listener.start()
    print("READY", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
