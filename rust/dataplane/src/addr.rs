//! One-pass parser for IPv6 text in its pure hexadecimal forms (RFC 4291 §2.2 forms 1 and 2:
//! eight 1–4 digit groups, or fewer with one `::`). Used on the Python lookup path where a
//! caller hands the address as `str`. Anything else (embedded IPv4 per form 3, zone index,
//! IPv4 text, malformed input) returns `None`, so the caller falls back to the standard
//! library parser, which gives the same answer for every string this one accepts.

use std::net::Ipv6Addr;

/// Hex digit value by octet; 0xff for every other octet.
const HEX: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

#[inline]
fn hex(c: u8) -> Option<u16> {
    match HEX[usize::from(c)] {
        0xff => None,
        d => Some(u16::from(d)),
    }
}

/// Parse pure-hex IPv6 text; `None` when the text is not in that form (see the module doc).
#[must_use]
pub fn parse_v6_hex(s: &[u8]) -> Option<Ipv6Addr> {
    if s.len() < 2 || s.len() > 39 {
        return None;
    }
    let mut head = [0u16; 8];
    let mut tail = [0u16; 8];
    let (mut nh, mut nt) = (0usize, 0usize);
    let mut gap = false;
    let mut i = 0;
    if s.starts_with(b"::") {
        if s.len() == 2 {
            return Some(Ipv6Addr::UNSPECIFIED);
        }
        gap = true;
        i = 2;
    }
    loop {
        let start = i;
        let mut v = 0u16;
        while i < s.len() && i - start < 4 {
            let Some(d) = hex(s[i]) else { break };
            v = (v << 4) | d;
            i += 1;
        }
        if i == start || (i < s.len() && hex(s[i]).is_some()) {
            return None; // empty group or more than four digits
        }
        if nh + nt == 8 {
            return None;
        }
        if gap {
            tail[nt] = v;
            nt += 1;
        } else {
            head[nh] = v;
            nh += 1;
        }
        if i == s.len() {
            break;
        }
        if s[i] != b':' {
            return None; // '.', '%' or another character: not this form
        }
        i += 1;
        if i == s.len() {
            return None; // a single trailing ':'
        }
        if s[i] == b':' {
            if gap {
                return None; // a second "::"
            }
            gap = true;
            i += 1;
            if i == s.len() {
                break;
            }
        }
    }
    // "::" stands for at least one group of zeros.
    if (gap && nh + nt > 7) || (!gap && nh != 8) {
        return None;
    }
    let mut g = [0u16; 8];
    g[..nh].copy_from_slice(&head[..nh]);
    g[8 - nt..].copy_from_slice(&tail[..nt]);
    Some(Ipv6Addr::from(g))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every accepted string parses to what the standard library parses it to, and every
    /// string the standard library rejects is rejected here.
    fn agrees(s: &str) {
        let ours = parse_v6_hex(s.as_bytes());
        let std = s.parse::<Ipv6Addr>().ok();
        if ours.is_some() {
            assert_eq!(ours, std, "{s:?}");
        } else if std.is_some() {
            // Declined forms must be ones the fast path leaves to std on purpose.
            assert!(s.contains('.'), "declined a pure-hex form: {s:?}");
        }
    }

    #[test]
    fn matches_std_on_forms_and_errors() {
        for s in [
            "::",
            "::1",
            "1::",
            "2001:db8::1000",
            "2001:db8:0:7::1000",
            "2001:DB8:0:0:0:0:0:1",
            "1:2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7::",
            "::2:3:4:5:6:7:8",
            "1:2:3::6:7:8",
            "1:2:3:4:5:6:7:8::",
            "::1:2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7",
            "1:2:3:4:5:6:7:8:9",
            "1::2::3",
            ":::",
            ":1",
            "1:",
            "1:::2",
            "12345::",
            "0000:0000::ffff",
            "g::1",
            "::ffff:1.2.3.4",
            "fe80::1%eth0",
            "10.0.0.1",
            "",
            ":",
            "1:2:3:4:5:6:7:8:",
            "::1:",
        ] {
            agrees(s);
        }
    }

    /// Random strings over the address alphabet, and every address printed by std (which
    /// also uses `::` compression): both agree.
    #[test]
    fn matches_std_on_random_text() {
        let alphabet = b"0123456789abcdefABCDEF:::::.g";
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..200_000 {
            let len = (next() % 40) as usize;
            let s: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize] as char)
                .collect();
            agrees(&s);
            let mut a = next().to_be_bytes().to_vec();
            a.extend(next().to_be_bytes());
            for byte in &mut a {
                if next() % 3 == 0 {
                    *byte = 0; // runs of zero groups, so `::` appears
                }
            }
            let addr = Ipv6Addr::from(<[u8; 16]>::try_from(a).unwrap_or([0; 16]));
            let text = addr.to_string();
            if !text.contains('.') {
                assert_eq!(parse_v6_hex(text.as_bytes()), Some(addr), "{text}");
            }
        }
    }
}
