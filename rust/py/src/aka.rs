//! `_core.aka`: the FIPS 186-2 (change notice 1) pseudo-random generator that keys EAP-AKA
//! (RFC 4187 §7, RFC 4186 §7 and Appendix B), and plain SHA-1 (RustCrypto's `Sha1`) for the
//! short hashes of the HA's per-UE path (EAP-AKA's MK, IKEv2's NAT_DETECTION_*_IP data),
//! where one foreign call costs less than `cryptography`'s three; and the layout reading of
//! the EAP-Response/AKA-Challenge the HA's EAP server answers on its fast path
//! (`challenge_response`: offsets and the MAC-zeroed copy, no cryptography).
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

/// EAP Code Response (RFC 3748 §4), AKA subtype Challenge and the attribute types the
/// challenge response layout names (RFC 4187 §11).
const EAP_RESPONSE: u8 = 2;
const SUBTYPE_CHALLENGE: u8 = 1;
const AT_RES: u8 = 3;
const AT_MAC: u8 = 11;
const AT_CHECKCODE: u8 = 134;

/// Where RES and the AT_MAC value sit in an EAP-Response/AKA-Challenge laid out as peers send
/// it (RFC 4187 §9.4): the EAP header with Length = the whole packet, `identifier`, `method`,
/// subtype Challenge, then exactly AT_RES (a bit length that is a multiple of 8 in 32..128,
/// its value padded to the attribute's 4-octet multiple with fewer than 4 octets), an empty
/// AT_CHECKCODE only when `empty_checkcode` (we sent one and ran no AKA-Identity round,
/// §10.13), and AT_MAC (length 5) ending the packet. `(res_len, mac_offset)`, or None for any
/// other packet. Layout only: the MAC and RES are checked by the caller.
fn challenge_layout(
    data: &[u8],
    identifier: u8,
    method: u8,
    empty_checkcode: bool,
) -> Option<(usize, usize)> {
    let n = data.len();
    if n < 40
        || data[0] != EAP_RESPONSE
        || data[1] != identifier
        || usize::from(u16::from_be_bytes([data[2], data[3]])) != n
        || data[4] != method
        || data[5] != SUBTYPE_CHALLENGE
        || data[8] != AT_RES
    {
        return None;
    }
    let mut mac_at = 8 + 4 * usize::from(data[9]); // AT_MAC's header follows AT_RES
    let bits = usize::from(u16::from_be_bytes([data[10], data[11]]));
    let res_len = bits >> 3;
    let room = mac_at.checked_sub(12)?; // AT_RES's value after its 2-octet bit length
    if mac_at + 24 == n && data[mac_at] == AT_CHECKCODE && data[mac_at + 1] == 1 {
        if !empty_checkcode {
            return None;
        }
        mac_at += 4;
    }
    if mac_at + 20 != n
        || data[mac_at] != AT_MAC
        || data[mac_at + 1] != 5
        || bits & 7 != 0
        || !(32..=128).contains(&bits)
        || res_len > room
        || room - res_len >= 4
    {
        return None;
    }
    Some((res_len, mac_at + 4))
}

/// `challenge_response(data, identifier, method, empty_checkcode) -> (res_len, mac_offset,
/// zeroed) | None`: the layout `EapAkaServer._fast_challenge` answers (see
/// `challenge_layout`), with the packet whose AT_MAC value is zeroed (the octets AT_MAC is
/// computed over, RFC 4187 §10.15). No cryptography here: the caller computes the HMAC.
#[pyfunction]
fn challenge_response<'py>(
    py: Python<'py>,
    data: &[u8],
    identifier: u8,
    method: u8,
    empty_checkcode: bool,
) -> Option<(usize, usize, Bound<'py, PyBytes>)> {
    let (res_len, mac) = challenge_layout(data, identifier, method, empty_checkcode)?;
    let zeroed = PyBytes::new_with(py, data.len(), |out| {
        out[..mac].copy_from_slice(&data[..mac]);
        out[mac + 16..].copy_from_slice(&data[mac + 16..]);
        Ok(()) // `new_with` hands out zeroed octets: the MAC value stays zero
    })
    .ok()?;
    Some((res_len, mac, zeroed))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(fips186_2_prf, m)?)?;
    m.add_function(wrap_pyfunction!(fips186_2_prf_state, m)?)?;
    m.add_function(wrap_pyfunction!(sha1_digest, m)?)?;
    m.add_function(wrap_pyfunction!(challenge_response, m)?)?;
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
