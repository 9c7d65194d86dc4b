# Package marker: MicroPython imports signing.* from the flash root.
