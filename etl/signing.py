"""Signers and verifiers for run manifests: a local Ed25519 key file, or an asymmetric AWS KMS key.

Both sign the same short message (etl.manifest.signed_message: the SHA-256 of the canonical manifest), so one
verifier checks manifests of either engine with nothing but public keys: KMS signatures are plain ECDSA/RSA
signatures that `cryptography` verifies offline. A key is named by its key id, the SHA-256 of its DER
SubjectPublicKeyInfo, so a public key file proves which key a signature claims.

>>> import tempfile, pathlib
>>> key = pathlib.Path(tempfile.mkdtemp()) / "k.pem"
>>> signer = Ed25519Signer.load_or_create(key)
>>> oct(key.stat().st_mode & 0o777)
'0o600'
>>> keys = public_keys_from_pems([signer.public_pem])
>>> verify_signature(keys[signer.key_id], signer.algorithm, b"m", signer.sign(b"m"))
True
>>> verify_signature(keys[signer.key_id], signer.algorithm, b"other", signer.sign(b"m"))
False
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from etl.errors import AuditLogError

ED25519 = "ed25519"
KMS_ALGORITHMS = ("ECDSA_SHA_256", "RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PSS_SHA_256")
"""The KMS signing algorithms a manifest may name (SHA-256 based, so the verifier needs no other hash)."""
ALGORITHMS = (ED25519, *KMS_ALGORITHMS)

PublicKey = Any  # ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey


class SigningError(AuditLogError, ValueError):
    """A signing key cannot be created, read or used; the message names the key and what to change."""


class Signer(Protocol):
    """Something that signs manifests: its key id, algorithm name, public key (PEM) and `sign`."""

    key_id: str
    algorithm: str
    public_pem: bytes

    def sign(self, message: bytes) -> bytes:
        """The signature of `message`."""
        ...


def key_id(public_key: PublicKey) -> str:
    """`sha256:<hex>` of the key's DER SubjectPublicKeyInfo: the name manifests and key files use."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(der).hexdigest()


def _pem(public_key: PublicKey) -> bytes:
    return bytes(
        public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


class Ed25519Signer:
    """The local ETL's signer: an Ed25519 private key in a PEM file readable only by its owner."""

    algorithm = ED25519

    def __init__(self, private_key: ed25519.Ed25519PrivateKey) -> None:
        self._key = private_key
        public = private_key.public_key()
        self.key_id = key_id(public)
        self.public_pem = _pem(public)

    @classmethod
    def load_or_create(cls, path: Path) -> Ed25519Signer:
        """Read the key at `path`, creating it (mode 0600, folder 0700) when it does not exist yet."""
        path = Path(path)
        if not path.exists():
            try:
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another run created it first: use that one
            except OSError as exc:
                raise SigningError(
                    f"cannot create the signing key {path}: {exc.strerror}; set AUDITLOG_SIGNING_KEY to a "
                    "writable path outside the data folder"
                ) from None
            else:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(pem)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SigningError(f"cannot read the signing key {path}: {exc.strerror}") from None
        if path.stat().st_mode & 0o077:
            raise SigningError(f"the signing key {path} is readable by other users; run `chmod 600 {path}`")
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise SigningError(
                f"{path} is not an unencrypted PEM private key; move it away to start a new key"
            ) from None
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise SigningError(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
        return cls(key)

    def sign(self, message: bytes) -> bytes:
        """The Ed25519 signature of `message`."""
        return self._key.sign(message)


class KmsSigner:
    """The Glue job's signer: an asymmetric AWS KMS key (SIGN_VERIFY) that never leaves KMS."""

    def __init__(self, kms: Any, kms_key_id: str, algorithm: str = "ECDSA_SHA_256") -> None:
        if algorithm not in KMS_ALGORITHMS:
            raise SigningError(f"KMS signing algorithm {algorithm!r}: use one of {', '.join(KMS_ALGORITHMS)}")
        self._kms = kms
        self._kms_key = kms_key_id
        self.algorithm = algorithm
        der = kms.get_public_key(KeyId=kms_key_id)["PublicKey"]
        public = serialization.load_der_public_key(der)
        self.key_id = key_id(public)
        self.public_pem = _pem(public)

    def sign(self, message: bytes) -> bytes:
        """KMS Sign of `message` (MessageType RAW: KMS hashes it with SHA-256)."""
        response = self._kms.sign(
            KeyId=self._kms_key, Message=message, MessageType="RAW", SigningAlgorithm=self.algorithm
        )
        return bytes(response["Signature"])


def public_keys_from_pems(pems: Iterable[bytes]) -> dict[str, PublicKey]:
    """{key id: public key} for PEM SubjectPublicKeyInfo texts; SigningError names a text that is not one."""
    keys: dict[str, PublicKey] = {}
    for pem in pems:
        try:
            public = serialization.load_pem_public_key(pem)
        except (ValueError, UnsupportedAlgorithm):
            raise SigningError("not a PEM public key") from None
        keys[key_id(public)] = public
    return keys


def verify_signature(public_key: PublicKey, algorithm: str, message: bytes, signature: bytes) -> bool:
    """True when `signature` is `algorithm`'s signature of `message` by `public_key`; False otherwise
    (also for an algorithm that does not fit the key)."""
    try:
        if algorithm == ED25519 and isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(signature, message)
        elif algorithm == "ECDSA_SHA_256" and isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        elif algorithm == "RSASSA_PKCS1_V1_5_SHA_256" and isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        elif algorithm == "RSASSA_PSS_SHA_256" and isinstance(public_key, rsa.RSAPublicKey):
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
            public_key.verify(signature, message, pss, hashes.SHA256())
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True
