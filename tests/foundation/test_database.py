"""The database edge: credentials from the RDS secret, TLS verified against the RDS CA bundle (the
function's region's roots), plain TCP when TLS is off."""

import json
import socket
import ssl
import struct
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

from shop_marketing import database_tls
from shop_marketing.config import Settings
from shop_marketing.database_tls import verified_tls_context
from shop_marketing.db import build_engine, database_url

# Amazon Trust Services' roots (RDS Proxy), by their published SHA-256 fingerprints.
AMAZON_TRUST_SERVICES = {
    "Amazon Root CA 1": "8ecde6884f3d87b1125ba31ac3fcb13d7016de7f57cc904fe1cb97c6ae98196e",
    "Amazon Root CA 2": "1ba5b2aa8c65401a82960118f80bec4f62304d83cec4713a19c39c011ea46db4",
    "Amazon Root CA 3": "18ce6cfe7bf14e60b2e347b8dfe868cb31d02ebb3ada271569f50343b46db3a4",
    "Amazon Root CA 4": "e35d28419ed02025cfa69038cd623962458da5c695fbdea3c22b0bfb25897092",
    "Starfield Services Root Certificate Authority - G2": (
        "568d6905a2c88708a4b3025190edcfedb1974a606a13c6e5290fcb2ae63edab5"
    ),
}


# The RDS roots of us-east-1 in the shipped bundle (its Beta roots included).
US_EAST_1_RDS_ROOTS = {
    "Amazon RDS us-east-1 Root CA RSA2048 G1",
    "Amazon RDS us-east-1 Root CA RSA4096 G1",
    "Amazon RDS us-east-1 Root CA ECC384 G1",
    "Amazon RDS Beta us-east-1 Root CA RSA2048 G1",
    "Amazon RDS Beta us-east-1 Root CA RSA4096 G1",
    "Amazon RDS Beta us-east-1 Root CA ECC384 G1",
}


def authorities(context: ssl.SSLContext) -> list[str]:
    """The common names of the authorities ``context`` trusts, sorted."""
    return sorted(dict(part[0] for part in ca["subject"])["commonName"] for ca in context.get_ca_certs())


def common_name(certificate: x509.Certificate) -> str:
    return certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


def test_the_function_s_region_trusts_that_region_s_rds_roots_and_rds_proxy_s_only():
    context = verified_tls_context("us-east-1")

    assert authorities(context) == sorted(US_EAST_1_RDS_ROOTS | set(AMAZON_TRUST_SERVICES))
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


@pytest.mark.parametrize("region", [None, "xx-nowhere-1"], ids=["no AWS_REGION", "a region no RDS root names"])
def test_the_ca_bundle_ships_in_the_layer_and_trusts_rds_and_rds_proxy_only(region, monkeypatch):
    # No region, or one no RDS root names: the roots of every region are trusted.
    monkeypatch.delenv("AWS_REGION", raising=False)
    context = verified_tls_context(region)

    every_rds_root = [
        common_name(root) for root in x509.load_pem_x509_certificates(database_tls.RDS_CA_BUNDLE.read_bytes())
    ]
    assert len(every_rds_root) >= 100
    assert authorities(context) == sorted(every_rds_root + list(AMAZON_TRUST_SERVICES))
    assert all("Amazon RDS" in name or name in AMAZON_TRUST_SERVICES for name in authorities(context))
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


@pytest.mark.filterwarnings("ignore:Parsed a serial number")  # Starfield G2 has serial 0, as published
def test_the_amazon_trust_services_roots_are_the_published_ones():
    from shop_marketing.database_tls import AMAZON_TRUST_SERVICES_ROOTS

    pem = AMAZON_TRUST_SERVICES_ROOTS.read_bytes()
    certificates = x509.load_pem_x509_certificates(pem)
    fingerprints = {
        certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value: certificate.fingerprint(
            hashes.SHA256()
        ).hex()
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
        "app",
        None,
        "db.example.internal",
        6543,
        "shop",
    )


def certificate(common_name: str, key, *, signed_by=None, ca: bool = False) -> x509.Certificate:
    """A certificate for ``common_name`` and ``key``: self-signed, or signed by ``signed_by`` (certificate, key)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    issuer, issuer_key = signed_by or (None, key)
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    )
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    else:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def server_tls(certificate: x509.Certificate, key, directory) -> ssl.SSLContext:
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(pem(certificate))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context


SSL_REQUEST_CODE = 80877103
PROTOCOL_3_0 = 196608  # a StartupMessage's code: the protocol version


def _receive(connection: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise EOFError("the client closed the connection")
        data += chunk
    return data


def _start_message(connection: socket.socket) -> str:
    """Read one message of a connection's start (Int32 length, Int32 code, the rest) and name it."""
    length, code = struct.unpack("!ii", _receive(connection, 8))
    _receive(connection, length - 8)
    if (length, code) == (8, SSL_REQUEST_CODE):
        return "SSLRequest"
    return "StartupMessage" if code == PROTOCOL_3_0 else f"unknown message (length {length}, code {code})"


# The FATAL error the server answers a StartupMessage with, so that the client stops there.
_REFUSAL_FIELDS = b"SFATAL\0VFATAL\0C08004\0Mloopback server: connection start recorded\0\0"
REFUSAL = b"E" + struct.pack("!i", 4 + len(_REFUSAL_FIELDS)) + _REFUSAL_FIELDS


