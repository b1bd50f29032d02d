"""A minimal GeoPackage (OGC 12-128r18) vector writer on the standard library's sqlite3.

One feature table in EPSG:4326 (lon, lat degrees) with the mandatory metadata
tables (``gpkg_spatial_ref_sys``, ``gpkg_contents``, ``gpkg_geometry_columns``)
and standard GeoPackage binary geometries (header + ISO WKB, little-endian, XY
envelope). No spatial index: our layers hold tens to thousands of features.

It replaces pyogrio for writing: importing pyogrio imports pandas (about a
second of every change run, more than writing the file); GDAL, QGIS and
pyogrio read the result like their own.
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import shapely

#: ``PRAGMA application_id`` of a GeoPackage (the ASCII bytes "GPKG").
_APPLICATION_ID = 0x47504B47
#: ``PRAGMA user_version`` of GeoPackage 1.3.
_USER_VERSION = 10300
_WGS84_WKT = (
    'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,'
    'AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,'
    'AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],'
    'AXIS["Latitude",NORTH],AXIS["Longitude",EAST],AUTHORITY["EPSG","4326"]]'
)
_SCHEMA = f"""
PRAGMA application_id = {_APPLICATION_ID};
PRAGMA user_version = {_USER_VERSION};
CREATE TABLE gpkg_spatial_ref_sys (
  srs_name TEXT NOT NULL, srs_id INTEGER NOT NULL PRIMARY KEY,
  organization TEXT NOT NULL, organization_coordsys_id INTEGER NOT NULL,
  definition TEXT NOT NULL, description TEXT);
CREATE TABLE gpkg_contents (
  table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE,
  description TEXT DEFAULT '',
  last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
  CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));
CREATE TABLE gpkg_geometry_columns (
  table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL,
  srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
  CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
  CONSTRAINT uk_gc_table_name UNIQUE (table_name),
  CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
  CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id));
"""
_SRS_ROWS = [
    ("Undefined cartesian SRS", -1, "NONE", -1, "undefined", "undefined cartesian SRS"),
    ("Undefined geographic SRS", 0, "NONE", 0, "undefined", "undefined geographic SRS"),
    ("WGS 84 geodetic", 4326, "EPSG", 4326, _WGS84_WKT, "longitude/latitude in degrees"),
]
_SQL_TYPES = {"b": "BOOLEAN", "i": "INTEGER", "f": "REAL"}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _geometry_blob(geom: Any, srs_id: int) -> bytes:
    """GeoPackage binary geometry: ``GP`` header, XY envelope (or empty flag), ISO WKB."""
    wkb = shapely.to_wkb(geom, byte_order=1, flavor="iso")
    if shapely.is_empty(geom):
        # flags: empty geometry, no envelope, little-endian
        return b"GP\x00" + struct.pack("<Bi", 0b10001, srs_id) + wkb
    x0, y0, x1, y1 = shapely.bounds(geom)
    # flags: envelope [minx, maxx, miny, maxy], little-endian
    return b"GP\x00" + struct.pack("<Bi4d", 0b011, srs_id, x0, x1, y0, y1) + wkb


def _value(values: np.ndarray, nulls: np.ndarray | None, i: int) -> Any:
    """Feature ``i``'s value as a Python scalar for sqlite3 (None for NULL)."""
    if nulls is not None and nulls[i]:
        return None
    v = values[i]
    return v.item() if isinstance(v, np.generic) else v


def write_gpkg(
    path: Path,
    geoms: Sequence[Any],
    columns: Sequence[tuple[str, np.ndarray, np.ndarray | None]],
    *,
    layer: str,
    geometry_type: str,
) -> None:
    """Write a new GeoPackage at ``path`` (which must not exist) with one layer.

    Parameters
    ----------
    path : Path
        New file (write to a temporary name and rename for atomicity).
    geoms : sequence of shapely geometries
        Feature geometries in EPSG:4326 (lon, lat degrees).
    columns : sequence of (name, values, null_mask)
        Attribute columns, one value per feature: numpy bool, integer, float or
        object (str / None) arrays; ``null_mask`` True marks NULL (or None).
    layer : str
        Table (layer) name.
    geometry_type : str
        Declared geometry type, e.g. ``Polygon``.
    """
    n = len(geoms)
    for name, values, _ in columns:
        if len(values) != n:
            raise ValueError(f"{path}: column {name!r} has {len(values)} values for {n} features")
    gtype = geometry_type.upper()
    decl = ", ".join(
        f"{_quote(name)} {_SQL_TYPES.get(values.dtype.kind, 'TEXT')}" for name, values, _ in columns
    )
    bounds = [shapely.bounds(g) for g in geoms if not shapely.is_empty(g)]
    extent: tuple[float | None, ...] = (None, None, None, None)
    if bounds:
        b = np.asarray(bounds, dtype=np.float64)
        extent = (
            float(b[:, 0].min()),
            float(b[:, 1].min()),
            float(b[:, 2].max()),
            float(b[:, 3].max()),
        )
    rows = [
        [_geometry_blob(g, 4326), *(_value(values, nulls, i) for _, values, nulls in columns)]
        for i, g in enumerate(geoms)
    ]
    con = sqlite3.connect(path)
    try:
        con.executescript(_SCHEMA)
        con.executemany("INSERT INTO gpkg_spatial_ref_sys VALUES (?, ?, ?, ?, ?, ?)", _SRS_ROWS)
        con.execute(
            "INSERT INTO gpkg_contents (table_name, data_type, identifier, min_x, min_y, "
            "max_x, max_y, srs_id) VALUES (?, 'features', ?, ?, ?, ?, ?, 4326)",
            (layer, layer, *extent),
        )
        con.execute(
            "INSERT INTO gpkg_geometry_columns VALUES (?, 'geom', ?, 4326, 0, 0)", (layer, gtype)
        )
        con.execute(
            f"CREATE TABLE {_quote(layer)} (fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, "
            f"geom {gtype}{', ' + decl if decl else ''})"
        )
        names = ", ".join(["geom", *(_quote(c[0]) for c in columns)])
        marks = ", ".join("?" * (len(columns) + 1))
        con.executemany(f"INSERT INTO {_quote(layer)} ({names}) VALUES ({marks})", rows)
        con.commit()
    finally:
        con.close()
