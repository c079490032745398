//! `dsmip6._core.ikefast`: pure octet work of the HA's IKEv2 responder fast paths
//! (`python/dsmip6/ikev2/_fast.py`): walking payload chains and writing them. No
//! cryptography lives here (issue 4 keeps every transform on `cryptography`); these
//! functions only read generic payload headers (RFC 7296 §3.2) and copy bodies.
//!
//! * `init_request(message)` reads a whole IKE_SA_INIT request the way the fast path's
//!   common case allows it and returns the fields it needs in one tuple, or `None` for
//!   anything else (the caller then takes the general path);
//! * `walk(data, offset, first)` splits a payload chain with zero flags octets that runs
//!   exactly to the end of `data` into `(type, body)` pairs, or `None`;
//! * `chain(types, bodies, next_after)` writes a payload chain (generic headers with zero
//!   flags), `message(spis, exchange, flags, message_id, types, bodies)` a whole message
//!   without an SK payload (IKE header of RFC 7296 §3.1, version 2.0).
//!
//! * `sk_seal(cipher, keymat, salt_size, counter, head, inner_first, inner, icv_size)` and
//!   `sk_open(cipher, keymat, salt_size, message, body_start, iv_size)` write and read the
//!   framing of an AEAD SK payload (RFC 7296 §3.14, RFC 5282 §3-5): the associated data,
//!   the nonce (salt ‖ 8-octet IV), Pad Length 0. The AEAD itself is the caller's
//!   `cryptography` cipher object (`AESGCM` / `ChaCha20Poly1305`), whose `encrypt` /
//!   `decrypt` method is called here with the octets `SkCrypto` would pass it; no key
//!   schedule, cipher or tag is computed in Rust.
//!
//! Every input is untrusted: lengths are checked before each slice, and every path returns
//! `None` or raises `ValueError` (or the cipher's own exception), never panics.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::PyBytes;

const IKE_HEADER_LEN: usize = 28;
const P_SA: u8 = 33;
const P_KE: u8 = 34;
const P_CERTREQ: u8 = 38;
const P_NONCE: u8 = 40;
const P_NOTIFY: u8 = 41;
const P_VENDOR: u8 = 43;
const N_NAT_SRC: u16 = 16388;
const N_NAT_DST: u16 = 16389;
const N_REDIRECT_SUPPORTED: u16 = 16406;
const N_FRAG: u16 = 16430;
const N_SIG_HASHES: u16 = 16431;

/// What the common IKE_SA_INIT request holds, as offsets into the message.
#[derive(Default, Debug, PartialEq)]
struct InitScan {
    sa: Option<(usize, usize)>,
    ke: Option<(usize, usize)>,
    nonce: Option<(usize, usize)>,
    nat_src: Vec<(usize, usize)>,
    nat_dst: Vec<(usize, usize)>,
    sig_hashes: Option<(usize, usize)>,
    redirect_supported: bool,
    fragmentation: bool,
    certreq: bool,
}

/// The generic payload header at `off` (RFC 7296 §3.2) as (next payload, end of this
/// payload), when its flags octet is zero, its length covers at least the header and the
/// payload ends inside `data`; `None` otherwise.
fn payload(data: &[u8], off: usize) -> Option<(u8, usize)> {
    let h = data.get(off..off.checked_add(4)?)?;
    let length = usize::from(u16::from_be_bytes([h[2], h[3]]));
    let end = off.checked_add(length)?;
    (h[1] == 0 && length >= 4 && end <= data.len()).then_some((h[0], end))
}

