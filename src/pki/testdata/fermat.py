#!/usr/bin/env python3
"""Makes the Fermat-close RSA fixtures of security catalog #53 (project decision 7).

An RSA-2048 key whose primes p < q differ by less than 2^500 (they share their upper ~520
bits), so Fermat's method factors n in its first round. Writes, next to this script:
  fermat.pk8.der  the private key (PKCS#8 DER; test-only, never a real key)
  fermat.der      a CSR (PKCS#10 DER, SHA-256) for dNSName fermat.example.test, CN the same,
                  correctly self-signed with that key.
Run with python3 and the `cryptography` package: python3 fermat.py
"""
import os
import secrets

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

E = 65537


def probable_prime(n, rounds=40):
    if n < 2:
        return False
    for sp in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):
        if n % sp == 0:
            return n == sp
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(rounds):
        a = secrets.randbelow(n - 3) + 2
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def next_prime(n):
    n |= 1
    while not (probable_prime(n) and (n - 1) % E != 0):
        n += 2
    return n


while True:
    p = next_prime(secrets.randbits(1024) | (3 << 1022))
    q = next_prime(p + secrets.randbits(500))
    n = p * q
    if n.bit_length() == 2048:
        break
phi = (p - 1) * (q - 1)
d = pow(E, -1, phi)
key = rsa.RSAPrivateNumbers(
    p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p), rsa.RSAPublicNumbers(E, n)
).private_key()
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "fermat.pk8.der"), "wb") as f:
    f.write(
        key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
name = "fermat.example.test"
csr = (
    x509.CertificateSigningRequestBuilder()
    .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
    .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
    .sign(key, hashes.SHA256())
)
with open(os.path.join(here, "fermat.der"), "wb") as f:
    f.write(csr.public_bytes(serialization.Encoding.DER))
print("p and q differ by", (q - p).bit_length(), "bits")
