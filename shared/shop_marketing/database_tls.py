"""Verified TLS to the database: only a certificate from an RDS root of the database's region, or from
Amazon Trust Services (RDS Proxy), for the host dialled. The region comes from the RDS host name, else
the function's own; every region's roots are trusted when no root names the region."""

from __future__ import annotations

import base64
import os
import re
import ssl
from importlib.resources import files

RDS_CA_BUNDLE = files(__package__).joinpath("certs/rds-global-bundle.pem")
# RDS Proxy's certificates come from AWS Certificate Manager, which chains to Amazon Trust Services.
AMAZON_TRUST_SERVICES_ROOTS = files(__package__).joinpath("certs/amazon-trust-services-roots.pem")


_PEM_CERTIFICATE = re.compile(r"-----BEGIN CERTIFICATE-----([^-]+)-----END")  # its base64 body


def rds_roots(region: str | None) -> str | bytes:
    """The RDS roots of ``region`` (DER), or the whole bundle (PEM) when none names it.

    Loading all of the bundle's roots (over a hundred) takes 15-30 ms of every cold start, and a
    database needs its own region's alone. Each root's name says its region ("Amazon RDS us-east-1
    Root CA RSA2048 G1", Beta and Preview ones alike) and is stored as written in its DER, so a byte
    search picks them without parsing a certificate.
    """
    bundle = RDS_CA_BUNDLE.read_text()
    if region:
        marker = f" {region} Root CA ".encode()
        roots = [der for der in map(base64.b64decode, _PEM_CERTIFICATE.findall(bundle)) if marker in der]
        if roots:
            return b"".join(roots)
    return bundle


# An RDS endpoint names its region: <name>.<id>.<region>.rds.amazonaws.com (.cn in China).
_RDS_ENDPOINT = re.compile(r"\.([a-z]{2}(?:-[a-z]+)+-\d+)\.rds\.amazonaws\.com(?:\.cn)?$")


def database_region(host: str | None) -> str | None:
    """The region of an RDS endpoint's host name, else the function's own (``AWS_REGION``)."""
    found = _RDS_ENDPOINT.search((host or "").lower())
    return found.group(1) if found else os.environ.get("AWS_REGION")


def verified_tls_context(region: str | None = None) -> ssl.SSLContext:
    """TLS that accepts only a certificate from an RDS CA of ``region`` (default ``AWS_REGION``) or
    from Amazon Trust Services, for the host dialled."""
    context = ssl.create_default_context(cadata=rds_roots(region or os.environ.get("AWS_REGION")))
    context.load_verify_locations(cafile=str(AMAZON_TRUST_SERVICES_ROOTS))
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context