/// The payload chain of an IKE_SA_INIT request (from the IKE header's Next Payload at octet
/// 16) when it is the fast path's common case: SA, KE and Nonce once each, Notify, CERTREQ
/// (at least its encoding octet) and Vendor ID payloads in any number, every flags octet
/// zero, the chain ending exactly at the end of the message, a KE body of at least 4 octets
/// and a nonce of 16..=256 octets (RFC 7296 §3.9). `None` otherwise.
fn scan_init(data: &[u8]) -> Option<InitScan> {
    if data.len() < IKE_HEADER_LEN {
        return None;
    }
    let size = data.len();
    let mut scan = InitScan::default();
    let mut off = IKE_HEADER_LEN;
    let mut nxt = data[16];
    while nxt != 0 {
        let this = nxt;
        let (n, end) = payload(data, off)?;
        nxt = n;
        let length = end - off;
        let body = (off + 4, end);
        match this {
            P_NOTIFY => {
                if length < 8 {
                    return None;
                }
                let spi_size = usize::from(data[off + 5]);
                if length < 8 + spi_size {
                    return None;
                }
                let kind = u16::from_be_bytes([data[off + 6], data[off + 7]]);
                let value = (off + 8 + spi_size, end);
                match kind {
                    N_NAT_SRC => scan.nat_src.push(value),
                    N_NAT_DST => scan.nat_dst.push(value),
                    N_SIG_HASHES if scan.sig_hashes.is_none() => scan.sig_hashes = Some(value),
                    N_REDIRECT_SUPPORTED => scan.redirect_supported = true,
                    N_FRAG => scan.fragmentation = true,
                    _ => {}
                }
            }
            P_SA if scan.sa.is_none() => scan.sa = Some(body),
            P_KE if scan.ke.is_none() => scan.ke = Some(body),
            P_NONCE if scan.nonce.is_none() => scan.nonce = Some(body),
            P_CERTREQ if length >= 5 => scan.certreq = true,
            P_VENDOR => {} // ignored, as the general path does
            _ => return None,
        }
        off = end;
    }
    let (ke, nonce) = (scan.ke?, scan.nonce?);
    scan.sa?;
    let nonce_len = nonce.1 - nonce.0;
    if off != size || !(16..=256).contains(&nonce_len) || ke.1 - ke.0 < 4 {
        return None;
    }
    Some(scan)
}

type InitFields<'py> = (
    Bound<'py, PyBytes>,
    u16,
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    Vec<Bound<'py, PyBytes>>,
    Vec<Bound<'py, PyBytes>>,
    Option<Bound<'py, PyBytes>>,
    bool,
    bool,
    bool,
);

/// `init_request(message) -> (sa_body, ke_group, ke_data, nonce, nat_src, nat_dst,
/// sig_hashes, redirect_supported, fragmentation_supported, certreq) | None`.
#[pyfunction]
fn init_request<'py>(py: Python<'py>, message: &[u8]) -> Option<InitFields<'py>> {
    let s = scan_init(message)?;
    let bytes = |r: (usize, usize)| PyBytes::new(py, &message[r.0..r.1]);
    let (sa, ke, nonce) = (s.sa?, s.ke?, s.nonce?);
    let group = u16::from_be_bytes([message[ke.0], message[ke.0 + 1]]);
    Some((
        bytes(sa),
        group,
        bytes((ke.0 + 4, ke.1)),
        bytes(nonce),
        s.nat_src.into_iter().map(bytes).collect(),
        s.nat_dst.into_iter().map(bytes).collect(),
        s.sig_hashes.map(bytes),
        s.redirect_supported,
        s.fragmentation,
        s.certreq,
    ))
}

/// The `(type, body range)` of each payload of the chain starting at `off` with type
/// `first`, when every flags octet is zero and the chain ends exactly at the end of `data`.
fn split(data: &[u8], mut off: usize, first: u8) -> Option<Vec<(u8, usize, usize)>> {
    let mut out = Vec::new();
    let mut nxt = first;
    while nxt != 0 {
        let this = nxt;
        let (n, end) = payload(data, off)?;
        nxt = n;
        out.push((this, off + 4, end));
        off = end;
    }
    (off == data.len()).then_some(out)
}

/// `walk(data, offset, first) -> [(type, body), ...] | None`.
#[pyfunction]
fn walk<'py>(
    py: Python<'py>,
    data: &[u8],
    offset: usize,
    first: u8,
) -> Option<Vec<(u8, Bound<'py, PyBytes>)>> {
    let parts = split(data, offset, first)?;
    Some(
        parts
            .into_iter()
            .map(|(t, a, b)| (t, PyBytes::new(py, &data[a..b])))
            .collect(),
    )
}

