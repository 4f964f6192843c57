"""`urllib` for MicroPython (statesync's light runtime): `urllib.parse`'s URL splitting only."""
