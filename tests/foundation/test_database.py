"""The database edge: credentials from the RDS secret, TLS verified against the RDS CA bundle."""

import json
import socket
import ssl
import threading
from datetime import UTC, datetime, timedelta

import boto3
import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from moto import mock_aws

from shop_marketing.config import Settings
from shop_marketing.db import build_engine, database_url, verified_tls_context


# Amazon Trust Services' roots (RDS Proxy), by their published SHA-256 fingerprints.
AMAZON_TRUST_SERVICES = {
    "Amazon Root CA 1": "8ecde6884f3d87b1125ba31ac3fcb13d7016de7f57cc904fe1cb97c6ae98196e",
    "Amazon Root CA 2": "1ba5b2aa8c65401a82960118f80bec4f62304d83cec4713a19c39c011ea46db4",
    "Amazon Root CA 3": "18ce6cfe7bf14e60b2e347b8dfe868cb31d02ebb3ada271569f50343b46db3a4",
    "Amazon Root CA 4": "e35d28419ed02025cfa69038cd623962458da5c695fbdea3c22b0bfb25897092",
    "Starfield Services Root Certificate Authority - G2": "568d6905a2c88708a4b3025190edcfedb1974a606a13c6e5290fcb2ae63edab5",
}


def test_the_ca_bundle_ships_in_the_layer_and_trusts_rds_and_rds_proxy_only():
    context = verified_tls_context()

    authorities = [dict(part[0] for part in ca["subject"])["commonName"] for ca in context.get_ca_certs()]
    assert len(authorities) >= 100
    assert set(AMAZON_TRUST_SERVICES) <= set(authorities)
    assert all("Amazon RDS" in name or name in AMAZON_TRUST_SERVICES for name in authorities)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


@pytest.mark.filterwarnings("ignore:Parsed a serial number")  # Starfield G2 has serial 0, as published
def test_the_amazon_trust_services_roots_are_the_published_ones():
    from shop_marketing.db import AMAZON_TRUST_SERVICES_ROOTS

    pem = AMAZON_TRUST_SERVICES_ROOTS.read_bytes()
    certificates = x509.load_pem_x509_certificates(pem)
    fingerprints = {
        certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value: certificate.fingerprint(hashes.SHA256()).hex()
        for certificate in certificates
    }

    assert fingerprints == AMAZON_TRUST_SERVICES
    assert all(certificate.subject == certificate.issuer for certificate in certificates)  # self-signed roots


def rds_secret(**secret) -> str:
    """An RDS-style secret in (moto's) Secrets Manager; returns its ARN."""
    client = boto3.client("secretsmanager", region_name="us-east-1")
    return client.create_secret(Name="rds-secret", SecretString=json.dumps(secret))["ARN"]


@mock_aws
def test_credentials_come_from_the_rds_secret():
    arn = rds_secret(username="app", password="p@ss:word/", host="db.example.internal", port=6543, dbname="shop")

    url = database_url(Settings(db_secret_arn=arn))

    # The password is not in the URL: each new connection takes the secret's current one.
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "app", None, "db.example.internal", 6543, "shop",
    )


@pytest.fixture
def tls_server_with_an_untrusted_certificate():
    """Answers PostgreSQL's SSLRequest with 'S', then presents a self-signed certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    import tempfile

    directory = tempfile.mkdtemp()
    cert_path, key_path = f"{directory}/cert.pem", f"{directory}/key.pem"
    with open(cert_path, "wb") as file:
        file.write(certificate.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as file:
        file.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    listener = socket.create_server(("127.0.0.1", 0))
    handshakes = []

    def serve():
        connection, _ = listener.accept()
        with connection:
            connection.recv(8)  # SSLRequest
            connection.sendall(b"S")
            try:
                with context.wrap_socket(connection, server_side=True):
                    handshakes.append("completed")
            except (ssl.SSLError, OSError):
                handshakes.append("refused by client")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], handshakes, thread
    listener.close()


def test_tls_to_a_server_whose_certificate_is_not_from_rds_is_refused(tls_server_with_an_untrusted_certificate):
    port, handshakes, server = tls_server_with_an_untrusted_certificate
    settings = Settings(
        database_url=f"postgresql+pg8000://app:secret@localhost:{port}/shop",
        database_tls="verify",
        db_connect_timeout_seconds=3,
    )
    engine = build_engine(settings)

    with pytest.raises((sa.exc.DBAPIError, ssl.SSLError)) as raised:
        engine.connect()

    assert "CERTIFICATE_VERIFY_FAILED" in str(raised.value)
    server.join(timeout=5)
    assert handshakes == ["refused by client"]
    engine.dispose()


@mock_aws
def test_verified_tls_is_the_default_for_the_rds_secret_and_off_for_a_local_url():
    arn = rds_secret(username="app", password="pw", host="db.example.internal", port=5432, dbname="shop")

    rds = build_engine(Settings(db_secret_arn=arn))
    local = build_engine(Settings(database_url="postgresql+pg8000://u@localhost/db"))

    rds_arguments, local_arguments = connect_arguments(rds), connect_arguments(local)
    assert rds_arguments["host"] == "db.example.internal"
    assert rds_arguments["password"] == "pw"  # taken from the secret for each new connection
    assert rds_arguments["ssl_context"].verify_mode == ssl.CERT_REQUIRED
    assert rds_arguments["ssl_context"].check_hostname
    assert "ssl_context" not in local_arguments
    assert rds_arguments["startup_params"] == {"statement_timeout": "10000"}


class _Captured(Exception):
    pass


def connect_arguments(engine):
    """The keyword arguments the engine would pass to pg8000.connect (captured, not dialled)."""
    captured = {}

    def capture(*args, **kwargs):
        captured.update(kwargs)
        raise _Captured

    engine.dialect.connect = capture
    with pytest.raises(_Captured):
        engine.connect()
    engine.dispose()
    return captured
