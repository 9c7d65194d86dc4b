"""Host-side tools for the meter firmware (never copied to the device).

* ``build.py``: compile the files listed in ``firmware/MANIFEST.txt`` with mpy-cross
  (``python -m firmware_host.build``).
* ``deploy.py``: install, configure and read the key of a device with mpremote
  (``python -m firmware_host.deploy``).
* ``unixport.py``: build and run the firmware on the MicroPython unix port (the demo,
  the firmware bench and the tests use it).
"""
