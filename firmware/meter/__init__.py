# Package marker: MicroPython imports meter.* from the flash root.