@pytest.fixture
def connection_start_recorder():
    """A loopback server that records how one client starts a PostgreSQL connection.

    Call it with a server-side TLS context (or None); it returns the port, the list of what happened
    ("SSLRequest", "TLS handshake completed" or "TLS refused by client", "StartupMessage") and the
    server's thread. An SSLRequest is answered 'S' and a TLS handshake when there is a context, 'N'
    otherwise; the StartupMessage is answered with a FATAL error (SQLSTATE 08004).
    """
    listeners = []

    def start(tls: ssl.SSLContext | None):
        listener = socket.create_server(("127.0.0.1", 0))
        listener.settimeout(10)
        listeners.append(listener)
        seen: list[str] = []

        def serve():
            connection, _ = listener.accept()
            connection.settimeout(10)
            try:
                message = _start_message(connection)
                seen.append(message)
                if message == "SSLRequest":
                    connection.sendall(b"S" if tls else b"N")
                    if tls:
                        try:
                            connection = tls.wrap_socket(connection, server_side=True)
                        except (ssl.SSLError, OSError):
                            seen.append("TLS refused by client")
                            return
                        seen.append("TLS handshake completed")
                    seen.append(_start_message(connection))
                connection.sendall(REFUSAL)
            except (EOFError, OSError) as error:
                seen.append(f"connection ended: {error!r}")
            finally:
                connection.close()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        return listener.getsockname()[1], seen, thread

    yield start
    for listener in listeners:
        listener.close()


@pytest.fixture
def tls_server_with_an_untrusted_certificate(connection_start_recorder, tmp_path):
    """Answers PostgreSQL's SSLRequest with 'S', then presents a self-signed certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    return connection_start_recorder(server_tls(certificate("localhost", key), key, tmp_path))


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
    assert handshakes == ["SSLRequest", "TLS refused by client"]
    engine.dispose()


@pytest.fixture
def regional_rds_roots(monkeypatch, tmp_path):
    """The RDS bundle, for this test, holds two generated roots named as RDS names its regions' roots.

    (Their keys are EC, for speed: only the name matters here.) Returns the xx-test-1 root and its key.
    """
    roots = {}
    for region in ("xx-test-1", "yy-test-2"):
        key = ec.generate_private_key(ec.SECP256R1())
        roots[region] = certificate(f"Amazon RDS {region} Root CA RSA2048 G1", key, ca=True), key
    bundle = tmp_path / "rds-bundle.pem"
    bundle.write_bytes(b"".join(pem(root) for root, _ in roots.values()))
    monkeypatch.setattr(database_tls, "RDS_CA_BUNDLE", bundle)
    return roots["xx-test-1"]


def connect_with_verified_tls(port: int):
    engine = build_engine(
        Settings(
            database_url=f"postgresql+pg8000://app:secret@localhost:{port}/shop",
            database_tls="verify",
            db_connect_timeout_seconds=3,
        )
    )
    try:
        with pytest.raises((sa.exc.DBAPIError, ssl.SSLError)) as raised:
            engine.connect()
    finally:
        engine.dispose()
    return raised.value


@pytest.mark.parametrize(
    ("region", "outcome"),
    [
        ("xx-test-1", ["SSLRequest", "TLS handshake completed", "StartupMessage"]),
        ("yy-test-2", ["SSLRequest", "TLS refused by client"]),
    ],
    ids=["the region of the certificate's root: accepted", "another region: refused"],
)
def test_tls_trusts_the_rds_roots_of_the_function_s_region(
    region, outcome, regional_rds_roots, connection_start_recorder, monkeypatch, tmp_path
):
    # Given a server whose certificate for localhost chains to the xx-test-1 root
    root, root_key = regional_rds_roots
    key = ec.generate_private_key(ec.SECP256R1())
    port, seen, server = connection_start_recorder(
        server_tls(certificate("localhost", key, signed_by=(root, root_key)), key, tmp_path)
    )

    # When a function of `region` connects to it
    monkeypatch.setenv("AWS_REGION", region)
    error = connect_with_verified_tls(port)

    # Then the handshake completes only in xx-test-1 (where the server then refuses the startup)
    server.join(timeout=5)
    assert seen == outcome
    if region == "xx-test-1":
        assert "08004" in str(error)
    else:
        assert "CERTIFICATE_VERIFY_FAILED" in str(error)


@pytest.mark.parametrize("database_tls", ["off", "auto"])
def test_without_tls_the_startup_message_comes_first_and_no_tls_is_negotiated(database_tls, connection_start_recorder):
    port, seen, server = connection_start_recorder(None)
    engine = build_engine(
        Settings(
            database_url=f"postgresql+pg8000://app:secret@127.0.0.1:{port}/shop",
            database_tls=database_tls,
            db_connect_timeout_seconds=3,
        )
    )

    with pytest.raises(sa.exc.DBAPIError, match="08004"):
        engine.connect()

    server.join(timeout=5)
    assert seen == ["StartupMessage"]  # no SSLRequest (Int32 8, Int32 80877103) before it
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
    assert local_arguments["ssl_context"] is False  # plain TCP: pg8000 sends no SSLRequest
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


@mock_aws
@pytest.mark.parametrize(
    ("host", "region"),
    [
        ("shop.c9akciq32rcq.eu-west-1.rds.amazonaws.com", "eu-west-1"),
        ("shop.proxy-c9akciq32rcq.ap-northeast-2.rds.amazonaws.com", "ap-northeast-2"),
        ("db.example.internal", "us-east-1"),  # a name of its own: the function's region
    ],
)
def test_the_rds_roots_are_those_of_the_region_the_databases_host_name_names(host, region, monkeypatch):
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    arn = rds_secret(username="app", password="pw", host=host, port=5432, dbname="shop")

    engine = build_engine(Settings(db_secret_arn=arn))

    trusted = authorities(connect_arguments(engine)["ssl_context"])
    rds = [name for name in trusted if name.startswith("Amazon RDS")]
    assert len(rds) >= 3 and all(f" {region} Root CA " in name for name in rds)
    assert set(AMAZON_TRUST_SERVICES) <= set(trusted)
    engine.dispose()