/// The chain of `bodies` with generic headers: payload i is of type `types[i]`, the last
/// one's Next Payload is `next_after`.
fn write_chain(
    out: &mut Vec<u8>,
    types: &[u8],
    bodies: &[PyBackedBytes],
    next_after: u8,
) -> PyResult<()> {
    if types.len() != bodies.len() {
        return Err(PyValueError::new_err("one payload type per body"));
    }
    for (i, body) in bodies.iter().enumerate() {
        let length = u16::try_from(body.len() + 4)
            .map_err(|_| PyValueError::new_err("payload longer than 65535 octets"))?;
        let next = types.get(i + 1).copied().unwrap_or(next_after);
        out.push(next);
        out.push(0);
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(body);
    }
    Ok(())
}

/// `chain(types, bodies, next_after) -> bytes`: ValueError when the counts differ or a body
/// does not fit a 16-bit payload length.
#[pyfunction]
fn chain<'py>(
    py: Python<'py>,
    types: &[u8],
    bodies: Vec<PyBackedBytes>,
    next_after: u8,
) -> PyResult<Bound<'py, PyBytes>> {
    let mut out = Vec::with_capacity(bodies.iter().map(|b| b.len() + 4).sum());
    write_chain(&mut out, types, &bodies, next_after)?;
    Ok(PyBytes::new(py, &out))
}

/// `message(spis, exchange, flags, message_id, types, bodies) -> bytes`: `spis` the 16
/// octets SPIi ‖ SPIr; version 2.0; ValueError on a wrong SPI length or as `chain`.
#[pyfunction]
fn message<'py>(
    py: Python<'py>,
    spis: &[u8],
    exchange: u8,
    flags: u8,
    message_id: u32,
    types: &[u8],
    bodies: Vec<PyBackedBytes>,
) -> PyResult<Bound<'py, PyBytes>> {
    if spis.len() != 16 {
        return Err(PyValueError::new_err("SPIi and SPIr: 16 octets"));
    }
    let mut out =
        Vec::with_capacity(IKE_HEADER_LEN + bodies.iter().map(|b| b.len() + 4).sum::<usize>());
    out.extend_from_slice(spis);
    out.push(types.first().copied().unwrap_or(0));
    out.extend_from_slice(&[0x20, exchange, flags]);
    out.extend_from_slice(&message_id.to_be_bytes());
    out.extend_from_slice(&[0; 4]);
    write_chain(&mut out, types, &bodies, 0)?;
    let total = u32::try_from(out.len())
        .map_err(|_| PyValueError::new_err("message longer than 2^32 octets"))?;
    out[24..28].copy_from_slice(&total.to_be_bytes());
    Ok(PyBytes::new(py, &out))
}

