//! Public-key validation for the NIST curves P-256 and P-384 (RFC 8555 §6.2 badPublicKey,
//! security catalog #22): the affine point `(x, y)` must have coordinates in `[0, p)` and satisfy
//! `y² = x³ − 3x + b (mod p)`.
//!
//! Both curves have cofactor 1, so every point on the curve other than the point at infinity is
//! in the prime-order group; the point at infinity has no affine coordinates (JWK `x`/`y` cannot
//! express it, and `(0, 0)` fails the equation because `b ≠ 0`). This is the full check of
//! NIST SP 800-56A §5.6.2.3.3 for these curves. ring would also reject such a point, but only
//! at signature-verification time and indistinguishably from a bad signature, so we check at
//! JWK parse time instead.
//!
//! Arithmetic: little-endian 64-bit limbs and Montgomery multiplication (CIOS). Not constant
//! time, which is fine: the inputs are public keys.

/// A short-Weierstrass curve with `a = −3` over a prime field of `N` 64-bit limbs.
struct Curve<const N: usize> {
    /// The field prime, little-endian limbs.
    p: [u64; N],
    /// The curve constant `b`, little-endian limbs (already `< p`).
    b: [u64; N],
}

/// FIPS 186-4 §D.1.2.3 (P-256).
const P256: Curve<4> = Curve {
    p: [
        0xffff_ffff_ffff_ffff,
        0x0000_0000_ffff_ffff,
        0x0000_0000_0000_0000,
        0xffff_ffff_0000_0001,
    ],
    b: [
        0x3bce_3c3e_27d2_604b,
        0x651d_06b0_cc53_b0f6,
        0xb3eb_bd55_7698_86bc,
        0x5ac6_35d8_aa3a_93e7,
    ],
};

/// FIPS 186-4 §D.1.2.4 (P-384).
const P384: Curve<6> = Curve {
    p: [
        0x0000_0000_ffff_ffff,
        0xffff_ffff_0000_0000,
        0xffff_ffff_ffff_fffe,
        0xffff_ffff_ffff_ffff,
        0xffff_ffff_ffff_ffff,
        0xffff_ffff_ffff_ffff,
    ],
    b: [
        0x2a85_c8ed_d3ec_2aef,
        0xc656_398d_8a2e_d19d,
        0x0314_088f_5013_875a,
        0x181d_9c6e_fe81_4112,
        0x988e_056b_e3f8_2d19,
        0xb331_2fa7_e23e_e7e4,
    ],
};

/// Is `(x, y)` (big-endian, 32 bytes each) a valid P-256 public key?
pub(crate) fn p256_point_is_valid(x: &[u8; 32], y: &[u8; 32]) -> bool {
    P256.contains(&limbs(x), &limbs(y))
}

/// Is `(x, y)` (big-endian, 48 bytes each) a valid P-384 public key?
pub(crate) fn p384_point_is_valid(x: &[u8; 48], y: &[u8; 48]) -> bool {
    P384.contains(&limbs(x), &limbs(y))
}

impl<const N: usize> Curve<N> {
    fn contains(&self, x: &[u64; N], y: &[u64; N]) -> bool {
        if !less_than(x, &self.p) || !less_than(y, &self.p) {
            return false;
        }
        // With m(a, b) = a·b·R⁻¹ (Montgomery product) on plain residues, every term below carries
        // the same factor R⁻², so the equation can be checked without converting into or out of
        // Montgomery form: y²R⁻² = x³R⁻² − 3xR⁻² + bR⁻².
        let one = one::<N>();
        let lhs = self.mul(&self.mul(y, y), &one);
        let x3 = self.mul(&self.mul(x, x), x);
        let x_r2 = self.mul(&self.mul(x, &one), &one);
        let three_x = self.add(&self.add(&x_r2, &x_r2), &x_r2);
        let b_r2 = self.mul(&self.mul(&self.b, &one), &one);
        let rhs = self.add(&self.sub(&x3, &three_x), &b_r2);
        lhs == rhs
    }

    /// `a + b mod p` for `a, b < p`.
    fn add(&self, a: &[u64; N], b: &[u64; N]) -> [u64; N] {
        let (sum, carry) = add_limbs(a, b);
        if carry || !less_than(&sum, &self.p) {
            sub_limbs(&sum, &self.p).0
        } else {
            sum
        }
    }

    /// `a − b mod p` for `a, b < p`.
    fn sub(&self, a: &[u64; N], b: &[u64; N]) -> [u64; N] {
        let (diff, borrow) = sub_limbs(a, b);
        if borrow {
            add_limbs(&diff, &self.p).0
        } else {
            diff
        }
    }

