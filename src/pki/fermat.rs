//! RSA modulus checks of security catalog #53 beyond size and exponent: small prime factors
//! (below 752), and Fermat factorisation of moduli whose two primes are too close together (security
//! catalog #53, project decision 7; the same check as Boulder's `goodkey`
//! `checkPrimeFactorsTooClose`, and the cause of CVE-2022-26320 in printers' key generators).
//!
//! Any odd n = p·q is a difference of squares: n = a² − b² with a = (p+q)/2, b = (p−q)/2.
//! Starting from a = ⌈√n⌉, each round tests whether a² − n is a perfect square; when p and q
//! share their upper half of bits, it is one within the first few rounds. A bounded number of
//! rounds keeps the cost fixed for every honest key (measured in a debug build on this 2-core
//! sandbox: 8 ms for RSA-2048, 14 ms for RSA-4096; it runs only where a key enters: a `jwk`
//! in a request, a CSR at finalize).
//!
//! The arithmetic is a small natural-number type over 64-bit limbs: addition, subtraction,
//! multiplication and a bit-by-bit integer square root are all the check needs, so no
//! big-integer dependency is pulled into the binary.

use std::cmp::Ordering;

/// Rounds of Fermat's method, as Boulder's default configuration.
pub(crate) const FERMAT_ROUNDS: u32 = 100;

/// Whether Fermat's method factors the big-endian modulus `n` within `rounds` rounds, i.e.
/// whether its prime factors are close enough together to be found at once. Also true for a
/// perfect square (p = q).
pub(crate) fn factors_too_close(n_be: &[u8], rounds: u32) -> bool {
    let n = Nat::from_be_bytes(n_be);
    if n.is_zero() {
        return false;
    }
    let root = n.isqrt();
    let square = root.mul(&root);
    if square == n {
        return true;
    }
    // a = ⌊√n⌋ + 1 = ⌈√n⌉ (n is not a square); b² = a² − n.
    let mut a = root;
    a.add_small(1);
    let mut b2 = a.mul(&a);
    b2.sub_assign(&n);
    for _ in 0..rounds {
        if b2.maybe_square() {
            let b = b2.isqrt();
            if b.mul(&b) == b2 {
                return true;
            }
        }
        // (a + 1)² − n = b² + 2a + 1.
        b2.add_assign(&a);
        b2.add_assign(&a);
        b2.add_small(1);
        a.add_small(1);
    }
    false
}

/// Primes below this bound are tried as factors of an RSA modulus (Boulder's goodkey tries the
/// primes below 752).
const SMALL_PRIME_BOUND: u64 = 752;

/// Whether the big-endian modulus `n` is divisible by a prime below 752 (catalog #53 "small
/// prime factors"; an honest RSA modulus has exactly two large prime factors).
pub(crate) fn has_small_prime_factor(n_be: &[u8]) -> bool {
    let n = Nat::from_be_bytes(n_be);
    (2..SMALL_PRIME_BOUND)
        .filter(|&p| (2..p).take_while(|d| d * d <= p).all(|d| p % d != 0))
        .any(|p| n.rem_small(p) == 0 && n != Nat(vec![p]))
}

/// A natural number, little-endian 64-bit limbs, no high zero limbs (zero is the empty vector).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Nat(Vec<u64>);