/// `sk_seal(cipher, keymat, salt_size, counter, head, inner_first, inner, icv_size) -> bytes`:
/// the message `head` (IKE header and clear payloads; its length field is rewritten) followed
/// by an AEAD SK payload holding `inner` with Pad Length 0 and no padding (RFC 5282 §3):
/// associated data = the header with the total length ‖ the SK generic header (`inner_first`,
/// flags 0, SK length); nonce = the last `salt_size` octets of `keymat` ‖ IV, the IV being
/// `counter` as 8 octets big-endian; ciphertext ‖ ICV = `cipher.encrypt(nonce, inner ‖ 0,
/// associated data)`, whose ICV is `icv_size` octets long. ValueError for a head shorter than
/// the IKE header, a salt longer than `keymat`, or an SK payload longer than 65 535 octets.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn sk_seal<'py>(
    py: Python<'py>,
    cipher: &Bound<'py, PyAny>,
    keymat: &[u8],
    salt_size: usize,
    counter: u64,
    head: &[u8],
    inner_first: u8,
    inner: &[u8],
    icv_size: usize,
) -> PyResult<Bound<'py, PyBytes>> {
    if head.len() < IKE_HEADER_LEN || salt_size > keymat.len() {
        return Err(PyValueError::new_err("SK seal: short header or salt"));
    }
    // SK generic header (4) + IV (8) + inner + Pad Length (1) + ICV
    let sk_len = u16::try_from(13 + inner.len() + icv_size)
        .map_err(|_| PyValueError::new_err("SK payload longer than 65535 octets"))?;
    let total = u32::try_from(head.len() + usize::from(sk_len))
        .map_err(|_| PyValueError::new_err("message longer than 2^32 octets"))?;
    let mut aad = Vec::with_capacity(head.len() + 4);
    aad.extend_from_slice(&head[..24]);
    aad.extend_from_slice(&total.to_be_bytes());
    aad.extend_from_slice(&head[IKE_HEADER_LEN..]);
    aad.extend_from_slice(&[inner_first, 0]);
    aad.extend_from_slice(&sk_len.to_be_bytes());
    let iv = counter.to_be_bytes();
    let mut nonce = Vec::with_capacity(salt_size + iv.len());
    nonce.extend_from_slice(&keymat[keymat.len() - salt_size..]);
    nonce.extend_from_slice(&iv);
    let plain = PyBytes::new_with(py, inner.len() + 1, |buf| {
        buf[..inner.len()].copy_from_slice(inner); // the last octet stays 0: Pad Length
        Ok(())
    })?;
    let sealed = cipher.call_method1(
        pyo3::intern!(py, "encrypt"),
        (PyBytes::new(py, &nonce), plain, PyBytes::new(py, &aad)),
    )?;
    let sealed = sealed.cast::<PyBytes>()?.as_bytes();
    PyBytes::new_with(py, aad.len() + iv.len() + sealed.len(), |buf| {
        let (a, rest) = buf.split_at_mut(aad.len());
        a.copy_from_slice(&aad);
        let (v, c) = rest.split_at_mut(iv.len());
        v.copy_from_slice(&iv);
        c.copy_from_slice(sealed);
        Ok(())
    })
}