    /// Montgomery product `a·b·2^(−64N) mod p` for `a, b < p` (CIOS, Koç et al. 1996).
    fn mul(&self, a: &[u64; N], b: &[u64; N]) -> [u64; N] {
        let p0 = self.p.first().copied().unwrap_or(1);
        let n0 = neg_inverse(p0);
        // `t` has N + 2 limbs; kept as N limbs plus two explicit high words.
        let mut t = [0u64; N];
        let mut t_n = 0u64;
        for &bi in b {
            let mut carry = 0u64;
            for (tj, &aj) in t.iter_mut().zip(a) {
                let s = u128::from(*tj) + u128::from(aj) * u128::from(bi) + u128::from(carry);
                *tj = s as u64;
                carry = (s >> 64) as u64;
            }
            let s = u128::from(t_n) + u128::from(carry);
            t_n = s as u64;
            let t_n1 = (s >> 64) as u64;

            let t0 = t.first().copied().unwrap_or(0);
            let m = t0.wrapping_mul(n0);
            let s = u128::from(t0) + u128::from(m) * u128::from(p0);
            let mut carry = (s >> 64) as u64;
            // t ← (t + m·p) / 2⁶⁴: limb j + 1 of the sum becomes limb j (no indexing: the
            // request path is panic-free by construction, catalog #60).
            let mut shifted = [0u64; N];
            for ((out, &tj), &pj) in shifted
                .iter_mut()
                .zip(t.iter().skip(1))
                .zip(self.p.iter().skip(1))
            {
                let s = u128::from(tj) + u128::from(m) * u128::from(pj) + u128::from(carry);
                *out = s as u64;
                carry = (s >> 64) as u64;
            }
            let s = u128::from(t_n) + u128::from(carry);
            if let Some(top) = shifted.last_mut() {
                *top = s as u64;
            }
            t = shifted;
            t_n = t_n1 + (s >> 64) as u64;
        }
        // Here t < 2p.
        if t_n != 0 || !less_than(&t, &self.p) {
            sub_limbs(&t, &self.p).0
        } else {
            t
        }
    }
}

/// `−p⁻¹ mod 2⁶⁴` for odd `p0`, by Newton iteration (each step doubles the correct bits).
fn neg_inverse(p0: u64) -> u64 {
    let mut inv = 1u64;
    for _ in 0..6 {
        inv = inv.wrapping_mul(2u64.wrapping_sub(p0.wrapping_mul(inv)));
    }
    inv.wrapping_neg()
}

fn one<const N: usize>() -> [u64; N] {
    let mut one = [0u64; N];
    if let Some(low) = one.first_mut() {
        *low = 1;
    }
    one
}

fn less_than<const N: usize>(a: &[u64; N], b: &[u64; N]) -> bool {
    // Compare from the most significant limb.
    a.iter().rev().cmp(b.iter().rev()) == std::cmp::Ordering::Less
}

fn add_limbs<const N: usize>(a: &[u64; N], b: &[u64; N]) -> ([u64; N], bool) {
    let mut out = [0u64; N];
    let mut carry = false;
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        let (s1, c1) = x.overflowing_add(y);
        let (s2, c2) = s1.overflowing_add(u64::from(carry));
        *o = s2;
        carry = c1 || c2;
    }
    (out, carry)
}

fn sub_limbs<const N: usize>(a: &[u64; N], b: &[u64; N]) -> ([u64; N], bool) {
    let mut out = [0u64; N];
    let mut borrow = false;
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        let (d1, b1) = x.overflowing_sub(y);
        let (d2, b2) = d1.overflowing_sub(u64::from(borrow));
        *o = d2;
        borrow = b1 || b2;
    }
    (out, borrow)
}

