//! `_core.aka`: the FIPS 186-2 (change notice 1) pseudo-random generator that keys EAP-AKA
//! (RFC 4187 §7, RFC 4186 §7 and Appendix B), and plain SHA-1 (RustCrypto's `Sha1`) for the
//! short hashes of the HA's per-UE path (EAP-AKA's MK, IKEv2's NAT_DETECTION_*_IP data),
//! where one foreign call costs less than `cryptography`'s three.
//!
//! G(t, c) is the bare SHA-1 compression function applied to `c ‖ 0^352` from the SHA-1
//! initial value (no padding, no length block). The compression step is RustCrypto's
//! `sha1::compress`; only the generator loop around it lives here: per 20-octet block,
//! w = G(XKEY) and XKEY = (1 + XKEY + w) mod 2^160 (b = 160, XSEED = 0, no mod q).

use ::sha1::digest::generic_array::GenericArray;
use ::sha1::{Digest, Sha1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

const SHA1_IV: [u32; 5] = [
    0x6745_2301,
    0xEFCD_AB89,
    0x98BA_DCFE,
    0x1032_5476,
    0xC3D2_E1F0,
];

/// The largest output asked for in practice is 160 octets (EAP-AKA full authentication);
/// the bound keeps an untrusted length from allocating without limit.
const MAX_LEN: usize = 4096;

/// G(XKEY): the 20-octet big-endian chaining value after one compression of XKEY ‖ 0^352.
fn g(xkey: &[u8; 20]) -> [u8; 20] {
    let mut block = GenericArray::default();
    block[..20].copy_from_slice(xkey);
    let mut state = SHA1_IV;
    sha1::compress(&mut state, core::slice::from_ref(&block));
    let mut out = [0u8; 20];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// XKEY = (1 + XKEY + w) mod 2^160, big-endian 160-bit addition with carry.
fn next_xkey(xkey: &mut [u8; 20], w: &[u8; 20]) {
    let mut carry = 1u16;
    for i in (0..20).rev() {
        let sum = u16::from(xkey[i]) + u16::from(w[i]) + carry;
        xkey[i] = (sum & 0xFF) as u8;
        carry = sum >> 8;
    }
}

/// The generator's output of `length` octets from a 20-octet XKEY, and the XKEY that
/// would compute the next block (so a caller can continue the same stream later).
pub(crate) fn prf_state(xkey: &[u8; 20], length: usize) -> (Vec<u8>, [u8; 20]) {
    let mut x = *xkey;
    let mut out = Vec::with_capacity(length.div_ceil(20) * 20);
    while out.len() < length {
        let w = g(&x);
        out.extend_from_slice(&w);
        next_xkey(&mut x, &w);
    }
    out.truncate(length);
    (out, x)
}

/// The generator's output of `length` octets from a 20-octet XKEY.
pub(crate) fn prf(xkey: &[u8; 20], length: usize) -> Vec<u8> {
    prf_state(xkey, length).0
}

fn check(xkey: &[u8], length: usize) -> PyResult<&[u8; 20]> {
    if length > MAX_LEN {
        return Err(PyValueError::new_err(
            "FIPS 186-2 PRF output limited to 4096 octets",
        ));
    }
    xkey.try_into()
        .map_err(|_| PyValueError::new_err("XKEY must be 20 octets"))
}

/// `fips186_2_prf(xkey, length) -> bytes`: ValueError unless XKEY has 20 octets and
/// 0 <= length <= 4096.
#[pyfunction]
fn fips186_2_prf<'py>(
    py: Python<'py>,
    xkey: &[u8],
    length: usize,
) -> PyResult<Bound<'py, PyBytes>> {
    Ok(PyBytes::new(py, &prf(check(xkey, length)?, length)))
}

/// `fips186_2_prf_state(xkey, length) -> (bytes, bytes)`: the output and the 20-octet XKEY
/// after the last block computed (the one a continuation of the stream starts from).
#[pyfunction]
fn fips186_2_prf_state<'py>(
    py: Python<'py>,
    xkey: &[u8],
    length: usize,
) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
    let (out, next) = prf_state(check(xkey, length)?, length);
    Ok((PyBytes::new(py, &out), PyBytes::new(py, &next)))
}

/// `sha1(data) -> bytes`: the 20-octet SHA-1 digest (FIPS 180-4) of `data`.
#[pyfunction]
#[pyo3(name = "sha1")]
fn sha1_digest<'py>(py: Python<'py>, data: &[u8]) -> Bound<'py, PyBytes> {
    PyBytes::new(py, &Sha1::digest(data))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(fips186_2_prf, m)?)?;
    m.add_function(wrap_pyfunction!(fips186_2_prf_state, m)?)?;
    m.add_function(wrap_pyfunction!(sha1_digest, m)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// FIPS 186-2 change notice 1, Appendix 3.1 example (as RFC 4186 Appendix B quotes it):
    /// XKEY = bd029bbe7f51960bcf9edb2b61f06f0feb5a38b6, two 20-octet outputs.
    #[test]
    fn fips_example() {
        let x: [u8; 20] = hex("bd029bbe7f51960bcf9edb2b61f06f0feb5a38b6")
            .try_into()
            .unwrap();
        let out = prf(&x, 40);
        assert_eq!(
            out,
            hex(concat!(
                "2070b3223dba372fde1c0ffc7b2e3b498b260614",
                "3c6c18bacb0f6c55babb13788e20d737a3275116"
            ))
        );
    }

    #[test]
    fn state_continues_the_stream() {
        let x = [0x5Au8; 20];
        let (head, next) = prf_state(&x, 100);
        let (tail, _) = prf_state(&next, 60);
        assert_eq!([head, tail].concat(), prf(&x, 160));
    }

    #[test]
    fn sha1_fips_180_examples() {
        assert_eq!(
            Sha1::digest(b"abc").to_vec(),
            hex("a9993e364706816aba3e25717850c26c9cd0d89d")
        );
        assert_eq!(
            Sha1::digest(b"").to_vec(),
            hex("da39a3ee5e6b4b0d3255bfef95601890afd80709")
        );
    }

    #[test]
    fn carry_wraps_mod_2_160() {
        let mut x = [0xFFu8; 20];
        next_xkey(&mut x, &[0u8; 20]);
        assert_eq!(x, [0u8; 20]);
    }
}