/// `sk_open(cipher, keymat, salt_size, message, body_start, iv_size) -> bytes | None`: the
/// inner payloads of the AEAD SK payload whose IV starts at `body_start` (after the SK
/// generic header) and runs `iv_size` octets: `cipher.decrypt(salt ‖ IV, the rest of the
/// message, message[:body_start])` (the cipher's InvalidTag propagates), then the Pad Length
/// octet and its padding removed; None when the Pad Length exceeds the plaintext.
/// ValueError when the message is shorter than `body_start + iv_size` or the salt longer
/// than `keymat` (the caller checks the length first).
#[pyfunction]
fn sk_open<'py>(
    py: Python<'py>,
    cipher: &Bound<'py, PyAny>,
    keymat: &[u8],
    salt_size: usize,
    message: &[u8],
    body_start: usize,
    iv_size: usize,
) -> PyResult<Option<Bound<'py, PyBytes>>> {
    let iv_end = body_start
        .checked_add(iv_size)
        .filter(|&e| e <= message.len())
        .ok_or_else(|| PyValueError::new_err("SK open: message too short"))?;
    if salt_size > keymat.len() {
        return Err(PyValueError::new_err(
            "SK open: salt longer than the keying material",
        ));
    }
    let mut nonce = Vec::with_capacity(salt_size + iv_size);
    nonce.extend_from_slice(&keymat[keymat.len() - salt_size..]);
    nonce.extend_from_slice(&message[body_start..iv_end]);
    let plain = cipher.call_method1(
        pyo3::intern!(py, "decrypt"),
        (
            PyBytes::new(py, &nonce),
            PyBytes::new(py, &message[iv_end..]),
            PyBytes::new(py, &message[..body_start]),
        ),
    )?;
    let plain = plain.cast::<PyBytes>()?.as_bytes();
    let Some((&pad, _)) = plain.split_last() else {
        return Ok(None);
    };
    let keep = plain.len().checked_sub(1 + usize::from(pad));
    Ok(keep.map(|n| PyBytes::new(py, &plain[..n])))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(sk_seal, m)?)?;
    m.add_function(wrap_pyfunction!(sk_open, m)?)?;
    m.add_function(wrap_pyfunction!(init_request, m)?)?;
    m.add_function(wrap_pyfunction!(walk, m)?)?;
    m.add_function(wrap_pyfunction!(chain, m)?)?;
    m.add_function(wrap_pyfunction!(message, m)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(next: u8, body: &[u8]) -> Vec<u8> {
        let mut p = vec![next, 0];
        p.extend_from_slice(&u16::try_from(body.len() + 4).unwrap().to_be_bytes());
        p.extend_from_slice(body);
        p
    }

    fn init(first: u8, chain: &[u8]) -> Vec<u8> {
        let mut m = vec![0u8; IKE_HEADER_LEN];
        m[16] = first;
        m.extend_from_slice(chain);
        m
    }

    fn notify(kind: u16, data: &[u8]) -> Vec<u8> {
        let mut b = vec![0, 0];
        b.extend_from_slice(&kind.to_be_bytes());
        b.extend_from_slice(data);
        b
    }

    #[test]
    fn common_request_read() {
        let mut c = payload(P_KE, &[1, 2, 3]);
        c.extend(payload(P_NONCE, &[0, 31, 0, 0, 9, 9]));
        c.extend(payload(P_NOTIFY, &[7; 16]));
        c.extend(payload(P_NOTIFY, &notify(N_NAT_SRC, &[5; 20])));
        c.extend(payload(P_VENDOR, &notify(N_FRAG, &[])));
        c.extend(payload(0, &[1]));
        let m = init(P_SA, &c);
        let s = scan_init(&m).unwrap();
        assert_eq!(s.sa, Some((32, 35)));
        assert_eq!(s.ke, Some((39, 45)));
        assert_eq!(s.nonce, Some((49, 65)));
        assert_eq!(s.nat_src, vec![(73, 93)]);
        assert!(s.fragmentation && !s.certreq && !s.redirect_supported);
    }

    #[test]
    fn uncommon_requests_refused() {
        let good = {
            let mut c = payload(P_KE, &[1]);
            c.extend(payload(P_NONCE, &[0, 31, 0, 0]));
            c.extend(payload(0, &[7; 16]));
            init(P_SA, &c)
        };
        assert!(scan_init(&good).is_some());
        let mut crit = good.clone();
        crit[IKE_HEADER_LEN + 1] = 0x80;
        assert!(scan_init(&crit).is_none());
        let mut extra = good.clone();
        extra.push(0);
        assert!(scan_init(&extra).is_none());
        assert!(scan_init(&good[..good.len() - 1]).is_none());
        let mut unknown = good.clone();
        unknown[16] = 99;
        assert!(scan_init(&unknown).is_none());
    }

    #[test]
    fn split_checks_framing() {
        let mut c = payload(P_NOTIFY, &[1, 2]);
        c.extend(payload(0, &[0, 0, 0, 0]));
        assert_eq!(
            split(&c, 0, P_SA).unwrap(),
            vec![(P_SA, 4, 6), (P_NOTIFY, 10, 14)]
        );
        assert!(split(&c[..c.len() - 1], 0, P_SA).is_none());
        assert!(split(&c, 0, 0).is_none()); // chain empty but octets left
        assert!(split(&c, 100, P_SA).is_none());
    }

    #[test]
    fn no_panic_on_any_prefix_or_mutation() {
        let mut c = payload(P_KE, &[1, 2, 3]);
        c.extend(payload(P_NONCE, &[0, 31, 0, 0, 9, 9]));
        c.extend(payload(0, &notify(N_SIG_HASHES, &[0, 2])));
        let m = init(P_SA, &c);
        for cut in 0..m.len() {
            let _ = scan_init(&m[..cut]);
            let _ = split(&m[..cut], IKE_HEADER_LEN, P_SA);
        }
        for i in 0..m.len() {
            for v in [0u8, 1, 3, 4, 0x7F, 0xFF] {
                let mut x = m.clone();
                x[i] = v;
                let _ = scan_init(&x);
                let _ = split(&x, IKE_HEADER_LEN, x[16]);
            }
        }
    }
}