/// Big-endian bytes (8·N of them) to little-endian limbs.
fn limbs<const B: usize, const N: usize>(be: &[u8; B]) -> [u64; N] {
    let mut out = [0u64; N];
    for (limb, chunk) in out.iter_mut().zip(be.rchunks(8)) {
        *limb = chunk
            .iter()
            .fold(0, |acc, &byte| (acc << 8) | u64::from(byte));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {

    use ring::agreement;
    use ring::rand::SystemRandom;
    use ring::signature::KeyPair;

    use super::*;
    use crate::jose::testkeys::TestKey;

    /// Splits ring's uncompressed point `04 || x || y`.
    fn coords<const L: usize>(key: &TestKey) -> ([u8; L], [u8; L]) {
        let (TestKey::P256(k) | TestKey::P384(k)) = key else {
            unreachable!()
        };
        let point = k.public_key().as_ref();
        assert_eq!(point.len(), 1 + 2 * L);
        (
            point[1..1 + L].try_into().unwrap(),
            point[1 + L..].try_into().unwrap(),
        )
    }

    /// An independent oracle: ring's ECDH validates the peer's public point.
    fn ring_accepts(alg: &'static agreement::Algorithm, x: &[u8], y: &[u8]) -> bool {
        let rng = SystemRandom::new();
        let mine = agreement::EphemeralPrivateKey::generate(alg, &rng).unwrap();
        let peer = agreement::UnparsedPublicKey::new(alg, [&[0x04], x, y].concat());
        agreement::agree_ephemeral(mine, &peer, |_| ()).is_ok()
    }

    /// `p − v` for `0 < v < p`, big-endian: the y of the negated point.
    fn negate<const N: usize, const L: usize>(curve: &Curve<N>, v: &[u8; L]) -> [u8; L] {
        let (d, _) = sub_limbs(&curve.p, &limbs(v));
        let mut out = [0u8; L];
        for (chunk, limb) in out.rchunks_mut(8).zip(d) {
            chunk.copy_from_slice(&limb.to_be_bytes());
        }
        out
    }

    // Security catalog #22, RFC 8555 §6.2: valid P-256 keys pass, their negations too
    // (−P = (x, p − y) is on the curve), and a one-bit change of y leaves the curve.
    #[test]
    fn catalog_22_p256_generated_points() {
        for _ in 0..16 {
            let (x, y) = coords::<32>(&TestKey::p256());
            assert!(p256_point_is_valid(&x, &y));
            assert!(p256_point_is_valid(&x, &negate(&P256, &y)));
            let mut bad = y;
            bad[31] ^= 1;
            assert!(!p256_point_is_valid(&x, &bad));
            assert!(!ring_accepts(&agreement::ECDH_P256, &x, &bad));
            let mut bad = x;
            bad[0] ^= 0x40;
            assert!(!p256_point_is_valid(&bad, &y));
        }
    }

    // Security catalog #22 for P-384.
    #[test]
    fn catalog_22_p384_generated_points() {
        for _ in 0..16 {
            let (x, y) = coords::<48>(&TestKey::p384());
            assert!(p384_point_is_valid(&x, &y));
            assert!(p384_point_is_valid(&x, &negate(&P384, &y)));
            let mut bad = y;
            bad[47] ^= 1;
            assert!(!p384_point_is_valid(&x, &bad));
            assert!(!ring_accepts(&agreement::ECDH_P384, &x, &bad));
        }
    }

    // Security catalog #22: the FIPS 186-4 base points are on their curves; (0, 0) (how a naive
    // encoder might write the point at infinity) is not.
    #[test]
    fn catalog_22_base_points_and_zero() {
        let gx = b64_32("axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY");
        let gy = b64_32("T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU");
        assert!(p256_point_is_valid(&gx, &gy));
        assert!(!p256_point_is_valid(&[0; 32], &[0; 32]));
        assert!(!p384_point_is_valid(&[0; 48], &[0; 48]));
    }

    // Coordinates must be reduced: x + p names the same field element but is not canonical.
    #[test]
    fn catalog_22_coordinates_not_below_p_rejected() {
        let p: [u8; 32] = b64_32("_____wAAAAEAAAAAAAAAAAAAAAD_______________8");
        assert!(!p256_point_is_valid(&p, &[1; 32]));
        assert!(!p256_point_is_valid(&[1; 32], &p));
        assert!(!p256_point_is_valid(&[0xff; 32], &[0xff; 32]));
    }

    /// Wycheproof `ecdh_secp*r1_ecpoint_test.json`: invalid-curve-attack points are rejected,
    /// edge-case valid points (doubling, addition chains, …) accepted.
    fn wycheproof_points<const L: usize>(file: &str, check: fn(&[u8; L], &[u8; L]) -> bool) {
        let v: serde_json::Value = serde_json::from_str(file).unwrap();
        let points = v["points"].as_array().unwrap();
        assert!(points.len() > 40);
        for p in points {
            let hex = p[1].as_str().unwrap();
            let bytes: Vec<u8> = (2..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            let x = bytes[..L].try_into().unwrap();
            let y = bytes[L..].try_into().unwrap();
            assert_eq!(check(&x, &y), p[2].as_bool().unwrap(), "tcId {}", p[0]);
        }
    }

    // Security catalog #22: Wycheproof invalid-curve points for P-256.
    #[test]
    fn catalog_22_wycheproof_p256_points() {
        wycheproof_points::<32>(
            include_str!("testdata/wycheproof/ecpoint_p256.json"),
            p256_point_is_valid,
        );
    }

    // Security catalog #22: Wycheproof invalid-curve points for P-384.
    #[test]
    fn catalog_22_wycheproof_p384_points() {
        wycheproof_points::<48>(
            include_str!("testdata/wycheproof/ecpoint_p384.json"),
            p384_point_is_valid,
        );
    }

    fn b64_32(s: &str) -> [u8; 32] {
        crate::jose::b64::decode(s).unwrap().try_into().unwrap()
    }
}
