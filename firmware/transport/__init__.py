# Package marker: MicroPython imports transport.* from the flash root.
