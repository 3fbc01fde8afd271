"""Distances between centers: the one great-circle (haversine) formula of the project."""

from __future__ import annotations

import math
from typing import Final

from monitor.registry import Location

EARTH_RADIUS_KM: Final = 6371.0088
"""The mean Earth radius (IUGG)."""


def great_circle_km(a: Location, b: Location) -> float:
    """Great-circle distance between two locations in km (haversine, spherical Earth)."""
    lat_a, lat_b = math.radians(a.lat), math.radians(b.lat)
    half_dlat = (lat_b - lat_a) / 2
    half_dlon = math.radians(b.lon - a.lon) / 2
    h = math.sin(half_dlat) ** 2 + math.cos(lat_a) * math.cos(lat_b) * math.sin(half_dlon) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))