impl Nat {
    fn from_be_bytes(bytes: &[u8]) -> Nat {
        let mut limbs = Vec::with_capacity(bytes.len() / 8 + 1);
        for chunk in bytes.rchunks(8) {
            let limb = chunk.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
            limbs.push(limb);
        }
        let mut n = Nat(limbs);
        n.trim();
        n
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of significant bits.
    fn bits(&self) -> usize {
        match self.0.last() {
            Some(&top) => self.0.len() * 64 - top.leading_zeros() as usize,
            None => 0,
        }
    }

    fn cmp_nat(&self, other: &Nat) -> Ordering {
        self.0.len().cmp(&other.0.len()).then_with(|| {
            for (a, b) in self.0.iter().rev().zip(other.0.iter().rev()) {
                match a.cmp(b) {
                    Ordering::Equal => {}
                    unequal => return unequal,
                }
            }
            Ordering::Equal
        })
    }

    fn add_assign(&mut self, other: &Nat) {
        if self.0.len() < other.0.len() {
            self.0.resize(other.0.len(), 0);
        }
        let mut carry = false;
        let mut rest = other.0.iter();
        for limb in self.0.iter_mut() {
            let add = rest.next().copied().unwrap_or(0);
            let (s1, c1) = limb.overflowing_add(add);
            let (s2, c2) = s1.overflowing_add(u64::from(carry));
            *limb = s2;
            carry = c1 || c2;
        }
        if carry {
            self.0.push(1);
        }
    }

    fn add_small(&mut self, v: u64) {
        self.add_assign(&Nat(vec![v]));
        self.trim();
    }

    /// `self -= other`; the caller guarantees `self >= other`.
    fn sub_assign(&mut self, other: &Nat) {
        let mut borrow = false;
        let mut rest = other.0.iter();
        for limb in self.0.iter_mut() {
            let sub = rest.next().copied().unwrap_or(0);
            let (d1, b1) = limb.overflowing_sub(sub);
            let (d2, b2) = d1.overflowing_sub(u64::from(borrow));
            *limb = d2;
            borrow = b1 || b2;
        }
        self.trim();
    }

    fn mul(&self, other: &Nat) -> Nat {
        let mut out = vec![0u64; self.0.len() + other.0.len()];
        for (i, &a) in self.0.iter().enumerate() {
            let mut carry: u128 = 0;
            let row = out.iter_mut().skip(i);
            let mut b_iter = other.0.iter();
            for slot in row {
                let b = match b_iter.next() {
                    Some(&b) => b,
                    None if carry == 0 => break,
                    None => 0,
                };
                let t = u128::from(a) * u128::from(b) + u128::from(*slot) + carry;
                *slot = t as u64;
                carry = t >> 64;
            }
        }
        let mut n = Nat(out);
        n.trim();
        n
    }

    fn shr1(&mut self) {
        let mut high = 0u64;
        for limb in self.0.iter_mut().rev() {
            let low_bit = *limb & 1;
            *limb = (*limb >> 1) | (high << 63);
            high = low_bit;
        }
        self.trim();
    }

    fn set_bit(&mut self, bit: usize) {
        let limb = bit / 64;
        if self.0.len() <= limb {
            self.0.resize(limb + 1, 0);
        }
        if let Some(l) = self.0.get_mut(limb) {
            *l |= 1u64 << (bit % 64);
        }
    }

    fn clear_bit(&mut self, bit: usize) {
        if let Some(l) = self.0.get_mut(bit / 64) {
            *l &= !(1u64 << (bit % 64));
        }
        self.trim();
    }

    /// `self += 2^bit`.
    fn add_bit(&mut self, bit: usize) {
        let limb = bit / 64;
        if self.0.len() <= limb {
            self.0.resize(limb + 1, 0);
        }
        let mut carry = 1u64 << (bit % 64);
        for l in self.0.iter_mut().skip(limb) {
            let (sum, overflow) = l.overflowing_add(carry);
            *l = sum;
            if !overflow {
                return;
            }
            carry = 1;
        }
        self.0.push(1);
    }

    /// ⌊√self⌋, digit by digit in base 2 (no division, no allocation per step). Before each
    /// step `root` is a multiple of 2·4^k for the current power 4^k, so `root + 4^k` is
    /// `root` with that bit set.
    fn isqrt(&self) -> Nat {
        let mut rem = self.clone();
        let mut root = Nat(Vec::with_capacity(self.0.len()));
        let Some(top) = self.bits().checked_sub(1) else {
            return root;
        };
        // The highest power of four not above self.
        let mut bit = top & !1;
        loop {
            root.set_bit(bit);
            let take = rem.cmp_nat(&root) != Ordering::Less;
            if take {
                rem.sub_assign(&root);
            }
            root.clear_bit(bit);
            root.shr1();
            if take {
                root.add_bit(bit);
            }
            if bit < 2 {
                return root;
            }
            bit -= 2;
        }
    }

    /// The remainder of `self` divided by a small `m`.
    fn rem_small(&self, m: u64) -> u64 {
        let m = u128::from(m);
        let r = self
            .0
            .iter()
            .rev()
            .fold(0u128, |r, &limb| ((r << 64) | u128::from(limb)) % m);
        r as u64
    }

    /// False when `self` cannot be a square: a quadratic non-residue modulo 64, 63, 65 or 11
    /// (the filter of Cohen's "A Course in Computational Algebraic Number Theory" §1.7.2), which
    /// skips all but about 1 % of the square-root computations.
    fn maybe_square(&self) -> bool {
        let is_residue = |r: u64, m: u64| (0..m).any(|i| i * i % m == r);
        let low = self.0.first().copied().unwrap_or(0) % 64;
        if !is_residue(low, 64) {
            return false;
        }
        let r = self.rem_small(63 * 65 * 11);
        is_residue(r % 63, 63) && is_residue(r % 65, 65) && is_residue(r % 11, 11)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn nat(v: u128) -> Nat {
        Nat::from_be_bytes(&v.to_be_bytes())
    }

    // The arithmetic against u128 on a spread of values.
    #[test]
    fn arithmetic_matches_u128() {
        let values: [u128; 7] = [
            0,
            1,
            2,
            3,
            255,
            u64::MAX as u128,
            0xdead_beef_1234_5678_9abc,
        ];
        for &a in &values {
            for &b in &values {
                if a.checked_mul(b).is_some() {
                    assert_eq!(nat(a).mul(&nat(b)), nat(a * b), "{a}*{b}");
                }
                let mut s = nat(a);
                s.add_assign(&nat(b));
                assert_eq!(s, nat(a + b), "{a}+{b}");
                if a >= b {
                    let mut d = nat(a);
                    d.sub_assign(&nat(b));
                    assert_eq!(d, nat(a - b), "{a}-{b}");
                }
            }
            let r = nat(a).isqrt();
            let expected = (a as f64).sqrt() as u128;
            // Exact integer square root near the float estimate.
            let exact = (expected.saturating_sub(2)..=expected + 2)
                .filter(|x| x * x <= a)
                .max()
                .unwrap();
            assert_eq!(r, nat(exact), "isqrt({a})");
        }
    }

    // Small moduli: 101·103 is found at once, 3·1000003 (far apart) is not within 10 rounds;
    // a perfect square is refused too.
    #[test]
    fn fermat_on_small_numbers() {
        assert!(factors_too_close(&(101u32 * 103).to_be_bytes(), 1));
        assert!(!factors_too_close(&(3u64 * 1_000_003).to_be_bytes(), 10));
        assert!(factors_too_close(&(1009u32 * 1009).to_be_bytes(), 1));
        assert!(!factors_too_close(&[], 10));
    }

    // Catalog #53: small prime factors below 752 are found, large ones are not.
    #[test]
    fn small_prime_factors() {
        assert!(has_small_prime_factor(&(3u64 * 1_000_003).to_be_bytes()));
        assert!(has_small_prime_factor(&(751u64 * 1_000_003).to_be_bytes()));
        assert!(!has_small_prime_factor(&(757u64 * 1_000_003).to_be_bytes()));
        assert!(!has_small_prime_factor(
            &(1_000_003u64 * 1_000_033).to_be_bytes()
        ));
    }
}
