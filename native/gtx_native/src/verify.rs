//! Ed25519 verification of many signatures at once.
//!
//! Encoding rules are libsodium's (`crypto_sign_verify_detached`): S must be a canonical
//! scalar, R and A canonical encodings of points that are not of small order, A must
//! decode. The group equation is checked for a whole batch with random 128-bit weights
//! (one multiscalar multiplication, each distinct key counted once), multiplied by the
//! cofactor so that the verdict of a signature never depends on the other signatures in
//! its batch. A batch that fails is bisected down to single checks that use the same
//! equation, which names exactly the bad signatures.
//!
//! Where this differs from libsodium: libsodium checks `R == [S]B - [k]A` without the
//! cofactor. The two disagree only for a signature whose R (or key) carries a
//! small-order component added on purpose; only the holder of the private key can
//! make such a signature, so it is not a forgery.

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use sha2::{Digest, Sha512};
use std::collections::HashMap;

/// Verdict codes shared with Python (`common.envelope`). A key that is not 32 bytes
/// long is a bad public key; a 32-byte key that fails libsodium's point checks makes
/// every signature under it bad, as libsodium reports it.
pub const OK: u8 = 0;
pub const BAD_SIGNATURE: u8 = 1;
pub const BAD_PUBLIC_KEY: u8 = 2;

/// Below this many signatures a failed batch is checked one by one.
const SINGLE_BELOW: usize = 8;

/// libsodium's `ge25519_is_canonical`: the y coordinate is below p = 2^255 - 19.
fn canonical_encoding(b: &[u8; 32]) -> bool {
    !((b[31] & 0x7f) == 0x7f && b[1..31].iter().all(|&x| x == 0xff) && b[0] >= 0xed)
}

/// A point that passes libsodium's checks for a public key or an R.
fn strict_point(b: &[u8; 32]) -> Option<EdwardsPoint> {
    if !canonical_encoding(b) {
        return None;
    }
    let point = CompressedEdwardsY(*b).decompress()?;
    if point.is_small_order() {
        return None;
    }
    Some(point)
}

/// One signature ready for the group equation.
struct Prepared {
    index: usize,
    key: usize,
    r: EdwardsPoint,
    s: Scalar,
    k: Scalar,
}

/// Verify ``(message, signature, public_key)`` triples; one verdict code per item.
pub fn verify_many(items: &[(&[u8], &[u8], &[u8])]) -> Vec<u8> {
    let mut verdicts = vec![OK; items.len()];
    let mut keys: Vec<EdwardsPoint> = Vec::new();
    let mut key_index: HashMap<[u8; 32], Option<usize>> = HashMap::new();
    let mut ready: Vec<Prepared> = Vec::with_capacity(items.len());
    for (index, (message, signature, public_key)) in items.iter().enumerate() {
        let Ok(pk) = <[u8; 32]>::try_from(*public_key) else {
            verdicts[index] = BAD_PUBLIC_KEY;
            continue;
        };
        let key = *key_index.entry(pk).or_insert_with(|| {
            strict_point(&pk).map(|point| {
                keys.push(point);
                keys.len() - 1
            })
        });
        // libsodium reports a 32-byte key that is no valid point as a failed signature.
        let Some(key) = key else {
            verdicts[index] = BAD_SIGNATURE;
            continue;
        };
        let Ok(sig) = <[u8; 64]>::try_from(*signature) else {
            verdicts[index] = BAD_SIGNATURE;
            continue;
        };
        let r_bytes: [u8; 32] = sig[..32].try_into().expect("32 bytes");
        let s_bytes: [u8; 32] = sig[32..].try_into().expect("32 bytes");
        let s: Option<Scalar> = Scalar::from_canonical_bytes(s_bytes).into();
        let (Some(s), Some(r)) = (s, strict_point(&r_bytes)) else {
            verdicts[index] = BAD_SIGNATURE;
            continue;
        };
        let mut h = Sha512::new();
        h.update(r_bytes);
        h.update(pk);
        h.update(message);
        let k = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
        ready.push(Prepared { index, key, r, s, k });
    }
    let mut bad = Vec::new();
    check(&ready, &keys, &mut bad);
    for index in bad {
        verdicts[index] = BAD_SIGNATURE;
    }
    verdicts
}

/// Append the indices of the signatures in ``batch`` that fail the equation.
fn check(batch: &[Prepared], keys: &[EdwardsPoint], bad: &mut Vec<usize>) {
    if batch.is_empty() {
        return;
    }
    if batch.len() < SINGLE_BELOW {
        for p in batch {
            if !holds_single(p, keys) {
                bad.push(p.index);
            }
        }
        return;
    }
    if holds_batch(batch, keys) {
        return;
    }
    let (left, right) = batch.split_at(batch.len() / 2);
    check(left, keys, bad);
    check(right, keys, bad);
}

/// [8]([S]B - R - [k]A) is the identity.
fn holds_single(p: &Prepared, keys: &[EdwardsPoint]) -> bool {
    let rhs = EdwardsPoint::vartime_double_scalar_mul_basepoint(&p.k, &(-keys[p.key]), &p.s);
    (rhs - p.r).mul_by_cofactor().is_identity()
}

/// [8](sum z_i ([S_i]B - R_i - [k_i]A_i)) is the identity, for random 128-bit z_i.
fn holds_batch(batch: &[Prepared], keys: &[EdwardsPoint]) -> bool {
    let mut random = vec![0u8; 16 * batch.len()];
    getrandom::getrandom(&mut random).expect("the operating system's random source");
    let mut b_coefficient = Scalar::ZERO;
    let mut key_coefficients: HashMap<usize, Scalar> = HashMap::new();
    let mut scalars: Vec<Scalar> = Vec::with_capacity(batch.len() + 16);
    let mut points: Vec<EdwardsPoint> = Vec::with_capacity(batch.len() + 16);
    for (p, z) in batch.iter().zip(random.chunks_exact(16)) {
        let mut wide = [0u8; 32];
        wide[..16].copy_from_slice(z);
        let z = Scalar::from_bytes_mod_order(wide);
        b_coefficient += z * p.s;
        *key_coefficients.entry(p.key).or_insert(Scalar::ZERO) -= z * p.k;
        scalars.push(-z);
        points.push(p.r);
    }
    for (key, coefficient) in key_coefficients {
        scalars.push(coefficient);
        points.push(keys[key]);
    }
    scalars.push(b_coefficient);
    points.push(ED25519_BASEPOINT_POINT);
    EdwardsPoint::vartime_multiscalar_mul(scalars, points).mul_by_cofactor().is_identity()
}
